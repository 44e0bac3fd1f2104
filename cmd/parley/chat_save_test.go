package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestChatSaveRoundTrip clicks through the greeter once in `parley chat`,
// saves it with /save, and runs the saved test with `parley test`: it passes,
// with the Go action's answers replayed as mocks.
func TestChatSaveRoundTrip(t *testing.T) {
	withGoActions(t)
	for _, name := range []string{"walkthrough_test.cue", "walkthrough_test.yaml"} {
		t.Run(name, func(t *testing.T) {
			dir := writeScenario(t, chatGreeter)
			file := filepath.Join(dir, name)
			// The first click fails (no last name yet), the second succeeds.
			script := "/set user.first_name John\n/click ok\n/set last_name Smith\nhello\n/restart\n/click ok\n/save " + file + "\n"
			code, out, errOut := chat(t, script, "--watch=false", dir)
			if code != 0 || !strings.Contains(out, "saved 5 steps as a test in "+file) {
				t.Fatalf("chat: exit %d\n%s%s", code, out, errOut)
			}
			saved, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			for _, want := range []string{"first_name", "Sorry, I could not look you up.", "Hello John Smith!", "first_name and last_name are required", "John Smith", "intent.core.restart"} {
				if !strings.Contains(string(saved), want) {
					t.Errorf("the saved test lacks %q:\n%s", want, saved)
				}
			}
			code, out, errOut = runCLI(t, "test", dir, "-v")
			if code != 0 || !strings.Contains(out, "ok: 1 tests passed") {
				t.Fatalf("the saved test does not pass: exit %d\n%s%s\nsaved:\n%s", code, out, errOut, saved)
			}
			// /save never overwrites.
			code, _, errOut = chat(t, "/save "+file+"\n", "--watch=false", dir)
			if code != 1 || !strings.Contains(errOut, "file exists") {
				t.Errorf("second save: exit %d %s", code, errOut)
			}
			if code, _, errOut := chat(t, "/save "+filepath.Join(dir, "notatest.cue")+"\n", "--watch=false", dir); code != 1 || !strings.Contains(errOut, "not a test file name") {
				t.Errorf("bad name: exit %d %s", code, errOut)
			}
		})
	}
}

// TestChatSaveFormAndLongText records a form submission and a long text
// answer in the booking example and replays them.
func TestChatSaveFormAndLongText(t *testing.T) {
	dir := t.TempDir()
	copyDir(t, "../../scenarios/booking", dir)
	for _, f := range []string{"booking_test.cue"} {
		os.Remove(filepath.Join(dir, f))
	}
	file := filepath.Join(dir, "form_test.cue")
	script := "use a form\n/form form_booking party_size=3 when=8pm\n/click confirm\n/restart\nspecial request\n/longtext No nuts\n/save " + file + "\n"
	if code, out, errOut := chat(t, script, "--watch=false", dir); code != 0 || !strings.Contains(out, "Noted: No nuts.") {
		t.Fatalf("chat: exit %d\n%s%s", code, out, errOut)
	}
	saved, _ := os.ReadFile(file)
	for _, want := range []string{`form: {`, `party_size: "3"`, `callback: "form_booking"`, `long_text: "No nuts"`} {
		if !strings.Contains(string(saved), want) {
			t.Errorf("the saved test lacks %q:\n%s", want, saved)
		}
	}
	if code, out, errOut := runCLI(t, "test", dir); code != 0 {
		t.Fatalf("the saved test does not pass: exit %d\n%s%s\nsaved:\n%s", code, out, errOut, saved)
	}
}
