package convtest

import (
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// FormatFailure renders one failure: the expectation's position, the step,
// what was expected and what happened, and the summary of the turn's trace.
func FormatFailure(f Failure) string {
	return formatFailure(f, true)
}

func formatFailure(f Failure, why bool) string {
	var b strings.Builder
	b.WriteString("    ")
	if f.Pos != "" {
		b.WriteString(f.Pos + ": ")
	}
	if f.Step > 0 {
		fmt.Fprintf(&b, "step %d (%s): ", f.Step, f.StepDesc)
	}
	b.WriteString(f.What)
	b.WriteString("\n")
	if f.Message != "" {
		b.WriteString("        " + f.Message + "\n")
	}
	if f.Want != "" || f.Got != "" {
		b.WriteString("        want: " + f.Want + "\n")
		b.WriteString("        got:  " + f.Got + "\n")
	}
	if why && len(f.Why) > 0 {
		b.WriteString("        why (the trace of step " + strconv.Itoa(f.Step) + "):\n")
		for _, l := range f.Why {
			b.WriteString("            " + l + "\n")
		}
	}
	return b.String()
}

// FormatResult renders a failed test's report (without timings, so it can be compared).
func FormatResult(r *Result) string {
	var b strings.Builder
	fmt.Fprintf(&b, "--- FAIL: %s (%s)\n", r.Test.FullName(), r.Test.Pos)
	for i, f := range r.Failures {
		// The trace summary once per step, after the step's last failure.
		last := i == len(r.Failures)-1 || r.Failures[i+1].Step != f.Step
		b.WriteString(formatFailure(f, last))
	}
	return b.String()
}

// WriteText writes the results as text: every failure, each passing test
// when verbose, and a summary line.
func WriteText(w io.Writer, res *Results, verbose bool) error {
	var b strings.Builder
	for _, r := range res.Tests {
		switch {
		case !r.Passed:
			b.WriteString(FormatResult(r))
		case verbose:
			fmt.Fprintf(&b, "--- PASS: %s (%s)\n", r.Test.FullName(), round(r.Duration))
		}
	}
	n, failed := len(res.Tests), res.Failed()
	switch {
	case n == 0:
		b.WriteString("no tests to run\n")
	case failed == 0:
		fmt.Fprintf(&b, "ok: %d tests passed in %s\n", n, round(res.Duration))
	default:
		fmt.Fprintf(&b, "FAIL: %d of %d tests failed in %s\n", failed, n, round(res.Duration))
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func round(d time.Duration) time.Duration {
	switch {
	case d > time.Second:
		return d.Round(10 * time.Millisecond)
	case d > time.Millisecond:
		return d.Round(10 * time.Microsecond)
	}
	return d.Round(time.Microsecond)
}

// JSONReport is the document --json writes.
type JSONReport struct {
	Passed     bool         `json:"passed"`
	Tests      int          `json:"tests"`
	Failed     int          `json:"failed"`
	DurationNS int64        `json:"duration_ns"`
	Results    []JSONResult `json:"results"`
	Coverage   *Coverage    `json:"coverage,omitempty"`
}

// JSONResult is one test in a JSONReport.
type JSONResult struct {
	Name       string        `json:"name"`
	File       string        `json:"file"`
	Pos        string        `json:"pos"`
	Passed     bool          `json:"passed"`
	DurationNS int64         `json:"duration_ns"`
	Failures   []JSONFailure `json:"failures,omitempty"`
}

// JSONFailure is one failure in a JSONResult.
type JSONFailure struct {
	Pos     string   `json:"pos"`
	Step    int      `json:"step,omitempty"`
	Does    string   `json:"does,omitempty"`
	What    string   `json:"what"`
	Want    string   `json:"want,omitempty"`
	Got     string   `json:"got,omitempty"`
	Message string   `json:"message,omitempty"`
	Why     []string `json:"why,omitempty"`
}

// Report builds the JSON report of res, with cov when not nil.
func Report(res *Results, cov *Coverage) JSONReport {
	rep := JSONReport{Passed: res.Passed(), Tests: len(res.Tests), Failed: res.Failed(), DurationNS: int64(res.Duration), Coverage: cov}
	rep.Results = []JSONResult{}
	for _, r := range res.Tests {
		jr := JSONResult{Name: r.Test.Name, File: r.Test.File, Pos: r.Test.Pos, Passed: r.Passed, DurationNS: int64(r.Duration)}
		for _, f := range r.Failures {
			jr.Failures = append(jr.Failures, JSONFailure{Pos: f.Pos, Step: f.Step, Does: f.StepDesc, What: f.What,
				Want: f.Want, Got: f.Got, Message: f.Message, Why: f.Why})
		}
		rep.Results = append(rep.Results, jr)
	}
	return rep
}

// WriteJSON writes the JSON report.
func WriteJSON(w io.Writer, res *Results, cov *Coverage) error {
	b, err := json.MarshalIndent(Report(res, cov), "", "  ")
	if err != nil {
		return fmt.Errorf("encoding the test report: %w", err)
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

// JUnit XML, the schema CI systems read (Jenkins, GitLab, GitHub actions):
// <testsuites> holding one <testsuite> per test file, one <testcase> per test,
// a <failure> per failed test.
type junitSuites struct {
	XMLName  xml.Name     `xml:"testsuites"`
	Name     string       `xml:"name,attr"`
	Tests    int          `xml:"tests,attr"`
	Failures int          `xml:"failures,attr"`
	Time     string       `xml:"time,attr"`
	Suites   []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name     string      `xml:"name,attr"`
	Tests    int         `xml:"tests,attr"`
	Failures int         `xml:"failures,attr"`
	Time     string      `xml:"time,attr"`
	Cases    []junitCase `xml:"testcase"`
}

type junitCase struct {
	Name      string        `xml:"name,attr"`
	Classname string        `xml:"classname,attr"`
	File      string        `xml:"file,attr"`
	Time      string        `xml:"time,attr"`
	Failure   *junitFailure `xml:"failure,omitempty"`
}

type junitFailure struct {
	Message string `xml:"message,attr"`
	Type    string `xml:"type,attr"`
	Text    string `xml:",chardata"`
}

func seconds(d time.Duration) string { return fmt.Sprintf("%.3f", d.Seconds()) }

// WriteJUnit writes the results as JUnit XML.
func WriteJUnit(w io.Writer, res *Results) error {
	out := junitSuites{Name: "parley test", Tests: len(res.Tests), Failures: res.Failed(), Time: seconds(res.Duration)}
	index := map[string]int{}
	var durs []time.Duration
	for _, r := range res.Tests {
		i, ok := index[r.Test.File]
		if !ok {
			i = len(out.Suites)
			index[r.Test.File] = i
			out.Suites = append(out.Suites, junitSuite{Name: r.Test.File})
			durs = append(durs, 0)
		}
		s := &out.Suites[i]
		s.Tests++
		durs[i] += r.Duration
		c := junitCase{Name: r.Test.Name, Classname: strings.TrimSuffix(r.Test.File, fileExt(r.Test.File)), File: r.Test.File, Time: seconds(r.Duration)}
		if !r.Passed {
			s.Failures++
			first := r.Failures[0]
			msg := first.What
			if first.Pos != "" {
				msg = first.Pos + ": " + msg
			}
			c.Failure = &junitFailure{Message: msg, Type: "expectation", Text: FormatResult(r)}
		}
		s.Cases = append(s.Cases, c)
	}
	for i := range out.Suites {
		out.Suites[i].Time = seconds(durs[i])
	}
	b, err := xml.MarshalIndent(out, "", "  ")
	if err != nil {
		return fmt.Errorf("encoding the JUnit report: %w", err)
	}
	_, err = io.WriteString(w, xml.Header+string(b)+"\n")
	return err
}

func fileExt(name string) string {
	for _, ext := range []string{".cue", ".yaml", ".yml"} {
		if strings.HasSuffix(name, ext) {
			return ext
		}
	}
	return ""
}
