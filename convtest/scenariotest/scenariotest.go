// Package scenariotest runs Parley's conversation tests from `go test`:
// each test of the files found under the given paths becomes a parallel
// subtest, run by package convtest on the real engine, exactly as
// `parley test` runs it.
//
//	func TestConversations(t *testing.T) {
//		scenariotest.Run(t, convtest.Options{Env: env}, "scenarios")
//	}
package scenariotest

import (
	"context"
	"errors"
	"testing"

	"github.com/parleyhq/parley/convtest"
	"github.com/parleyhq/parley/diag"
)

// Run loads the tests under paths and runs each as a subtest of t named
// after its file and name (so `go test -run 'Conversations/greeter'`
// selects). Invalid test or scenario files fail t with every diagnostic.
// Options.Run is ignored: go test's -run selects.
func Run(t *testing.T, opts convtest.Options, paths ...string) {
	t.Helper()
	if len(paths) == 0 {
		paths = []string{"scenarios"}
	}
	opts.Run = nil
	suite, err := convtest.Load(paths, opts)
	if err != nil {
		var list diag.List
		if errors.As(err, &list) {
			for _, d := range list {
				t.Error(d)
			}
			t.FailNow()
		}
		t.Fatal(err)
	}
	t.Cleanup(func() { suite.Close() })
	for _, test := range suite.Tests() {
		t.Run(test.File+"/"+test.Name, func(t *testing.T) {
			t.Parallel()
			r := convtest.RunTest(context.Background(), test)
			if !r.Passed {
				t.Error("\n" + convtest.FormatResult(r))
			}
		})
	}
}
