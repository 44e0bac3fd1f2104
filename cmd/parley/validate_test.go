package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// runCLI runs the command line in process and returns its exit code and output.
func runCLI(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = run(args, streams{in: strings.NewReader(""), out: &out, err: &errOut})
	return code, out.String(), errOut.String()
}

// copyDir copies the files under src to dst.
func copyDir(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(target, b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// at returns "file:line:col" of marker on the line of path that contains text
// (columns count bytes, so a tab is one column, as in CUE and YAML positions).
func at(t *testing.T, path, text, marker string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for i, line := range strings.Split(string(b), "\n") {
		if j := strings.Index(line, text); j >= 0 {
			return fmt.Sprintf("%s:%d:%d", filepath.ToSlash(path), i+1, j+strings.Index(text, marker)+1)
		}
	}
	t.Fatalf("%s does not contain %q", path, text)
	return ""
}

// edit replaces old by new in the file at path, which must contain old once.
func edit(t *testing.T, path, old, new string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Count(string(b), old) != 1 {
		t.Fatalf("%s holds %q %d times, want once", path, old, strings.Count(string(b), old))
	}
	if err := os.WriteFile(path, []byte(strings.Replace(string(b), old, new, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestValidateExamples(t *testing.T) {
	code, out, errOut := runCLI(t, "validate", "../../scenarios")
	if code != 0 {
		t.Fatalf("exit %d\n%s%s", code, out, errOut)
	}
	if !regexp.MustCompile(`^\.\./\.\./scenarios: valid: 3 scenarios in 3 files \(version [0-9a-f]{16}\)\n$`).MatchString(out) {
		t.Errorf("unexpected output %q", out)
	}
}

// TestValidateBrokenCopy is the must-show: a copy of the examples with a
// misspelled field, a type error in an expression, an unknown action and a
// bad transition target exits 1 and names each problem at its file, line and column.
func TestValidateBrokenCopy(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "scenarios")
	copyDir(t, "../../scenarios", dir)
	greeter := filepath.Join(dir, "greeter", "greeter.cue")
	booking := filepath.Join(dir, "booking", "booking.cue")
	orders := filepath.Join(dir, "order_status", "order_status.yaml")
	// A misspelled field.
	edit(t, greeter, "\t\t\t\tvalid_origins: [\"welcome_response\"]", "\t\t\t\tvalid_origin: [\"welcome_response\"]")
	// An unknown action.
	edit(t, greeter, `use: "full_name"`, `use: "fullname"`)
	// A type error in an expression: a string attribute compared with a number (in YAML).
	edit(t, orders, `- user.order_status == "shipped"`, `- user.order_status > 5`)
	// A bad transition target.
	edit(t, booking, "\t\t\t\t\t\t\tmessage: {\n\t\t\t\t\t\t\t\ttext: \"A table for {{ session.party_size }} at {{ session.time }}. Shall I book it?\"\n\t\t\t\t\t\t\t\tbuttons: [{text: \"Yes\", callback: \"confirm\"}, {text: \"No\", callback: \"cancel\"}]\n\t\t\t\t\t\t\t}\n\t\t\t\t\t\t\ttransition: scene: \"confirm\"\n\t\t\t\t\t\t},\n\t\t\t\t\t\t{\n\t\t\t\t\t\t\tid: \"ask_time\"",
		"\t\t\t\t\t\t\tmessage: {\n\t\t\t\t\t\t\t\ttext: \"A table for {{ session.party_size }} at {{ session.time }}. Shall I book it?\"\n\t\t\t\t\t\t\t\tbuttons: [{text: \"Yes\", callback: \"confirm\"}, {text: \"No\", callback: \"cancel\"}]\n\t\t\t\t\t\t\t}\n\t\t\t\t\t\t\ttransition: scene: \"confirmation\"\n\t\t\t\t\t\t},\n\t\t\t\t\t\t{\n\t\t\t\t\t\t\tid: \"ask_time\"")

	code, out, errOut := runCLI(t, "validate", dir)
	if code != 1 {
		t.Fatalf("exit %d, want 1\n%s%s", code, out, errOut)
	}
	// The expected positions are found in the edited files independently of the loader.
	want := []string{
		at(t, booking, `transition: scene: "confirmation"`, "scene") + `: ref.unknown_target: transition to scene "confirmation", which conversation "booking" does not declare`,
		at(t, greeter, `valid_origin: [`, "valid_origin") + `: schema.field_not_allowed: field "valid_origin" not allowed in scenarios.greeter.conversations.welcome.scenes.main.turns.greet (did you mean "valid_origins"?)`,
		at(t, greeter, `use: "fullname"`, "use") + `: ref.unknown_action: action "fullname" is not declared in scenario "greeter" (declared: full_name)`,
		at(t, orders, `- user.order_status > 5`, ">") + `: expr.type: invalid operation: > (mismatched types string and int)`,
	}
	got := strings.Split(strings.TrimSpace(out), "\n")
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("diagnostics:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if !strings.Contains(errOut, "4 problems") {
		t.Errorf("stderr %q does not count the problems", errOut)
	}

	// The same as JSON.
	code, out, _ = runCLI(t, "validate", dir, "--format", "json")
	if code != 1 {
		t.Fatalf("json: exit %d", code)
	}
	var r struct {
		Valid       bool `json:"valid"`
		Diagnostics []struct {
			File      string `json:"file"`
			Line, Col int
			Code      string `json:"code"`
		} `json:"diagnostics"`
	}
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("json output: %v\n%s", err, out)
	}
	if r.Valid || len(r.Diagnostics) != 4 || r.Diagnostics[1].Code != "schema.field_not_allowed" || want[1] != fmt.Sprintf("%s:%d:%d: %s: ", r.Diagnostics[1].File, r.Diagnostics[1].Line, r.Diagnostics[1].Col, r.Diagnostics[1].Code)+want[1][strings.Index(want[1], "field \""):] {
		t.Errorf("json report: %+v", r)
	}
}

func TestValidateDefaultDirAndErrors(t *testing.T) {
	dir := t.TempDir()
	wd, _ := os.Getwd()
	t.Cleanup(func() { os.Chdir(wd) })
	if err := os.Chdir(dir); err != nil {
		t.Fatal(err)
	}
	// No ./scenarios directory: exit 2, as for other errors that are not invalid scenarios.
	code, out, errOut := runCLI(t, "validate")
	if code != 2 || out != "" || !strings.Contains(errOut, "scenarios: no such file or directory") {
		t.Errorf("exit %d, out %q, stderr %q", code, out, errOut)
	}
	code, _, errOut = runCLI(t, "validate", "--format", "xml")
	if code != 2 || !strings.Contains(errOut, `unknown --format "xml"`) {
		t.Errorf("exit %d, stderr %q", code, errOut)
	}
	// An empty directory is a valid, empty configuration.
	if err := os.Mkdir("scenarios", 0o755); err != nil {
		t.Fatal(err)
	}
	code, out, _ = runCLI(t, "validate")
	if code != 0 || !strings.HasPrefix(out, "scenarios: valid: 0 scenarios in 0 files") {
		t.Errorf("exit %d, out %q", code, out)
	}
}
