package main

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
)

func TestValidateLintWarningsAndStrict(t *testing.T) {
	dir := t.TempDir()
	copyDir(t, "../../scenarios", dir)
	greeter := filepath.Join(dir, "greeter", "greeter.cue")
	edit(t, greeter, "Sorry, I could not look you up.", "Sorry {{ user.frist_name }}, I could not look you up.")
	want := at(t, greeter, "Sorry {{ user.frist_name }}", "user.frist") +
		": lint.unknown_attribute: user.frist_name is read but no scenario declares it, no action outputs it and no interpreter sets it (did you mean user.first_name?)"

	code, out, errOut := runCLI(t, "validate", dir)
	if code != 0 {
		t.Fatalf("a lint is a warning: exit %d\n%s%s", code, out, errOut)
	}
	if !strings.Contains(out, want+"\n") || !strings.Contains(out, ": valid: 3 scenarios") {
		t.Errorf("stdout:\n%s\nwant the lint %s and the valid line", out, want)
	}
	if !strings.Contains(errOut, "1 lint warning (--strict makes them errors)") {
		t.Errorf("stderr: %s", errOut)
	}

	code, out, errOut = runCLI(t, "validate", "--strict", dir)
	if code != 1 || out != want+"\n" || !strings.Contains(errOut, "1 problem") {
		t.Errorf("--strict: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}

	code, out, _ = runCLI(t, "validate", "--strict", "--format", "json", dir)
	var r struct {
		Valid    bool `json:"valid"`
		Warnings []struct {
			Code string `json:"code"`
			Line int    `json:"line"`
		} `json:"warnings"`
	}
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("json: %v\n%s", err, out)
	}
	if code != 1 || r.Valid || len(r.Warnings) != 1 || r.Warnings[0].Code != "lint.unknown_attribute" {
		t.Errorf("--strict --format json: exit %d, %+v", code, r)
	}

	// Silenced at its place, the configuration passes --strict.
	edit(t, greeter, "\t\t\t\t\t{id: \"sorry\"", "\t\t\t\t\t// parley:ignore lint.unknown_attribute: renamed in the next release\n\t\t\t\t\t{id: \"sorry\"")
	if code, out, errOut := runCLI(t, "validate", "--strict", dir); code != 0 {
		t.Errorf("silenced: exit %d\n%s%s", code, out, errOut)
	}
}

func TestValidateExamplesStrict(t *testing.T) {
	if code, out, errOut := runCLI(t, "validate", "--strict", "../../scenarios"); code != 0 || errOut != "" {
		t.Fatalf("examples under --strict: exit %d\n%s%s", code, out, errOut)
	}
}
