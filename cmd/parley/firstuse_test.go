package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"syscall"
	"testing"

	"github.com/parleyhq/parley/plugins/webhook/webhooktest"
)

// TestVersion: `parley version` and `parley --version` print the version,
// the commit and the Go version from the build information.
func TestVersion(t *testing.T) {
	old := readBuildInfo
	t.Cleanup(func() { readBuildInfo = old })
	readBuildInfo = func() (*debug.BuildInfo, bool) {
		return &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Path: "github.com/parleyhq/parley", Version: "v1.2.3"},
			Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: "0123456789abcdef0123"}, {Key: "vcs.time", Value: "2026-12-01T08:00:00Z"}, {Key: "vcs.modified", Value: "true"}}}, true
	}
	want := "parley v1.2.3, commit 0123456789ab of 2026-12-01T08:00:00Z with uncommitted changes, go1.26.8 " + runtime.GOOS + "/" + runtime.GOARCH + "\n"
	for _, args := range [][]string{{"version"}, {"--version"}} {
		code, out, errOut := runCLI(t, args...)
		if code != 0 || out != want {
			t.Errorf("parley %s: exit %d, out %q, stderr %q; want %q", args[0], code, out, errOut, want)
		}
	}
	// Without VCS information (go run, go test) it says so, and keeps the Go version.
	readBuildInfo = func() (*debug.BuildInfo, bool) {
		return &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "(devel)"}}, true
	}
	code, out, _ := runCLI(t, "--version")
	if code != 0 || !strings.HasPrefix(out, "parley dev, commit unknown") || !strings.Contains(out, "go1.26.8") {
		t.Errorf("without VCS: exit %d, %q", code, out)
	}
}

// TestValidateExitCodesAndFiles: a path that does not exist is exit 2 (like
// other usage errors), a single file is validated, and --format json counts
// the files of a directory whose files do not load.
func TestValidateExitCodesAndFiles(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "MISSING")
	code, out, errOut := runCLI(t, "validate", missing)
	if code != 2 || !strings.Contains(errOut, "no such file or directory") || out != "" {
		t.Errorf("missing: exit %d, out %q, stderr %q", code, out, errOut)
	}
	code, out, _ = runCLI(t, "validate", "--format", "json", missing)
	if code != 2 || !strings.Contains(out, `"valid": false`) || !strings.Contains(out, `"code": "io"`) {
		t.Errorf("missing, json: exit %d, %s", code, out)
	}

	file := filepath.Join("..", "..", "scenarios", "greeter", "greeter.cue")
	code, out, errOut = runCLI(t, "validate", file)
	if code != 0 || !strings.Contains(out, "valid: 1 scenario in 1 file") {
		t.Errorf("a file: exit %d, out %q, stderr %q", code, out, errOut)
	}
	broken := filepath.Join(t.TempDir(), "broken.yaml")
	if err := os.WriteFile(broken, []byte("scenarios:\n  x:\n    activ: true\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, _ = runCLI(t, "validate", broken)
	if code != 1 || !strings.Contains(out, filepath.ToSlash(broken)+":3:5: schema.field_not_allowed") {
		t.Errorf("a broken file: exit %d, out %q", code, out)
	}
	code, _, errOut = runCLI(t, "validate", filepath.Join("..", "..", "README.md"))
	if code != 2 || !strings.Contains(errOut, "not a scenario file") {
		t.Errorf("not a scenario file: exit %d, stderr %q", code, errOut)
	}

	var r validateReport
	code, out, _ = runCLI(t, "validate", "--format", "json", filepath.Dir(broken))
	if err := json.Unmarshal([]byte(out), &r); err != nil || code != 1 || r.Files != 1 || r.Valid {
		t.Errorf("a directory with one broken file: exit %d, %+v (%v)", code, r, err)
	}
	syntax := filepath.Join("..", "..", "dsl", "testdata", "broken", "yaml_syntax")
	code, out, _ = runCLI(t, "validate", "--format", "json", syntax)
	if err := json.Unmarshal([]byte(out), &r); err != nil || code != 1 || r.Files != 1 {
		t.Errorf("a directory with a syntax error: exit %d, %+v (%v)", code, r, err)
	}
}

// TestVerbsAgreeOnTheDefaultDirectory: chat, validate and serve read
// ./scenarios without an argument, and a missing directory is exit 2 for all.
func TestVerbsAgreeOnTheDefaultDirectory(t *testing.T) {
	dir := t.TempDir()
	wd, _ := os.Getwd()
	t.Cleanup(func() { os.Chdir(wd) })
	if err := os.Chdir(dir); err != nil {
		t.Fatal(err)
	}
	// A stray file in the current directory that chat used to load.
	if err := os.WriteFile("broken.cue", []byte("scenarios: x: bogus: 1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, verb := range [][]string{{"chat", "--watch=false"}, {"validate"}, {"serve", "--addr", "127.0.0.1:0"}} {
		code, out, errOut := runCLI(t, verb...)
		if code != 2 || !strings.Contains(errOut, "scenarios: no such file or directory") {
			t.Errorf("%s without ./scenarios: exit %d, out %q, stderr %q", verb[0], code, out, errOut)
		}
	}
	copyDir(t, filepath.Join(wd, "..", "..", "scenarios", "booking"), filepath.Join(dir, "scenarios", "booking"))
	code, out, errOut := runCLI(t, "chat", "--watch=false")
	if code != 0 || !strings.Contains(out, "book you a table") {
		t.Errorf("chat with ./scenarios: exit %d, out %q, stderr %q", code, out, errOut)
	}
}

// TestChatShowsTheCauseOfAFailedAction: when the greeter's webhook is
// refused (a loopback address without development mode), chat prints the
// cause and how to allow it, not only the scenario's apology.
func TestChatShowsTheCauseOfAFailedAction(t *testing.T) {
	svc := webhooktest.NewServer(t, webhooktest.OpenDialog(webhooktest.FullName))
	t.Setenv("GREETER_WEBHOOK_URL", svc.URL+"/full_name")
	t.Setenv("PARLEY_DEV", "")
	script := "/set user.first_name John\n/set user.last_name Smith\n/click ok\n"
	code, out, errOut := chat(t, script, "--watch=false", filepath.Join("..", "..", "scenarios", "greeter"))
	if code != 0 || !strings.Contains(out, "Sorry, I could not look you up.") {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	if !strings.Contains(errOut, "action full_name failed: ") || !strings.Contains(errOut, "loopback") || !strings.Contains(errOut, "PARLEY_DEV=1") {
		t.Errorf("stderr lacks the cause:\n%s", errOut)
	}
	if strings.Count(errOut, "action full_name failed") != 1 {
		t.Errorf("want one line for the failure:\n%s", errOut)
	}
	// In development mode the call succeeds, and chat says it is in development mode.
	t.Setenv("PARLEY_DEV", "1")
	code, out, errOut = chat(t, script, "--watch=false", filepath.Join("..", "..", "scenarios", "greeter"))
	if code != 0 || !strings.Contains(out, "Hello John Smith!") || strings.Contains(errOut, "failed") || !strings.Contains(errOut, "development mode (PARLEY_DEV=1)") {
		t.Errorf("dev mode: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
}

// TestServeDevModeFromTheEnvironment: PARLEY_DEV=1 is development mode, and
// serve says so, in its output and its log.
func TestServeDevModeFromTheEnvironment(t *testing.T) {
	t.Setenv("PARLEY_DEV", "1")
	t.Setenv("GREETER_WEBHOOK_URL", "http://127.0.0.1:1/full_name")
	var out, errOut serveOutput
	done := make(chan int, 1)
	go func() {
		done <- run([]string{"serve", "../../scenarios/greeter", "--addr", "127.0.0.1:0", "--watch=false"}, streams{in: strings.NewReader(""), out: &out, err: &errOut})
	}()
	serveBase(t, &out, &errOut, done)
	syscall.Kill(os.Getpid(), syscall.SIGTERM)
	if code := <-done; code != 0 {
		t.Fatalf("exit %d", code)
	}
	if !strings.Contains(out.String(), "development mode (PARLEY_DEV=1)") || !strings.Contains(errOut.String(), "dev=true") {
		t.Errorf("stdout:\n%s\nstderr:\n%s", out.String(), errOut.String())
	}
}
