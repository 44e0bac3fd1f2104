package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestFmtCheckListWrite(t *testing.T) {
	dir := t.TempDir()
	copyDir(t, "../../scenarios", dir)
	messy := filepath.Join(dir, "order_status", "order_status.yaml")
	src, err := os.ReadFile(messy)
	if err != nil {
		t.Fatal(err)
	}
	// A quoted key and padded flow lists: not formatted.
	bad := strings.Replace(string(src), "\n      order_id: string", "\n      \"order_id\": string", 1)
	bad = strings.ReplaceAll(bad, "behaviors: [starting]", "behaviors: [ starting ]")
	if bad == string(src) {
		t.Fatal("the edits did nothing")
	}
	if err := os.WriteFile(messy, []byte(bad), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(messy, 0o600); err != nil {
		t.Fatal(err)
	}
	// A CUE file with its fields out of alignment.
	greeter := filepath.Join(dir, "greeter", "greeter.cue")
	edit(t, greeter, "\tactive:      true", "\tactive:      true  ")
	edit(t, greeter, `use: "full_name"`, `use:      "full_name"`)
	want := filepath.ToSlash(greeter) + "\n" + filepath.ToSlash(messy) + "\n"

	code, out, errOut := runCLI(t, "fmt", "--check", dir)
	if code != 1 || filepath.ToSlash(out) != want || !strings.Contains(errOut, "2 files are not formatted") {
		t.Errorf("--check: exit %d\n%s%s\nwant:\n%s", code, out, errOut, want)
	}
	if code, out, _ := runCLI(t, "fmt", "-l", dir); code != 0 || filepath.ToSlash(out) != want {
		t.Errorf("-l: exit %d\n%s", code, out)
	}
	// Without flags the formatted files are printed and nothing is written.
	code, out, _ = runCLI(t, "fmt", messy)
	if code != 0 || out != string(src) {
		t.Errorf("printing: exit %d\n%s", code, out)
	}
	if b, _ := os.ReadFile(messy); string(b) != bad {
		t.Error("printing wrote the file")
	}
	if code, out, errOut := runCLI(t, "fmt", "-w", dir); code != 0 || out != "" {
		t.Errorf("-w: exit %d\n%s%s", code, out, errOut)
	}
	if b, _ := os.ReadFile(messy); string(b) != string(src) {
		t.Errorf("-w wrote:\n%s\nwant the original:\n%s", b, src)
	}
	if b, _ := os.ReadFile(greeter); !strings.Contains(string(b), "\tactive:      true\n") || !strings.Contains(string(b), `use: "full_name"`) {
		t.Errorf("-w wrote:\n%s", b)
	}
	if st, _ := os.Stat(messy); st.Mode().Perm() != 0o600 {
		t.Errorf("-w changed the mode to %v", st.Mode().Perm())
	}
	if code, out, errOut := runCLI(t, "fmt", "--check", dir); code != 0 || out != "" {
		t.Errorf("--check after -w: exit %d\n%s%s", code, out, errOut)
	}
	// The configuration is the same after formatting.
	if code, out, _ := runCLI(t, "diff", "--exit-code", "../../scenarios", dir); code != 0 {
		t.Errorf("formatting changed the configuration:\n%s", out)
	}
}

func TestFmtBadFileIsLeftAlone(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	src := "scenarios:\n  a: [unclosed\n"
	if err := os.WriteFile(bad, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	code, _, errOut := runCLI(t, "fmt", "-w", dir)
	if code != 2 || !strings.Contains(errOut, "bad.yaml") {
		t.Errorf("exit %d: %s", code, errOut)
	}
	if b, _ := os.ReadFile(bad); string(b) != src {
		t.Error("a file that does not parse was rewritten")
	}
	if code, _, errOut := runCLI(t, "fmt", filepath.Join(dir, "missing")); code != 2 || !strings.Contains(errOut, "missing") {
		t.Errorf("a missing path: exit %d: %s", code, errOut)
	}
}
