package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestInitValidates(t *testing.T) {
	for _, format := range []string{"cue", "yaml"} {
		t.Run(format, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "hello_bot")
			code, out, errOut := runCLI(t, "init", dir, "--format", format)
			if code != 0 {
				t.Fatalf("exit %d: %s%s", code, out, errOut)
			}
			if errOut != "" {
				t.Errorf("stderr: %s", errOut)
			}
			file := filepath.Join(dir, "hello_bot."+format)
			if !strings.Contains(out, "wrote "+file) {
				t.Errorf("output %q does not name %s", out, file)
			}
			b, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			for _, want := range []string{"intent.core.welcome", "OK", "hello_bot"} {
				if !strings.Contains(string(b), want) {
					t.Errorf("%s lacks %q", file, want)
				}
			}
			code, out, errOut = runCLI(t, "validate", dir)
			if code != 0 || !strings.Contains(out, "valid: 1 scenario in 1 file") {
				t.Fatalf("validate: exit %d\n%s%s", code, out, errOut)
			}
			// A second init refuses to overwrite and leaves the file alone.
			if err := os.WriteFile(file, []byte("# mine\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			code, _, errOut = runCLI(t, "init", dir, "--format", format)
			if code == 0 || !strings.Contains(errOut, "already exists") {
				t.Errorf("second init: exit %d, stderr %q", code, errOut)
			}
			if b, _ := os.ReadFile(file); string(b) != "# mine\n" {
				t.Errorf("init overwrote %s", file)
			}
		})
	}
}

func TestInitNames(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "my-bot")
	code, _, errOut := runCLI(t, "init", dir)
	if code == 0 || !strings.Contains(errOut, `scenario name "my-bot"`) {
		t.Errorf("exit %d, stderr %q", code, errOut)
	}
	code, out, errOut := runCLI(t, "init", dir, "--name", "support")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if !strings.Contains(out, filepath.Join(dir, "support.cue")) {
		t.Errorf("output %q", out)
	}
	code, _, errOut = runCLI(t, "init", dir, "--name", "other", "--format", "json")
	if code == 0 || !strings.Contains(errOut, `unknown --format "json"`) {
		t.Errorf("exit %d, stderr %q", code, errOut)
	}
	// Problems already in the directory are reported at once, as a warning.
	other := t.TempDir()
	if err := os.WriteFile(filepath.Join(other, "broken.cue"), []byte("scenarios: x: actve: true\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, _, errOut = runCLI(t, "init", other, "--name", "fresh")
	if code != 0 || !strings.Contains(errOut, "does not validate yet") || !strings.Contains(errOut, `field "actve" not allowed`) {
		t.Errorf("exit %d, stderr %q", code, errOut)
	}
}
