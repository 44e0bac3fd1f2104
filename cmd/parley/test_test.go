package main

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// junitReport is the JUnit XML schema CI systems read, parsed independently of the writer.
type junitReport struct {
	XMLName  xml.Name `xml:"testsuites"`
	Tests    int      `xml:"tests,attr"`
	Failures int      `xml:"failures,attr"`
	Suites   []struct {
		Name     string `xml:"name,attr"`
		Tests    int    `xml:"tests,attr"`
		Failures int    `xml:"failures,attr"`
		Time     string `xml:"time,attr"`
		Cases    []struct {
			Name      string `xml:"name,attr"`
			Classname string `xml:"classname,attr"`
			Time      string `xml:"time,attr"`
			Failure   *struct {
				Message string `xml:"message,attr"`
				Type    string `xml:"type,attr"`
				Text    string `xml:",chardata"`
			} `xml:"failure"`
		} `xml:"testcase"`
	} `xml:"testsuite"`
}

func readJUnit(t *testing.T, path string) junitReport {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var r junitReport
	if err := xml.Unmarshal(b, &r); err != nil {
		t.Fatalf("the JUnit report does not parse: %v\n%s", err, b)
	}
	return r
}

// TestTestExamples is the CI line: every example test passes at 100% coverage.
func TestTestExamples(t *testing.T) {
	junit := filepath.Join(t.TempDir(), "report.xml")
	code, out, errOut := runCLI(t, "test", "../../scenarios", "--coverage-min", "100", "--junit", junit)
	if code != 0 {
		t.Fatalf("exit %d\n%s%s", code, out, errOut)
	}
	if !strings.Contains(out, "ok: 29 tests passed") || !strings.Contains(out, "coverage: 100.0% (126/126)") {
		t.Errorf("output:\n%s", out)
	}
	r := readJUnit(t, junit)
	if r.Tests != 29 || r.Failures != 0 || len(r.Suites) != 3 {
		t.Fatalf("JUnit: %d tests, %d failures, %d suites", r.Tests, r.Failures, len(r.Suites))
	}
	if s := r.Suites[1]; s.Name != "../../scenarios/greeter/greeter_test.cue" || s.Tests != 4 || s.Cases[0].Name != "greets_john" ||
		s.Cases[0].Classname != "../../scenarios/greeter/greeter_test" || s.Cases[0].Failure != nil {
		t.Errorf("greeter suite: %+v", s)
	}
}

// TestTestFailures: a failing run exits 1, and the JUnit report holds each failure with its position.
func TestTestFailures(t *testing.T) {
	junit := filepath.Join(t.TempDir(), "report.xml")
	code, out, _ := runCLI(t, "test", "../../convtest/testdata/expect/expect_test.cue", "--junit", junit)
	if code != 1 {
		t.Fatalf("exit %d, want 1\n%s", code, out)
	}
	if !strings.Contains(out, "FAIL: 17 of 26 tests failed") {
		t.Errorf("output:\n%s", out)
	}
	r := readJUnit(t, junit)
	if r.Tests != 26 || r.Failures != 17 || len(r.Suites) != 1 || r.Suites[0].Failures != 17 {
		t.Fatalf("JUnit: %d tests, %d failures", r.Tests, r.Failures)
	}
	found := false
	for _, c := range r.Suites[0].Cases {
		if c.Name != "fail_reply_text" {
			continue
		}
		found = true
		if c.Failure == nil || c.Failure.Message != "../../convtest/testdata/expect/expect_test.cue:9:32: reply[0].text" ||
			c.Failure.Type != "expectation" || !strings.Contains(c.Failure.Text, `want: "Which colour?"`) {
			t.Errorf("fail_reply_text: %+v", c.Failure)
		}
	}
	if !found {
		t.Error("no fail_reply_text test case")
	}
}

// TestTestCoverageMin: below the threshold the run fails with exit 1, at it it passes.
func TestTestCoverageMin(t *testing.T) {
	args := []string{"test", "../../convtest/testdata/expect/expect_test.cue", "--run", "^pass_(context|reply_text|no_match)$"}
	code, out, errOut := runCLI(t, append(args, "--coverage-min", "65.3")...)
	if code != 1 || !strings.Contains(errOut, "coverage 65.2% (15/23) is below --coverage-min 65.3%") {
		t.Fatalf("exit %d\n%s%s", code, out, errOut)
	}
	if !strings.Contains(out, "ok: 3 tests passed") || !strings.Contains(out, "shop.cue:33:6: shop: intent price never chosen") {
		t.Errorf("output:\n%s", out)
	}
	if code, out, errOut := runCLI(t, append(args, "--coverage-min", "65")...); code != 0 {
		t.Fatalf("exit %d\n%s%s", code, out, errOut)
	}
}

// TestTestCoverageOut writes the coverage as JSON and as markdown.
func TestTestCoverageOut(t *testing.T) {
	dir := t.TempDir()
	js, md := filepath.Join(dir, "cov.json"), filepath.Join(dir, "cov.md")
	if code, out, errOut := runCLI(t, "test", "../../scenarios/greeter", "--coverage-out", js); code != 0 {
		t.Fatalf("exit %d\n%s%s", code, out, errOut)
	}
	var cov struct {
		Total struct {
			Covered, Total int
			Percent        float64
		}
		Scenarios []struct{ Name string }
	}
	b, _ := os.ReadFile(js)
	if err := json.Unmarshal(b, &cov); err != nil || cov.Total.Total != 13 || cov.Total.Percent != 100 || cov.Scenarios[0].Name != "greeter" {
		t.Fatalf("coverage JSON (%v): %s", err, b)
	}
	if code, _, _ := runCLI(t, "test", "../../scenarios/greeter", "--coverage-out", md, "--coverage-format", "markdown"); code != 0 {
		t.Fatal(code)
	}
	b, _ = os.ReadFile(md)
	if !strings.Contains(string(b), "| greeter | 2/2 | 3/3 | 2/2 | 1/1 | 1/1 | 2/2 | 2/2 | – | **100.0%** |") {
		t.Errorf("markdown:\n%s", b)
	}
}

// TestTestJSON prints one JSON document with results and coverage.
func TestTestJSON(t *testing.T) {
	code, out, _ := runCLI(t, "test", "../../convtest/testdata/expect/expect_test.cue", "--json", "--coverage", "--run", "^(pass|fail)_reply_text$")
	if code != 1 {
		t.Fatalf("exit %d\n%s", code, out)
	}
	var rep struct {
		Passed  bool
		Tests   int
		Failed  int
		Results []struct {
			Name     string
			Passed   bool
			Failures []struct{ Pos, What, Want, Got string }
		}
		Coverage *struct{ Total struct{ Total int } }
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if rep.Passed || rep.Tests != 2 || rep.Failed != 1 || rep.Coverage == nil || rep.Coverage.Total.Total != 23 {
		t.Fatalf("%+v", rep)
	}
	f := rep.Results[1].Failures[0]
	if rep.Results[1].Name != "fail_reply_text" || f.What != "reply[0].text" || f.Want != `"Which colour?"` || f.Got != `"Which size?"` {
		t.Errorf("%+v", rep.Results[1])
	}
}

// TestTestInvalid: invalid test files and invalid scenarios exit 2 with their diagnostics.
func TestTestInvalid(t *testing.T) {
	code, out, errOut := runCLI(t, "test", "../../convtest/testdata/invalid/refs_test.cue")
	if code != 2 || !strings.Contains(out, "../../convtest/testdata/invalid/refs_test.cue:11:5: ref.unknown_intent: click \"size_chosn\"") ||
		!strings.Contains(errOut, "9 problems") {
		t.Fatalf("exit %d\n%s%s", code, out, errOut)
	}
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "bad.cue"), []byte("scenarios: x: {actve: true}\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "x_test.cue"), []byte("tests: t: steps: [{open: true}]\n"), 0o644)
	code, out, _ = runCLI(t, "test", dir)
	if code != 2 || !strings.Contains(out, `schema.field_not_allowed: field "actve" not allowed`) {
		t.Fatalf("exit %d\n%s", code, out)
	}
	if code, _, errOut := runCLI(t, "test", t.TempDir()); code != 2 || !strings.Contains(errOut, "1 problem") {
		t.Fatalf("no test files: exit %d %s", code, errOut)
	}
	if code, _, _ := runCLI(t, "test", "--coverage-format", "html"); code != 2 {
		t.Fatalf("bad flag: exit %d", code)
	}
}

// syncBuffer is a bytes.Buffer safe for the watcher's goroutine and the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestTestWatch: --watch runs the tests again when a test file changes.
func TestTestWatch(t *testing.T) {
	dir := t.TempDir()
	copyDir(t, "../../scenarios/greeter", dir)
	os.Remove(filepath.Join(dir, "greeter_test.cue")) // it reads ../../mocks
	file := filepath.Join(dir, "open_test.cue")
	os.WriteFile(file, []byte(`tests: t: steps: [{open: true, reply: ["Hi! Press OK."]}]`+"\n"), 0o644)
	ctx, cancel := context.WithCancel(context.Background())
	var out, errOut syncBuffer
	done := make(chan error, 1)
	go func() {
		o := &testOptions{watch: true}
		done <- o.execute(ctx, streams{in: strings.NewReader(""), out: &out, err: &errOut}, []string{dir})
	}()
	waitFor := func(what string) {
		t.Helper()
		for i := 0; i < 200; i++ { // 10 s at most
			if strings.Contains(out.String(), what) {
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
		t.Fatalf("no %q in:\n%s\nstderr:\n%s", what, out.String(), errOut.String())
	}
	waitFor("ok: 1 tests passed")
	os.WriteFile(file, []byte(`tests: t: steps: [{open: true, reply: ["Hello?"]}]`+"\n"), 0o644)
	waitFor("files changed, running again")
	waitFor("FAIL: 1 of 1 tests failed")
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("watch ended with %v", err)
	}
}
