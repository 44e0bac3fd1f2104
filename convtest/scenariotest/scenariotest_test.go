package scenariotest_test

import (
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/parleyhq/parley/convtest"
	"github.com/parleyhq/parley/convtest/scenariotest"
	_ "github.com/parleyhq/parley/plugins/all"
)

// TestExamples runs the conversation tests of the example scenarios.
func TestExamples(t *testing.T) {
	scenariotest.Run(t, convtest.Options{}, "../../scenarios")
}

// TestFailingTestFails runs TestHelperFailing in a child process (this test
// binary) and checks that a failing conversation test fails go test with its report.
func TestFailingTestFails(t *testing.T) {
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperFailing$", "-test.v")
	cmd.Env = append(os.Environ(), "SCENARIOTEST_HELPER=1")
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		t.Fatalf("the child passed (err %v):\n%s", err, out)
	}
	for _, want := range []string{
		"--- FAIL: TestHelperFailing/../testdata/expect/expect_test.cue/fail_reply_text",
		"../testdata/expect/expect_test.cue:9:32: step 1 (open): reply[0].text",
		`want: "Which colour?"`,
		"--- PASS: TestHelperFailing/../testdata/expect/expect_test.cue/pass_reply_text",
	} {
		if !strings.Contains(string(out), want) {
			t.Errorf("the child's output lacks %q:\n%s", want, out)
		}
	}
}

// TestHelperFailing is run by TestFailingTestFails only.
func TestHelperFailing(t *testing.T) {
	if os.Getenv("SCENARIOTEST_HELPER") != "1" {
		t.Skip("run by TestFailingTestFails")
	}
	scenariotest.Run(t, convtest.Options{}, "../testdata/expect/expect_test.cue")
}
