package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/parleyhq/parley/convtest"
	"github.com/parleyhq/parley/diag"
	"github.com/parleyhq/parley/dsl"
	"github.com/parleyhq/parley/plugins"
	"github.com/parleyhq/parley/reload"
)

// testEnvironment returns the plugins of `parley test`: those of `parley chat`,
// so that a conversation saved there replays here.
var testEnvironment = func() *plugins.Environment { return chatEnvironment() }

// testOptions are the flags of `parley test`.
type testOptions struct {
	run         string
	verbose     bool
	json        bool
	junit       string
	watch       bool
	live        bool
	parallel    int
	coverage    bool
	coverageOut string
	coverageFmt string
	coverageMin float64
}

func newTestCmd(s streams) *cobra.Command {
	o := &testOptions{}
	cmd := &cobra.Command{
		Use:   "test [PATH...]",
		Short: "Run the conversation tests beside the scenarios (default \"scenarios\")",
		Long: `Test finds the conversation test files (*_test.cue, *_test.yaml, *_test.yml) under
each PATH (default "scenarios"), loads the scenarios of each test file's directory,
and runs every test in process, in parallel, on the engine "parley serve" runs.
Actions answer from the tests' mocks and never touch the network; --live runs the
real actions instead.

A failure prints the file:line:col of the expectation, what was expected, what
happened, and why the engine chose what it chose (the turn's trace).

Exit status: 0 when every test passed (and coverage is at least --coverage-min),
1 when a test failed or coverage is below --coverage-min, 2 when the test or
scenario files are invalid (their diagnostics are printed) or on a usage error.`,
		Example: `  parley test
  parley test scenarios/greeter -v --run 'fail'
  parley test scenarios --junit report.xml --coverage-min 100
  parley test scenarios --coverage-out coverage.md --coverage-format markdown
  parley test scenarios --watch`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				args = []string{"scenarios"}
			}
			return o.execute(cmd.Context(), s, args)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.run, "run", "", "run only the tests whose name (or FILE: NAME) matches this regular expression")
	f.BoolVarP(&o.verbose, "verbose", "v", false, "list every test, passed or not")
	f.BoolVar(&o.json, "json", false, "print the results (and coverage) as one JSON document")
	f.StringVar(&o.junit, "junit", "", "write the results as JUnit XML to this file")
	f.BoolVar(&o.watch, "watch", false, "run again whenever a scenario, test or mock file changes")
	f.BoolVar(&o.live, "live", false, "run the real actions (webhooks) instead of the mocks")
	f.IntVar(&o.parallel, "parallel", 0, "tests run at once (default: the number of CPUs)")
	f.BoolVar(&o.coverage, "coverage", false, "report which intents, turns, buttons, conditions, action outcomes and no-match intents the tests exercised")
	f.StringVar(&o.coverageOut, "coverage-out", "", "write the coverage to this file (JSON unless --coverage-format says otherwise)")
	f.StringVar(&o.coverageFmt, "coverage-format", "", `coverage format: "text" (default on the terminal), "json" (default for --coverage-out) or "markdown" (a table for a pull-request comment)`)
	f.Float64Var(&o.coverageMin, "coverage-min", 0, "fail (exit 1) when the total coverage is below this percentage")
	return cmd
}

func (o *testOptions) execute(ctx context.Context, s streams, paths []string) error {
	if ctx == nil {
		ctx = context.Background()
	}
	switch o.coverageFmt {
	case "", "text", "json", "markdown":
	default:
		return fmt.Errorf("unknown --coverage-format %q: use text, json or markdown", o.coverageFmt)
	}
	if o.coverageMin < 0 || o.coverageMin > 100 {
		return fmt.Errorf("--coverage-min must be between 0 and 100, got %g", o.coverageMin)
	}
	opts := convtest.Options{Env: testEnvironment(), Live: o.live, Parallel: o.parallel}
	if o.run != "" {
		re, err := regexp.Compile(o.run)
		if err != nil {
			return fmt.Errorf("--run: %w", err)
		}
		opts.Run = re
	}
	if !o.watch {
		return o.once(ctx, s, paths, opts)
	}
	return o.watchAndRun(ctx, s, paths, opts)
}

// once loads and runs the tests and reports them.
func (o *testOptions) once(ctx context.Context, s streams, paths []string, opts convtest.Options) error {
	suite, err := convtest.Load(paths, opts)
	if err != nil {
		var list diag.List
		if !errors.As(err, &list) {
			return err
		}
		for _, d := range list {
			fmt.Fprintln(s.out, d)
		}
		fmt.Fprintf(s.err, "parley test: %d %s in the test or scenario files\n", len(list), plural(len(list), "problem", "problems"))
		return exitError{2}
	}
	defer suite.Close()
	res := convtest.Run(ctx, suite, opts)
	var cov *convtest.Coverage
	if o.coverage || o.coverageOut != "" || o.coverageMin > 0 {
		cov = convtest.NewCoverage(suite, res)
	}
	if o.json {
		if err := convtest.WriteJSON(s.out, res, cov); err != nil {
			return err
		}
	} else {
		if err := convtest.WriteText(s.out, res, o.verbose); err != nil {
			return err
		}
		if cov != nil && (o.coverage || o.coverageMin > 0) {
			format := o.coverageFmt
			if o.coverageOut != "" {
				format = "text" // the file gets --coverage-format
			}
			if err := writeCoverage(s.out, cov, format, "text"); err != nil {
				return err
			}
		}
	}
	if o.coverageOut != "" {
		var b bytes.Buffer
		if err := writeCoverage(&b, cov, o.coverageFmt, "json"); err != nil {
			return err
		}
		if err := os.WriteFile(o.coverageOut, b.Bytes(), 0o644); err != nil {
			return fmt.Errorf("writing the coverage: %w", err)
		}
	}
	if o.junit != "" {
		var b bytes.Buffer
		if err := convtest.WriteJUnit(&b, res); err != nil {
			return err
		}
		if err := os.WriteFile(o.junit, b.Bytes(), 0o644); err != nil {
			return fmt.Errorf("writing the JUnit report: %w", err)
		}
	}
	if !res.Passed() {
		return exitError{1}
	}
	if cov != nil && cov.Total.Percent < o.coverageMin {
		fmt.Fprintf(s.err, "parley test: coverage %s is below --coverage-min %g%%\n", cov.Total, o.coverageMin)
		return exitError{1}
	}
	return nil
}

func writeCoverage(w io.Writer, cov *convtest.Coverage, format, def string) error {
	if format == "" {
		format = def
	}
	switch format {
	case "json":
		return cov.WriteJSON(w)
	case "markdown":
		return cov.WriteMarkdown(w)
	}
	return cov.WriteText(w)
}

// watchAndRun runs the tests, then again after every change of a file under
// the paths (scenarios, tests and mocks alike), until interrupted.
func (o *testOptions) watchAndRun(ctx context.Context, s streams, paths []string, opts convtest.Options) error {
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	runs := make(chan struct{}, 1)
	report := func() {
		err := o.once(ctx, s, paths, opts)
		var ee exitError
		if err != nil && !errors.As(err, &ee) {
			fmt.Fprintln(s.err, "parley test:", err)
		}
		fmt.Fprintf(s.err, "parley test: watching %s for changes (Ctrl-C to stop)\n", strings.Join(paths, " "))
	}
	// The watchers start before the first run, so that a change made while
	// it runs (or right after its report) is seen.
	var roots []string
	for _, p := range paths {
		if st, err := os.Stat(p); err == nil && !st.IsDir() {
			p = filepath.Dir(p)
		}
		roots = append(roots, p)
	}
	for _, root := range roots {
		w, err := reload.New(root, reload.Options{
			Include: func(base string) bool { return dsl.IsScenarioFile(base) || convtest.IsTestFile(base) },
			Apply: func(context.Context, reload.Change) error {
				select {
				case runs <- struct{}{}:
				default:
				}
				return nil
			},
		})
		if err != nil {
			return fmt.Errorf("watching %s: %w", root, err)
		}
		if err := w.Start(ctx); err != nil {
			return fmt.Errorf("watching %s: %w", root, err)
		}
		defer w.Close()
	}
	report()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-runs:
			fmt.Fprintf(s.out, "\n--- %s: files changed, running again\n", time.Now().Format("15:04:05"))
			report()
		}
	}
}
