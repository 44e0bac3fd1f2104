package dsl

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/parleyhq/parley/diag"
)

var update = flag.Bool("update", false, "rewrite the expected diagnostics of testdata/broken")

// TestBrokenGolden loads every directory of testdata/broken and compares the
// diagnostics, one a line, with the directory's want.diag file. Run
// `go test ./dsl -run TestBrokenGolden -update` to regenerate them.
func TestBrokenGolden(t *testing.T) {
	dirs, err := filepath.Glob("testdata/broken/*")
	if err != nil {
		t.Fatal(err)
	}
	if len(dirs) == 0 {
		t.Fatal("no cases in testdata/broken")
	}
	for _, dir := range dirs {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			cfg, err := Load(os.DirFS(dir), Options{Env: testEnv()})
			if err == nil {
				cfg.Close()
				t.Fatal("loaded without diagnostics")
			}
			var list diag.List
			if !errors.As(err, &list) {
				t.Fatalf("error is %T, not a diag.List: %v", err, err)
			}
			for _, d := range list {
				if d.File == "" || d.Line == 0 || d.Col == 0 || d.Code == "" || d.Message == "" {
					t.Errorf("diagnostic without a full position: %s", d)
				}
			}
			got := list.Error() + "\n"
			wantFile := filepath.Join(dir, "want.diag")
			if *update {
				if err := os.WriteFile(wantFile, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(wantFile)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if got != string(want) {
				t.Errorf("diagnostics differ\n--- got\n%s--- want\n%s", got, want)
			}
		})
	}
}

// TestBrokenGoldenCodes checks that every case reports the code it is about,
// so regenerating the golden files cannot silently lose a diagnostic.
func TestBrokenGoldenCodes(t *testing.T) {
	want := map[string][]string{
		"action_kind":           {diag.CodeActionKind},
		"bad_pattern":           {diag.CodePattern},
		"bad_template":          {diag.CodeTemplate, diag.CodeExprSyntax},
		"bad_transition":        {diag.CodeUnknownTarget},
		"conflict":              {diag.CodeSchemaConflict},
		"cue_syntax":            {diag.CodeSyntax},
		"duplicate_intent":      {diag.CodeDuplicateIntent},
		"expr_syntax":           {diag.CodeExprSyntax},
		"expr_type":             {diag.CodeExprType},
		"expr_type_yaml":        {diag.CodeExprType},
		"missing_id":            {diag.CodeSchemaRequired},
		"misspelled_field":      {diag.CodeFieldNotAllowed},
		"misspelled_field_yaml": {diag.CodeFieldNotAllowed},
		"plugin_config":         {diag.CodeTemplate, diag.CodeExprSyntax, diag.CodeSchemaType, diag.CodePluginConfig},
		"read_only_target":      {diag.CodeReadOnly},
		"unknown_action":        {diag.CodeUnknownAction},
		"unknown_input":         {diag.CodeUnknownInput},
		"unknown_intent":        {diag.CodeUnknownIntent},
		"unknown_interpreter":   {diag.CodeUnknownPlugin},
		"unknown_name":          {diag.CodeExprUnknown},
		"wrong_type":            {diag.CodeSchemaType},
		"wrong_type_yaml":       {diag.CodeSchemaType},
		"yaml_syntax":           {diag.CodeSyntax},
		"yaml_syntax_indent":    {diag.CodeSyntax},
	}
	for name, codes := range want {
		b, err := os.ReadFile(filepath.Join("testdata/broken", name, "want.diag"))
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		for _, c := range codes {
			if !strings.Contains(string(b), ": "+c+": ") {
				t.Errorf("%s: no %s diagnostic in want.diag:\n%s", name, c, b)
			}
		}
	}
}
