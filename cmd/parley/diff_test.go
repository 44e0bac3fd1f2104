package main

import (
	"encoding/json"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

var updateGolden = flag.Bool("update", false, "rewrite the golden files of testdata/")

// gitRun runs git in dir, failing the test on error.
func gitRun(t *testing.T, dir string, args ...string) {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.com",
		"GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@example.com", "GIT_CONFIG_NOSYSTEM=1", "HOME="+dir)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

func needGit(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("git is missing and CI is set")
		}
		t.Skip("git is missing; skipping")
	}
}

// TestDiffGitRevisions diffs revisions of a temporary repository, read with git.
func TestDiffGitRevisions(t *testing.T) {
	needGit(t)
	repo := t.TempDir()
	gitRun(t, repo, "init", "-q", "-b", "main")
	copyDir(t, "../../scenarios", filepath.Join(repo, "scenarios"))
	gitRun(t, repo, "add", "-A")
	gitRun(t, repo, "commit", "-q", "-m", "examples")
	greeter := filepath.Join(repo, "scenarios", "greeter", "greeter.cue")
	edit(t, greeter, `message: text: "Hello {{ user.full_name }}!"`, `message: text: "Welcome back, {{ user.full_name }}!"`)
	gitRun(t, repo, "commit", "-q", "-am", "greeting")
	t.Chdir(repo)

	want := "main~1:scenarios -> main:scenarios: 1 change\nscenario greeter\n  ~ intent welcome/main/greet/response/greeting\n" +
		"      message.text: Hello {{ user.full_name }}! -> Welcome back, {{ user.full_name }}!\n"
	code, out, errOut := runCLI(t, "diff", "main~1", "main")
	if code != 0 || out != want {
		t.Errorf("diff main~1 main: exit %d\n%s%s\nwant:\n%s", code, out, errOut, want)
	}
	if code, _, _ := runCLI(t, "diff", "--exit-code", "main~1", "main"); code != 1 {
		t.Errorf("--exit-code with changes: exit %d, want 1", code)
	}
	// A revision with a path against the working directory.
	code, out, _ = runCLI(t, "diff", "HEAD~1:scenarios", "scenarios")
	if code != 0 || !strings.HasPrefix(out, "HEAD~1:scenarios -> scenarios: 1 change\n") || !strings.Contains(out, "Welcome back") {
		t.Errorf("diff HEAD~1:scenarios scenarios: exit %d\n%s", code, out)
	}
	// A revision without a path reads the other side's directory.
	if code, out, _ := runCLI(t, "diff", "HEAD~1", "scenarios/greeter", "--exit-code"); code != 1 || !strings.HasPrefix(out, "HEAD~1:scenarios/greeter -> scenarios/greeter: 1 change") {
		t.Errorf("diff HEAD~1 scenarios/greeter: exit %d\n%s", code, out)
	}
	// Renaming a file changes nothing.
	gitRun(t, repo, "mv", "scenarios/greeter/greeter.cue", "scenarios/greeter/renamed.cue")
	gitRun(t, repo, "commit", "-q", "-m", "rename")
	code, out, errOut = runCLI(t, "diff", "--exit-code", "HEAD~1", "HEAD")
	if code != 0 || out != "HEAD~1:scenarios -> HEAD:scenarios: no changes\n" {
		t.Errorf("a rename: exit %d\n%s%s", code, out, errOut)
	}
	// Errors exit 2: an unknown revision, a path without scenarios, an invalid side.
	if code, _, errOut := runCLI(t, "diff", "nosuchrev", "HEAD"); code != 2 || !strings.Contains(errOut, `"nosuchrev" is neither a directory nor a git revision`) {
		t.Errorf("an unknown revision: exit %d: %s", code, errOut)
	}
	if code, _, errOut := runCLI(t, "diff", "HEAD:nowhere", "HEAD"); code != 2 || !strings.Contains(errOut, "revision HEAD has no scenario files under nowhere") {
		t.Errorf("a path without scenarios: exit %d: %s", code, errOut)
	}
	edit(t, filepath.Join(repo, "scenarios", "greeter", "renamed.cue"), `use: "full_name"`, `use: "fullname"`)
	code, _, errOut = runCLI(t, "diff", "HEAD", "scenarios")
	if code != 2 || !strings.Contains(errOut, "scenarios/greeter/renamed.cue:") || !strings.Contains(errOut, "ref.unknown_action") {
		t.Errorf("an invalid side: exit %d: %s", code, errOut)
	}
}

// TestDiffMarkdownGolden compares the Markdown of a diff of the examples with
// an edited copy with testdata/diff.md (go test ./cmd/parley -run Golden -update rewrites it).
func TestDiffMarkdownGolden(t *testing.T) {
	dir := t.TempDir()
	copyDir(t, "../../scenarios", filepath.Join(dir, "old"))
	copyDir(t, "../../scenarios", filepath.Join(dir, "new"))
	greeter := filepath.Join(dir, "new", "greeter", "greeter.cue")
	booking := filepath.Join(dir, "new", "booking", "booking.cue")
	orders := filepath.Join(dir, "new", "order_status", "order_status.yaml")
	// A changed message and button, an added intent, a removed one, a changed action.
	edit(t, greeter, `message: {text: "Hi! Press OK.", buttons: [{text: "OK", callback: "ok"}]}`, `message: {text: "Hi! Press OK to continue.", buttons: [{text: "OK", callback: "ok"}]}`)
	edit(t, greeter, `{id: "sorry", message: text: "Sorry, I could not look you up.", behaviors: ["completing"]},`,
		`{id: "sorry_retry", conditions: ["user.first_name != nil"], message: text: "Sorry {{ user.first_name }}, try again later.", behaviors: ["completing"]},
					{id: "sorry", message: text: "Sorry, I could not look you up.", behaviors: ["completing"]},`)
	edit(t, greeter, `timeout: "2s"`, `timeout: "3s"`)
	edit(t, booking, `{id: "cancel", utterances: ["no", "no thanks", "cancel"]},`, `{id: "cancel", utterances: ["no", "no thanks", "cancel", "never mind"]},`)
	edit(t, booking, `						{
							id: "too_many"
							conditions: ["session.party_size != nil && int(session.party_size) > 12"]
							message: text: "For {{ session.party_size }} people please call us on 01632 960 000: we seat at most 12 online."
							behaviors: ["completing"]
						},
`, "")
	edit(t, orders, "order_id: string\n", "order_id: string\n      loyalty_tier: string\n")
	golden, err := filepath.Abs(filepath.Join("testdata", "diff.md"))
	if err != nil {
		t.Fatal(err)
	}
	t.Chdir(dir)
	code, out, errOut := runCLI(t, "diff", "old", "new", "--format", "markdown", "--exit-code")
	if code != 1 {
		t.Fatalf("exit %d, want 1\n%s", code, errOut)
	}
	if *updateGolden {
		if err := os.WriteFile(golden, []byte(out), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (go test ./cmd/parley -run Golden -update writes it)", err)
	}
	if out != string(want) {
		t.Errorf("the Markdown differs from %s (-update rewrites it):\n%s", golden, out)
	}

	// The JSON format holds the same changes.
	_, js, _ := runCLI(t, "diff", "old", "new", "--format", "json")
	var r struct {
		Changes []struct{ Kind, What, Path string } `json:"changes"`
	}
	if err := json.Unmarshal([]byte(js), &r); err != nil {
		t.Fatalf("%v\n%s", err, js)
	}
	if len(r.Changes) != strings.Count(out, "\n- **") {
		t.Errorf("json holds %d changes, markdown %d", len(r.Changes), strings.Count(out, "\n- **"))
	}
}

func TestDiffExitCodesAndFlags(t *testing.T) {
	if code, out, _ := runCLI(t, "diff", "--exit-code", "../../scenarios", "../../scenarios"); code != 0 || !strings.Contains(out, "no changes") {
		t.Errorf("no changes with --exit-code: exit %d\n%s", code, out)
	}
	if code, _, errOut := runCLI(t, "diff", "--format", "yaml", "../../scenarios", "../../scenarios"); code != 2 || !strings.Contains(errOut, `unknown --format "yaml"`) {
		t.Errorf("a bad format: exit %d %s", code, errOut)
	}
	if code, _, _ := runCLI(t, "diff", "../../scenarios"); code != 2 {
		t.Errorf("one argument: exit %d", code)
	}
	code, out, _ := runCLI(t, "diff", "--format", "markdown", "../../scenarios", "../../scenarios")
	if code != 0 || !strings.Contains(out, "No semantic changes") {
		t.Errorf("markdown without changes: exit %d\n%s", code, out)
	}
}

func TestDiffColor(t *testing.T) {
	dir := t.TempDir()
	copyDir(t, "../../scenarios", dir)
	edit(t, filepath.Join(dir, "greeter", "greeter.cue"), "Sorry, I could not look you up.", "Sorry.")
	_, out, _ := runCLI(t, "diff", "--color", "always", "../../scenarios", dir)
	if !strings.Contains(out, "\x1b[33m  ~ intent welcome/main/greet/response/sorry\x1b[0m") {
		t.Errorf("--color always:\n%q", out)
	}
	// Not a terminal: no colour by default.
	if _, out, _ := runCLI(t, "diff", "../../scenarios", dir); strings.Contains(out, "\x1b[") {
		t.Errorf("colour without a terminal:\n%q", out)
	}
}
