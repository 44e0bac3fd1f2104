package dsl

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/parleyhq/parley/diag"
)

// TestYAMLSyntaxPointsAtTheLine: YAML syntax errors the parser reports at an
// enclosing block's line are moved to the line the user must fix, with a
// hint for unquoted templates.
func TestYAMLSyntaxPointsAtTheLine(t *testing.T) {
	for _, tc := range []struct {
		name, src string
		line, col int
		msg       string
	}{
		{"dedent to no level", "scenarios:\n  shop:\n    active: true\n   description: bad indent\n", 4, 4, "matches no enclosing block"},
		{"key under a key with a value", "scenarios:\n  shop:\n    description: x\n      active: true\n", 4, 7, "opens no block"},
		{"unquoted template with text after it", "scenarios:\n  shop:\n    conversations:\n      c:\n        x:\n          text: {{ user.name }}, welcome!\n", 6, 17, `write "{{ user.name }}, welcome!"`},
		{"unquoted template alone", "global:\n  greeting:\n    text: {{ user.name }}\n", 3, 11, `must be quoted in YAML`},
		{"unquoted template in a list", "global:\n  lines:\n    - {{ a }} b\n", 3, 7, `must be quoted in YAML`},
		{"a template in a later block stays unblamed", "global:\n  a: 1\n    b: 2\nother:\n  text: {{ x }}, y\n", 3, 5, "opens no block"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Load(fstest.MapFS{"main.yaml": file(tc.src)}, Options{Env: testEnv()})
			list, ok := err.(diag.List)
			if !ok || len(list) != 1 {
				t.Fatalf("want one diagnostic, got %v", err)
			}
			d := list[0]
			if d.Code != diag.CodeSyntax || d.Line != tc.line || d.Col != tc.col || !strings.Contains(d.Message, tc.msg) {
				t.Errorf("got %s, want main.yaml:%d:%d: syntax: ...%s...", d, tc.line, tc.col, tc.msg)
			}
		})
	}
}

// TestYAMLIndentCheckAcceptsValidYAML: the indentation check finds nothing
// in valid YAML (the examples and the usual block forms), so it never moves
// a diagnostic to a line that is fine.
func TestYAMLIndentCheckAcceptsValidYAML(t *testing.T) {
	files, _ := filepath.Glob("../scenarios/*/*.yaml")
	more, _ := filepath.Glob("../mocks/*.yaml")
	files = append(files, more...)
	srcs := map[string]string{
		"indentless list":      "a:\n- b: 1\n  c: 2\n- d\n",
		"nested lists":         "a:\n  - - x\n    - y\n  - b:\n      c: 1\n",
		"block scalars":        "a: |\n  line one\n    indented more: fine\n  b: not a key\nc: >-\n  folded\nd: 1\n",
		"multi-line flow":      "a: [x,\n  y,\n    z]\nb: {c: 1,\n  d: 2}\ne: 1\n",
		"plain continuation":   "a: a long\n  plain text\nb: 1\n",
		"comments and markers": "---\n# c\na:\n  # deep comment\n      # deeper\n  b: 1 # trailing: colon\n...\n",
		"quoted keys":          "\"a\": 1\n'b':\n  c: \"x: y\"\n",
		"list of maps":         "r:\n  - id: x\n    message:\n      text: \"{{ a }}\"\n  - id: y\n",
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		srcs[f] = string(b)
	}
	if len(files) == 0 {
		t.Fatal("no example YAML files found")
	}
	for name, src := range srcs {
		if line, _, why, ok := yamlIndentProblem(strings.Split(src, "\n"), 1); ok {
			t.Errorf("%s: line %d flagged: %s", name, line, why)
		}
		for i, l := range strings.Split(src, "\n") {
			if unquotedTemplate.MatchString(l) {
				t.Errorf("%s:%d: a quoted template flagged: %s", name, i+1, l)
			}
		}
	}
}
