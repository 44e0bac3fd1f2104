package convtest_test

import (
	"context"
	"errors"
	"flag"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/parleyhq/parley/convtest"
	"github.com/parleyhq/parley/diag"
	"github.com/parleyhq/parley/plugins"
	_ "github.com/parleyhq/parley/plugins/all"
)

var update = flag.Bool("update", false, "rewrite the golden files")

func load(t testing.TB, paths ...string) *convtest.Suite {
	t.Helper()
	s, err := convtest.Load(paths, convtest.Options{})
	if err != nil {
		t.Fatalf("loading %v: %v", paths, err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func golden(t *testing.T, path, got string) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("reading the golden file (go test ./convtest -update writes it): %v", err)
	}
	if got != string(want) {
		t.Errorf("%s differs:\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}

// TestExpectations runs a passing and a failing test of every expectation
// kind; the failures' report is compared with failures.golden, exactly.
func TestExpectations(t *testing.T) {
	s := load(t, "testdata/expect/expect_test.cue")
	res := convtest.Run(context.Background(), s, convtest.Options{})
	var report strings.Builder
	passed := 0
	for _, r := range res.Tests {
		name := r.Test.Name
		switch {
		case strings.HasPrefix(name, "pass_") && !r.Passed:
			t.Errorf("%s failed:\n%s", name, convtest.FormatResult(r))
		case strings.HasPrefix(name, "fail_") && r.Passed:
			t.Errorf("%s passed; it must fail", name)
		case strings.HasPrefix(name, "fail_"):
			report.WriteString(convtest.FormatResult(r))
		default:
			passed++
		}
	}
	if passed < 8 {
		t.Errorf("%d passing tests ran, want 8", passed)
	}
	golden(t, "testdata/expect/failures.golden", report.String())
}

// TestMocks checks that each kind of mock answers as declared: the trace of
// the call that the mock answered shows the outcome a real webhook would give.
func TestMocks(t *testing.T) {
	s := load(t, "testdata/expect/mocks_test.cue")
	res := convtest.Run(context.Background(), s, convtest.Options{})
	want := map[string]struct {
		outcome string // of the first call
		err     string
	}{
		"mock_outputs":         {convtest.OutcomeOK, ""},
		"mock_unsuccessful":    {convtest.OutcomeUnsuccess, "mock: the service reported failure: out of stock"},
		"mock_timeout":         {convtest.OutcomeTimeout, "mock: no answer within the timeout"},
		"mock_connection":      {convtest.OutcomeConnection, "mock: connection failed: connection reset by peer"},
		"mock_invalid_answer":  {convtest.OutcomeInvalid, "mock: the service's answer is not OpenDialog's shape: invalid JSON"},
		"mock_status":          {convtest.OutcomeHTTPError, "mock: the service answered 502 Bad Gateway"},
		"mock_per_call":        {convtest.OutcomeHTTPError, "mock: the service answered 503 Service Unavailable"},
		"mock_calls_exhausted": {convtest.OutcomeOK, ""},
		"route_outputs":        {convtest.OutcomeOK, ""},
		"route_unsuccessful":   {convtest.OutcomeUnsuccess, "mock route quote_refuses: the service reported failure: no quotes for L"},
		"route_timeout":        {convtest.OutcomeTimeout, "mock route quote_timeout: no answer within the timeout"},
		"route_reset":          {convtest.OutcomeConnection, "mock route quote_reset: connection reset"},
		"route_bad_json":       {convtest.OutcomeInvalid, "mock route quote_bad_json: the service's answer is not OpenDialog's shape"},
		"route_status":         {convtest.OutcomeHTTPError, "mock route quote_503: the service answered 503 Service Unavailable: mock failure: HTTP 503 Service Unavailable"},
		"route_fail_times":     {convtest.OutcomeHTTPError, "mock route quote_flaky: the service answered 503 Service Unavailable: mock failure: HTTP 503 Service Unavailable"},
	}
	if len(res.Tests) != len(want) {
		t.Fatalf("%d tests ran, want %d", len(res.Tests), len(want))
	}
	for _, r := range res.Tests {
		w, ok := want[r.Test.Name]
		if !ok {
			t.Errorf("unexpected test %s", r.Test.Name)
			continue
		}
		if r.Test.Name == "mock_calls_exhausted" {
			if r.Passed || len(r.Failures) != 1 || !strings.Contains(r.Failures[0].Message, "action quote was called 2 times, but its mock (testdata/expect/mocks_test.cue:37:10) answers once") {
				t.Errorf("mock_calls_exhausted: want one failure naming the extra call, got:\n%s", convtest.FormatResult(r))
			}
		} else if !r.Passed {
			t.Errorf("%s failed:\n%s", r.Test.Name, convtest.FormatResult(r))
			continue
		}
		var calls []plugins.Call
		for _, turn := range r.Turns {
			for _, a := range turn.Reply.Trace.Actions {
				calls = append(calls, a.Calls...)
			}
		}
		if len(calls) == 0 {
			t.Errorf("%s: no action call traced", r.Test.Name)
			continue
		}
		if calls[0].Outcome != w.outcome || calls[0].Error != w.err {
			t.Errorf("%s: first call %s %q, want %s %q", r.Test.Name, calls[0].Outcome, calls[0].Error, w.outcome, w.err)
		}
	}
}

// TestUnmockedAction: an action called without a mock fails the test, naming the action.
func TestUnmockedAction(t *testing.T) {
	s := load(t, "testdata/expect/expect_test.cue")
	res := convtest.Run(context.Background(), s, convtest.Options{Run: regexp.MustCompile("^fail_unmocked_action$")})
	if len(res.Tests) != 1 || res.Tests[0].Passed {
		t.Fatalf("want one failed test, got %d tests", len(res.Tests))
	}
	f := res.Tests[0].Failures
	if len(f) != 1 || f[0].What != "mocks" || f[0].Pos != "testdata/expect/expect_test.cue:85:25" ||
		f[0].Message != "action quote was called without a mock; declare mocks: quote: {...} in the test (or run with --live)" {
		t.Errorf("failures: %+v", f)
	}
}

// TestInvalidFiles loads each invalid test file and compares its diagnostics with FILE.diag.
func TestInvalidFiles(t *testing.T) {
	all, _ := filepath.Glob("testdata/invalid/*")
	var files []string
	for _, f := range all {
		if convtest.IsTestFile(filepath.Base(f)) {
			files = append(files, f)
		}
	}
	if len(files) < 6 {
		t.Fatalf("found %d invalid test files", len(files))
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			_, err := convtest.Load([]string{f}, convtest.Options{})
			var list diag.List
			if !errors.As(err, &list) {
				t.Fatalf("want diagnostics, got %v", err)
			}
			golden(t, f+".diag", list.Error()+"\n")
		})
	}
}

func TestNoTestFiles(t *testing.T) {
	_, err := convtest.Load([]string{t.TempDir()}, convtest.Options{})
	var list diag.List
	if !errors.As(err, &list) || len(list) != 1 || !strings.Contains(list[0].Message, "no test files") {
		t.Fatalf("got %v", err)
	}
}

// TestCoverageKnown checks the coverage numbers of the shop, which the
// passing expectation tests exercise only in part: the uncovered items are known.
func TestCoverageKnown(t *testing.T) {
	s := load(t, "testdata/expect/expect_test.cue")
	res := convtest.Run(context.Background(), s, convtest.Options{Run: regexp.MustCompile("^pass_(context|reply_text|no_match)$")})
	cov := convtest.NewCoverage(s, res)
	if len(cov.Scenarios) != 1 {
		t.Fatalf("scenarios: %+v", cov.Scenarios)
	}
	sc := cov.Scenarios[0]
	want := map[string][2]int{ // covered, total
		convtest.CatUserIntents:    {2, 2},
		convtest.CatAppIntents:     {3, 5},
		convtest.CatTurns:          {3, 3},
		convtest.CatButtonsOffered: {2, 2},
		convtest.CatButtonsPressed: {1, 2},
		convtest.CatConditions:     {2, 6},
		convtest.CatActionOutcomes: {1, 2},
		convtest.CatNoMatch:        {1, 1},
	}
	for cat, w := range want {
		if n := sc.Categories[cat]; n.Covered != w[0] || n.Total != w[1] {
			t.Errorf("%s: %d/%d, want %d/%d", cat, n.Covered, n.Total, w[0], w[1])
		}
	}
	if cov.Total.Covered != 15 || cov.Total.Total != 23 || cov.Total.String() != "65.2% (15/23)" {
		t.Errorf("total %s, want 65.2%% (15/23)", cov.Total)
	}
	var got []string
	for _, it := range sc.Uncovered {
		got = append(got, it.Pos+": "+it.What)
	}
	wantUncovered := []string{
		`testdata/expect/shop.cue:33:6: intent price never chosen`,
		`testdata/expect/shop.cue:34:6: intent no_price never chosen`,
		`testdata/expect/shop.cue:21:17: button "Small" of pick_size never pressed`,
		`testdata/expect/shop.cue:32:37: condition "user.action_status" of intent vip_price never false`,
		`testdata/expect/shop.cue:32:59: condition "user.vip == true" of intent vip_price never false`,
		`testdata/expect/shop.cue:33:33: condition "user.action_status" of intent price never true`,
		`testdata/expect/shop.cue:33:33: condition "user.action_status" of intent price never false`,
		`testdata/expect/shop.cue:5:11: action quote never failed`,
	}
	if !slices.Equal(got, wantUncovered) {
		t.Errorf("uncovered:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(wantUncovered, "\n"))
	}
	var md strings.Builder
	if err := cov.WriteMarkdown(&md); err != nil {
		t.Fatal(err)
	}
	golden(t, "testdata/expect/coverage.md.golden", md.String())
}

// TestSessionTimeout: advancing the clock past the session timeout starts afresh.
func TestSessionTimeout(t *testing.T) {
	dir := t.TempDir()
	copyFile(t, "testdata/expect/shop.cue", filepath.Join(dir, "shop.cue"))
	writeFile(t, filepath.Join(dir, "timeout_test.cue"), `tests: {
	times_out: {
		session_timeout: "10m"
		steps: [
			{open: true},
			{advance: "11m", context: "conversation.current_intent": "pick_size"},
			// Out of the conversation: the scene's no-match is out of reach.
			{say: "hello?", no_match: true, reply: ["Sorry, I didn't understand that."], intents: []},
		]
	}
	in_time: {
		session_timeout: "10m"
		steps: [{open: true}, {advance: "9m"}, {say: "hello?", no_match: true, reply: ["Press a button."]}]
	}
}
`)
	res := convtest.Run(context.Background(), load(t, dir), convtest.Options{})
	for _, r := range res.Tests {
		if !r.Passed {
			t.Errorf("%s", convtest.FormatResult(r))
		}
	}
}

func copyFile(t testing.TB, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, to, string(b))
}

func writeFile(t testing.TB, name, content string) {
	t.Helper()
	if err := os.WriteFile(name, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestLive runs the real actions instead of the mocks: the quote webhook is a
// real HTTP server on loopback, and the test's mock (which would answer 99) is ignored.
func TestLive(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"successful": true, "output_data": {"attributes": {"price": 42}}}`)
	}))
	defer srv.Close()
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "shop.cue"), `scenarios: shop: {
	actions: quote: {webhook: {url: "`+srv.URL+`/quote", allow_private: true}, outputs: ["price"]}
	conversations: c: {
		behaviors: ["starting"]
		scenes: s: {
			behaviors: ["starting"]
			turns: t: {
				behaviors: ["starting"]
				request: [{id: "intent.core.welcome", actions: [{use: "quote"}]}]
				response: [{id: "price", message: text: "{{ user.price }}"}]
			}
		}
	}
}
`)
	writeFile(t, filepath.Join(dir, "live_test.cue"), `tests: live: {
	mocks: quote: outputs: price: 99
	steps: [{open: true, reply: ["42"]}]
}
`)
	s, err := convtest.Load([]string{dir}, convtest.Options{Live: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	res := convtest.Run(context.Background(), s, convtest.Options{Live: true})
	if !res.Passed() || calls.Load() != 1 {
		t.Fatalf("live run: passed %v, %d calls:\n%s", res.Passed(), calls.Load(), convtest.FormatResult(res.Tests[0]))
	}
	// Without --live the mock answers and the server is not called.
	res = convtest.Run(context.Background(), load(t, dir), convtest.Options{})
	if res.Passed() || calls.Load() != 1 || res.Tests[0].Failures[0].Got != `"99"` {
		t.Fatalf("mocked run: %d calls:\n%s", calls.Load(), convtest.FormatResult(res.Tests[0]))
	}
}

// TestCoverageLevelConditions: conditions of scenarios, conversations, scenes
// and turns count as seen true or false from the candidates they let through or block.
func TestCoverageLevelConditions(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "gate.cue"), `scenarios: gate: {
	attributes: {blocked: "bool", adult: "bool", tier: "string"}
	conditions: ["user.blocked != true"]
	conversations: c: {
		behaviors: ["starting"]
		conditions: ["user.adult == true"]
		scenes: s: {
			behaviors: ["starting"]
			conditions: ["user.tier != nil"]
			turns: t: {
				behaviors: ["starting"]
				conditions: ["user.tier != \"none\""]
				request: [{id: "intent.core.welcome"}]
				response: [{id: "hi", message: text: "Hi"}]
			}
			turns: orphan: {
				request: [{id: "lost", utterances: ["lost"]}]
			}
		}
	}
}
`)
	writeFile(t, filepath.Join(dir, "gate_test.cue"), `tests: {
	open:      {fixtures: user: {adult: true, tier: "gold"}, steps: [{open: true, reply: ["Hi"]}]}
	blocked:   {fixtures: user: {blocked: true, adult: false}, steps: [{open: true, reply: []}]}
	minor:     {fixtures: user: {adult: false}, steps: [{open: true, reply: []}]}
	no_tier:   {fixtures: user: {adult: true}, steps: [{open: true, reply: []}]}
}
`)
	s := load(t, dir)
	res := convtest.Run(context.Background(), s, convtest.Options{})
	for _, r := range res.Tests {
		if !r.Passed {
			t.Fatal(convtest.FormatResult(r))
		}
	}
	cov := convtest.NewCoverage(s, res)
	var got []string
	for _, it := range cov.Scenarios[0].Uncovered {
		got = append(got, strings.TrimPrefix(it.Pos, dir+"/")+": "+it.What)
	}
	// Seen: the scenario's condition both ways, the conversation's both ways,
	// the scene's both ways; the turn's only true (no test has tier "none").
	// The orphan turn is unreachable: the graph says so. Items come in category order.
	want := []string{
		`gate.cue:17:15: intent lost never chosen (unreachable: no conversation can get there)`,
		`gate.cue:16:11: turn orphan never entered (unreachable: no conversation can get there)`,
		`gate.cue:12:18: condition "user.tier != \"none\"" of turn t never false`,
	}
	if !slices.Equal(got, want) {
		t.Errorf("uncovered:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
