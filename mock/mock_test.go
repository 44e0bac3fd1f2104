package mock

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/parleyhq/parley/diag"
)

// writeFiles writes name -> content into a fresh directory and returns it.
func writeFiles(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// serve loads one CUE mock file from a temp dir and serves it.
func serve(t *testing.T, src string, opts Options) (*httptest.Server, *Server) {
	t.Helper()
	dir := writeFiles(t, map[string]string{"mock.cue": src})
	cfg, err := LoadPath(filepath.Join(dir, "mock.cue"))
	if err != nil {
		t.Fatalf("loading:\n%v", err)
	}
	s := New(cfg, opts)
	ts := httptest.NewServer(s)
	t.Cleanup(func() { s.Close(); ts.Close() })
	return ts, s
}

type response struct {
	status int
	header http.Header
	body   string
}

func do(t *testing.T, c *http.Client, method, url, body string, headers ...string) response {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	if c == nil {
		c = &http.Client{Timeout: 10 * time.Second}
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{resp.StatusCode, resp.Header, string(b)}
}

const johnSmith = `{"input_data":{"attributes":{"first_name":"John","last_name":"Smith"}}}`

func TestOpenDialogComputedOutputs(t *testing.T) {
	ts, _ := serve(t, `
mock: routes: [{
	path: "/full_name"
	outputs: {
		full_name: "input.first_name + ' ' + input.last_name"
		initials:  "input.first_name[0:1] + input.last_name[0:1]"
		method:    "request.method"
	}
}]`, Options{})
	r := do(t, nil, "POST", ts.URL+"/full_name", johnSmith, "Content-Type", "application/json")
	want := `{"successful":true,"output_data":{"attributes":{"full_name":"John Smith","initials":"JS","method":"POST"}}}` + "\n"
	if r.status != 200 || r.body != want {
		t.Fatalf("got %d %s, want 200 %s", r.status, r.body, want)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q", ct)
	}
	// A missing attribute makes the expression fail: an unsuccessful answer, not a crash.
	r = do(t, nil, "POST", ts.URL+"/full_name", `{"input_data":{"attributes":{"first_name":"John"}}}`)
	var f struct {
		Successful bool `json:"successful"`
		Errors     []struct {
			Message string `json:"message"`
		} `json:"errors"`
	}
	if err := json.Unmarshal([]byte(r.body), &f); err != nil || r.status != 200 || f.Successful || len(f.Errors) != 1 ||
		!strings.Contains(f.Errors[0].Message, "computing full_name") {
		t.Fatalf("missing attribute: got %d %s", r.status, r.body)
	}
	// Not JSON: 400 with an OpenDialog failure.
	r = do(t, nil, "POST", ts.URL+"/full_name", `{"input_data":`)
	if r.status != 400 || !strings.HasPrefix(r.body, `{"successful":false,"errors":[{"message":"the request body is not JSON`) {
		t.Fatalf("bad JSON: got %d %s", r.status, r.body)
	}
}

func TestOpenDialogSuccessfulAndErrors(t *testing.T) {
	ts, _ := serve(t, `
mock: routes: [{
	path: "/age"
	successful: "input.age >= 18"
	errors: ["too young: {{ input.age }}", "ask a parent"]
	outputs: adult: "true"
}, {
	path: "/always_fails"
	errors: ["Missing expected attributes: 'rating'"]
}]`, Options{})
	r := do(t, nil, "POST", ts.URL+"/age", `{"input_data":{"attributes":{"age":12}}}`)
	want := `{"successful":false,"errors":[{"message":"too young: 12"},{"message":"ask a parent"}]}` + "\n"
	if r.body != want {
		t.Fatalf("got %s, want %s", r.body, want)
	}
	r = do(t, nil, "POST", ts.URL+"/age", `{"input_data":{"attributes":{"age":30}}}`)
	if want := `{"successful":true,"output_data":{"attributes":{"adult":true}}}` + "\n"; r.body != want {
		t.Fatalf("got %s, want %s", r.body, want)
	}
	r = do(t, nil, "POST", ts.URL+"/always_fails", `{}`)
	if want := `{"successful":false,"errors":[{"message":"Missing expected attributes: 'rating'"}]}` + "\n"; r.body != want {
		t.Fatalf("got %s, want %s", r.body, want)
	}
}

func TestStaticBodies(t *testing.T) {
	ts, _ := serve(t, `
mock: routes: [{
	path: "/static_od"
	response: body: {successful: true, output_data: attributes: {policy: {type: "gold"}, items: [1, 2]}}
}, {
	path: "/created"
	method: "PUT"
	protocol: "http"
	response: {status: 201, headers: {"X-Mock": "yes"}, body: {id: 7, tags: ["a"]}}
}, {
	path: "/text"
	method: "GET"
	protocol: "http"
	response: {headers: {"Content-Type": "text/plain; charset=utf-8"}, body: "hello\n"}
}, {
	path: "/nobody"
	method: "DELETE"
	protocol: "http"
	response: status: 204
}]`, Options{})
	r := do(t, nil, "POST", ts.URL+"/static_od", "{}")
	if want := `{"successful":true,"output_data":{"attributes":{"policy":{"type":"gold"},"items":[1,2]}}}`; r.status != 200 || r.body != want {
		t.Fatalf("static opendialog: got %d %s", r.status, r.body)
	}
	r = do(t, nil, "PUT", ts.URL+"/created", "not even json")
	if r.status != 201 || r.body != `{"id":7,"tags":["a"]}` || r.header.Get("X-Mock") != "yes" || r.header.Get("Content-Type") != "application/json" {
		t.Fatalf("http static: got %d %v %s", r.status, r.header, r.body)
	}
	r = do(t, nil, "GET", ts.URL+"/text", "")
	if r.status != 200 || r.body != "hello\n" || r.header.Get("Content-Type") != "text/plain; charset=utf-8" {
		t.Fatalf("text: got %d %v %q", r.status, r.header, r.body)
	}
	r = do(t, nil, "DELETE", ts.URL+"/nobody", "")
	if r.status != 204 || r.body != "" {
		t.Fatalf("no body: got %d %q", r.status, r.body)
	}
}

func TestHTTPProtocolOutputs(t *testing.T) {
	ts, _ := serve(t, `
mock: routes: [{
	path: "/users/{id}"
	method: "GET"
	protocol: "http"
	response: body: {kind: "user"}
	outputs: {
		id:    "request.params.id"
		q:     "request.query.q"
		agent: "request.headers['x-agent']"
	}
}, {
	path: "/echo"
	method: "ANY"
	protocol: "http"
	response: status: 202
	outputs: {
		greeting: "'hi ' + input.name"
		count:    "len(input.items)"
		method:   "request.method"
	}
}]`, Options{})
	r := do(t, nil, "GET", ts.URL+"/users/42?q=x", "", "X-Agent", "tester")
	if want := `{"agent":"tester","id":"42","kind":"user","q":"x"}` + "\n"; r.status != 200 || r.body != want {
		t.Fatalf("got %d %s, want %s", r.status, r.body, want)
	}
	r = do(t, nil, "PATCH", ts.URL+"/echo", `{"name":"Ann","items":[1,2,3]}`)
	if want := `{"count":3,"greeting":"hi Ann","method":"PATCH"}` + "\n"; r.status != 202 || r.body != want {
		t.Fatalf("got %d %s, want %s", r.status, r.body, want)
	}
	// An expression failing at run time is a 500 with the reason.
	r = do(t, nil, "POST", ts.URL+"/echo", `{"items":[]}`)
	if r.status != 500 || !strings.Contains(r.body, "computing greeting") {
		t.Fatalf("got %d %s", r.status, r.body)
	}
}

func TestDelay(t *testing.T) {
	ts, _ := serve(t, `mock: routes: [{path: "/slow", delay: "150ms", outputs: ok: "true"}]`, Options{})
	start := time.Now()
	r := do(t, nil, "POST", ts.URL+"/slow", "{}")
	if el := time.Since(start); el < 150*time.Millisecond {
		t.Fatalf("answered after %v, want at least 150ms", el)
	}
	if r.status != 200 || !strings.Contains(r.body, `"ok":true`) {
		t.Fatalf("got %d %s", r.status, r.body)
	}
}

func TestFailureModes(t *testing.T) {
	ts, s := serve(t, `
mock: routes: [
	{path: "/500", fail: "500"},
	{path: "/503", fail: 503, retry_after: 0},
	{path: "/429", protocol: "http", fail: "429", retry_after: 2},
	{path: "/bad_json", fail: "bad_json"},
	{path: "/empty", fail: "empty"},
	{path: "/reset", fail: "reset"},
	{path: "/timeout", fail: "timeout"},
]`, Options{MaxHold: 30 * time.Second})

	r := do(t, nil, "POST", ts.URL+"/500", johnSmith)
	if want := `{"successful":false,"errors":[{"message":"mock failure: HTTP 500 Internal Server Error"}]}` + "\n"; r.status != 500 || r.body != want {
		t.Errorf("500: got %d %s", r.status, r.body)
	}
	r = do(t, nil, "POST", ts.URL+"/503", johnSmith)
	if r.status != 503 || r.header.Get("Retry-After") != "0" {
		t.Errorf("503: got %d %v", r.status, r.header)
	}
	r = do(t, nil, "POST", ts.URL+"/429", johnSmith)
	if r.status != 429 || r.header.Get("Retry-After") != "2" || r.body != `{"error":"mock failure: HTTP 429 Too Many Requests"}`+"\n" {
		t.Errorf("429: got %d %v %s", r.status, r.header, r.body)
	}
	r = do(t, nil, "POST", ts.URL+"/bad_json", johnSmith)
	if r.status != 200 || json.Valid([]byte(r.body)) || r.body == "" {
		t.Errorf("bad_json: got %d %q", r.status, r.body)
	}
	r = do(t, nil, "POST", ts.URL+"/empty", johnSmith)
	if r.status != 200 || r.body != "" {
		t.Errorf("empty: got %d %q", r.status, r.body)
	}

	// reset: the client gets a transport error, never a response.
	resp, err := http.Post(ts.URL+"/reset", "application/json", strings.NewReader(johnSmith))
	if err == nil {
		resp.Body.Close()
		t.Errorf("reset: got a response %d", resp.StatusCode)
	}

	// timeout: the client gives up; the mock notices and logs it.
	c := &http.Client{Timeout: 200 * time.Millisecond}
	start := time.Now()
	resp, err = c.Post(ts.URL+"/timeout", "application/json", strings.NewReader(johnSmith))
	if err == nil {
		resp.Body.Close()
		t.Errorf("timeout: got a response %d", resp.StatusCode)
	}
	if el := time.Since(start); el > 5*time.Second {
		t.Errorf("timeout: client gave up after %v", el)
	}
	waitFor(t, func() bool {
		l := s.Requests()
		last := l[len(l)-1]
		return last.Path == "/timeout" && !last.Pending
	})
	got := map[string]Request{}
	for _, rec := range s.Requests() {
		got[rec.Path] = rec
	}
	if rec := got["/reset"]; rec.Fail != "reset" || rec.Status != 0 || rec.Route != "POST /reset" {
		t.Errorf("reset record: %+v", rec)
	}
	if rec := got["/timeout"]; rec.Fail != "timeout" || rec.Status != 0 {
		t.Errorf("timeout record: %+v", rec)
	}
	if rec := got["/503"]; rec.Fail != "503" || rec.Status != 503 {
		t.Errorf("503 record: %+v", rec)
	}
}

func TestTimeoutMaxHoldAndClose(t *testing.T) {
	ts, s := serve(t, `mock: routes: [{path: "/timeout", fail: "timeout"}, {path: "/slow", delay: "1h"}]`,
		Options{MaxHold: 100 * time.Millisecond})
	r := do(t, nil, "POST", ts.URL+"/timeout", "{}")
	if r.status != 504 {
		t.Fatalf("after MaxHold: got %d %s", r.status, r.body)
	}
	// Close releases a request held by a delay.
	done := make(chan response, 1)
	go func() { done <- do(t, nil, "POST", ts.URL+"/slow", "{}") }()
	waitFor(t, func() bool { l := s.Requests(); return len(l) == 2 && l[1].Pending })
	s.Close()
	select {
	case r := <-done:
		if r.status != 503 {
			t.Fatalf("after Close: got %d %s", r.status, r.body)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not release the delayed request")
	}
}

func TestFailTimesThenSuccess(t *testing.T) {
	ts, s := serve(t, `mock: routes: [{path: "/flaky", fail: "503", fail_times: 2, outputs: ok: "true"}]`, Options{})
	var got []int
	for range 4 {
		got = append(got, do(t, nil, "POST", ts.URL+"/flaky", johnSmith).status)
	}
	if fmt.Sprint(got) != "[503 503 200 200]" {
		t.Fatalf("statuses %v, want [503 503 200 200]", got)
	}
	// DELETE /_requests clears the log and restarts the count.
	if r := do(t, nil, "DELETE", ts.URL+"/_requests", ""); r.status != 204 {
		t.Fatalf("DELETE /_requests: %d", r.status)
	}
	if n := len(s.Requests()); n != 0 {
		t.Fatalf("%d requests after DELETE", n)
	}
	if st := do(t, nil, "POST", ts.URL+"/flaky", johnSmith).status; st != 503 {
		t.Fatalf("after reset: %d, want 503", st)
	}
}

func TestFailTimesConcurrent(t *testing.T) {
	ts, _ := serve(t, `mock: routes: [{path: "/flaky", fail: "500", fail_times: 5}]`, Options{})
	var mu sync.Mutex
	counts := map[int]int{}
	var wg sync.WaitGroup
	for range 40 {
		wg.Go(func() {
			resp, err := http.Post(ts.URL+"/flaky", "application/json", strings.NewReader(johnSmith))
			if err != nil {
				t.Error(err)
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			mu.Lock()
			counts[resp.StatusCode]++
			mu.Unlock()
		})
	}
	wg.Wait()
	if counts[500] != 5 || counts[200] != 35 {
		t.Fatalf("statuses %v, want exactly 5 failures", counts)
	}
}

func TestRequestLog(t *testing.T) {
	var out syncBuffer
	ts, s := serve(t, `mock: routes: [{name: "full_name", path: "/full_name", outputs: full_name: "input.first_name + ' ' + input.last_name"}]`,
		Options{Log: &out, MaxRequests: 3})
	do(t, nil, "POST", ts.URL+"/full_name?api_key=k3y&lang=en",
		`{"input_data":{"attributes":{"first_name":"John","last_name":"Smith","password":"hunter2"}}}`,
		"Authorization", "Bearer s3cr3t-token", "X-Api-Key", "abc123", "X-Trace", "t-1")
	do(t, nil, "GET", ts.URL+"/unknown", "")

	r := do(t, nil, "GET", ts.URL+"/_requests", "")
	if r.status != 200 {
		t.Fatalf("GET /_requests: %d", r.status)
	}
	for _, secret := range []string{"s3cr3t-token", "abc123", "hunter2", "k3y"} {
		if strings.Contains(r.body, secret) || strings.Contains(out.String(), secret) {
			t.Errorf("secret %q leaked:\n%s\n%s", secret, r.body, out.String())
		}
	}
	var list struct {
		Requests []Request `json:"requests"`
		Total    int       `json:"total"`
	}
	if err := json.Unmarshal([]byte(r.body), &list); err != nil {
		t.Fatal(err)
	}
	if len(list.Requests) != 2 || list.Total != 2 {
		t.Fatalf("requests: %s", r.body)
	}
	first := list.Requests[0]
	if first.Method != "POST" || first.Path != "/full_name" || first.Route != "full_name" || first.Status != 200 || first.Pending ||
		first.Headers["Authorization"] != "Bearer [REDACTED]" || first.Headers["X-Api-Key"] != Redacted || first.Headers["X-Trace"] != "t-1" ||
		first.Query["api_key"] != Redacted || first.Query["lang"] != "en" || first.Time.IsZero() {
		t.Errorf("first request: %+v", first)
	}
	var body struct {
		InputData struct {
			Attributes map[string]any `json:"attributes"`
		} `json:"input_data"`
	}
	if err := json.Unmarshal(first.Body, &body); err != nil || body.InputData.Attributes["first_name"] != "John" ||
		body.InputData.Attributes["last_name"] != "Smith" || body.InputData.Attributes["password"] != Redacted {
		t.Errorf("first body: %s (%v)", first.Body, err)
	}
	if second := list.Requests[1]; second.Path != "/unknown" || second.Status != 404 || second.Route != "" {
		t.Errorf("unknown route: %+v", second)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 2 || !strings.Contains(lines[0], "POST /full_name") || !strings.Contains(lines[0], "-> 200 [full_name]") ||
		!strings.Contains(lines[0], `"first_name":"John"`) || !strings.Contains(lines[1], "GET /unknown -> 404") {
		t.Errorf("printed lines:\n%s", out.String())
	}

	// The ring keeps the last MaxRequests.
	for range 3 {
		do(t, nil, "POST", ts.URL+"/full_name", johnSmith)
	}
	l := s.Requests()
	if len(l) != 3 || l[0].ID != 3 || l[2].ID != 5 {
		t.Fatalf("ring: %d requests, ids %d..%d", len(l), l[0].ID, l[len(l)-1].ID)
	}
	// Filters.
	r = do(t, nil, "GET", ts.URL+"/_requests?path=/unknown", "")
	if !strings.Contains(r.body, `"requests":[]`) {
		t.Errorf("filtered: %s", r.body)
	}
	if r := do(t, nil, "POST", ts.URL+"/_requests", ""); r.status != 405 {
		t.Errorf("POST /_requests: %d", r.status)
	}
	r = do(t, nil, "GET", ts.URL+"/_routes", "")
	if r.status != 200 || !strings.Contains(r.body, `"name":"full_name"`) || !strings.Contains(r.body, `"calls":4`) {
		t.Errorf("/_routes: %d %s", r.status, r.body)
	}
}

func TestUnknownRoutesAndLimits(t *testing.T) {
	ts, s := serve(t, `mock: routes: [{path: "/hook"}]`, Options{MaxBodyBytes: 64})
	r := do(t, nil, "GET", ts.URL+"/hook", "")
	if r.status != 405 || r.header.Get("Allow") == "" || !strings.Contains(r.body, `"error":"no mock route for GET /hook`) {
		t.Errorf("wrong method: %d %v %s", r.status, r.header, r.body)
	}
	r = do(t, nil, "POST", ts.URL+"/nope", "{}")
	if r.status != 404 || !strings.Contains(r.body, `"routes":["POST /hook"]`) {
		t.Errorf("unknown: %d %s", r.status, r.body)
	}
	r = do(t, nil, "POST", ts.URL+"/hook", `{"input_data":{"attributes":{"x":"`+strings.Repeat("a", 100)+`"}}}`)
	if r.status != 413 {
		t.Errorf("oversized: %d %s", r.status, r.body)
	}
	if n := len(s.Requests()); n != 3 {
		t.Errorf("%d requests logged, want 3 (every request is logged)", n)
	}
}

func TestNonJSONBodyIsLoggedAsString(t *testing.T) {
	ts, s := serve(t, `mock: routes: [{path: "/form", protocol: "http", outputs: got: "input"}]`, Options{})
	r := do(t, nil, "POST", ts.URL+"/form", "a=1&b=2")
	if r.body != `{"got":"a=1\u0026b=2"}`+"\n" {
		t.Errorf("got %s", r.body)
	}
	if b := string(s.Requests()[0].Body); b != `"a=1\u0026b=2"` {
		t.Errorf("logged body %s", b)
	}
}

// TestGreeterExample serves mocks/greeter.cue, the mock of the greeter scenario's webhook.
func TestGreeterExample(t *testing.T) {
	cfg, err := LoadPath(filepath.Join("..", "mocks"))
	if err != nil {
		t.Fatalf("loading mocks/:\n%v", err)
	}
	s := New(cfg, Options{})
	ts := httptest.NewServer(s)
	defer ts.Close()
	r := do(t, nil, "POST", ts.URL+"/full_name", johnSmith, "Authorization", "Bearer t")
	if want := `{"successful":true,"output_data":{"attributes":{"full_name":"John Smith"}}}` + "\n"; r.body != want {
		t.Fatalf("got %s, want %s", r.body, want)
	}
	r = do(t, nil, "POST", ts.URL+"/full_name", `{"input_data":{"attributes":{"first_name":"John"}}}`)
	if !strings.HasPrefix(r.body, `{"successful":false,"errors":[{"message":"Missing expected attributes`) {
		t.Fatalf("got %s", r.body)
	}
}

func TestLoadDirectory(t *testing.T) {
	dir := writeFiles(t, map[string]string{
		"a.cue":       `mock: routes: [{path: "/a"}]`,
		"sub/b.yaml":  "mock:\n  routes:\n    - path: /b\n      method: GET\n      protocol: http\n      response:\n        body: {ok: true}\n",
		".hidden.cue": `this is not CUE`,
		".git/c.cue":  `this is not CUE`,
		"README.md":   `# not a mock`,
		"sub/c.yml":   "mock: {routes: []}\n",
	})
	cfg, err := LoadPath(dir)
	if err != nil {
		t.Fatalf("%v", err)
	}
	if len(cfg.Routes) != 2 || cfg.Routes[0].Path != "/a" || cfg.Routes[1].Path != "/b" || len(cfg.Files) != 3 {
		t.Fatalf("routes %+v files %v", cfg.Routes, cfg.Files)
	}
	if r := cfg.Routes[1]; r.Method != "GET" || r.Protocol != "http" || string(r.Body) != `{"ok":true}` || !strings.HasSuffix(r.Pos, "sub/b.yaml:3:7") {
		t.Fatalf("yaml route %+v", r)
	}
	if r := cfg.Routes[0]; r.Method != "POST" || r.Protocol != "opendialog" || r.Status != 200 || r.Name != "POST /a" {
		t.Fatalf("defaults %+v", r)
	}

	empty := t.TempDir()
	_, err = LoadPath(empty)
	if err == nil || !strings.Contains(err.Error(), "no .cue, .yaml or .yml mock files") {
		t.Fatalf("empty dir: %v", err)
	}
	_, err = LoadPath(filepath.Join(empty, "missing.cue"))
	var list diag.List
	if !errors.As(err, &list) || list[0].Code != diag.CodeIO {
		t.Fatalf("missing file: %v", err)
	}
}

func TestBadDeclarations(t *testing.T) {
	cases := []struct {
		name, file, src string
		want            []string // each a substring of one diagnostic line
	}{
		{"typo", "m.cue", "mock: routes: [{\n\tpath: \"/a\"\n\tstatuss: 200\n}]\n",
			[]string{`m.cue:3:2: schema.field_not_allowed: field "statuss" not allowed in mock.routes.0`}},
		{"bad method", "m.cue", "mock: routes: [{\n\tpath: \"/a\"\n\tmethod: \"FETCH\"\n}]\n",
			[]string{`m.cue:3:10: schema.type: mock.routes.0.method: "FETCH" is not allowed: want one of "POST", "GET", "PUT", "PATCH", "DELETE", "ANY"`}},
		{"missing path", "m.cue", "mock: routes: [{\n\tmethod: \"GET\"\n}]\n",
			[]string{`m.cue:1:16: schema.required: mock.routes.0.path is required`}},
		{"reserved path", "m.cue", "mock: routes: [{path: \"/_requests\"}]\n",
			[]string{`m.cue:1:23: schema.type:`}},
		{"expr syntax", "m.cue", "mock: routes: [{\n\tpath: \"/a\"\n\toutputs: x: \"input.a +\"\n}]\n",
			[]string{`m.cue:3:23: expr.syntax:`}},
		{"expr unknown", "m.cue", "mock: routes: [{\n\tpath: \"/a\"\n\toutputs: x: \"1 + inputs.a\"\n}]\n",
			[]string{`m.cue:3:19: expr.unknown_name:`}},
		{"request field unknown", "m.cue", "mock: routes: [{\n\tpath: \"/a\"\n\tsuccessful: \"request.bodyy != nil\"\n}]\n",
			[]string{`m.cue:3:23: expr.unknown_name: unknown field bodyy`}},
		{"successful not bool", "m.cue", "mock: routes: [{\n\tpath: \"/a\"\n\tsuccessful: \"'yes'\"\n}]\n",
			[]string{`m.cue:3:15: `, `expected bool`}},
		{"template", "m.cue", "mock: routes: [{\n\tpath: \"/a\"\n\terrors: [\"bad {{ input.x\"]\n}]\n",
			[]string{`m.cue:3:16: template.syntax:`}},
		{"cue syntax", "m.cue", "mock: routes: [{\n\tpath: \"/a\"\n\t}}]\n",
			[]string{`m.cue:3:`, `syntax:`}},
		{"yaml syntax", "m.yaml", "mock:\n  routes:\n    - path: /a\n   bad: [\n",
			[]string{`m.yaml:`, `syntax:`}},
		{"yaml typo", "m.yaml", "mock:\n  routes:\n    - path: /a\n      delay: soon\n",
			[]string{`m.yaml:4:14: schema.type:`}},
		{"duplicate route", "m.cue", "mock: routes: [{path: \"/a\"}, {path: \"/a\"}]\n",
			[]string{`m.cue:1:31: schema.conflict: route "POST /a" is already declared at m.cue:1:16`}},
		{"conflicting patterns", "m.cue", "mock: routes: [{path: \"/a/{x}\"}, {path: \"/a/{y}\"}]\n",
			[]string{`m.cue:1:35: schema.conflict: route "POST /a/{y}": pattern "POST /a/{y}" conflicts with pattern "POST /a/{x}": POST /a/{y} matches the same requests as POST /a/{x}`}},
		{"bad pattern", "m.cue", "mock: routes: [{path: \"/a/{x\"}]\n",
			[]string{`m.cue:1:17: schema.conflict: route "POST /a/{x": parsing "POST /a/{x"`}},
		{"fail_times without fail", "m.cue", "mock: routes: [{\n\tpath: \"/a\"\n\tfail_times: 2\n}]\n",
			[]string{`m.cue:3:2: schema.required: fail_times needs fail`}},
		{"retry_after without status", "m.cue", "mock: routes: [{path: \"/a\", fail: \"reset\", retry_after: 1}]\n",
			[]string{`m.cue:1:44: schema.required: retry_after needs fail`}},
		{"bad fail", "m.cue", "mock: routes: [{path: \"/a\", fail: \"explode\"}]\n",
			[]string{`m.cue:1:35: schema.type: mock.routes.0.fail: "explode" is not allowed`}},
		{"http with successful", "m.cue", "mock: routes: [{path: \"/a\", protocol: \"http\", successful: \"true\"}]\n",
			[]string{`m.cue:1:47: schema.field_not_allowed: successful is only for the opendialog protocol`}},
		{"body and outputs", "m.cue", "mock: routes: [{path: \"/a\", response: body: {}, outputs: x: \"1\"}]\n",
			[]string{`m.cue:1:39: schema.conflict: response.body replaces the OpenDialog answer`}},
		{"http outputs on a list body", "m.cue", "mock: routes: [{path: \"/a\", protocol: \"http\", response: body: [1], outputs: x: \"1\"}]\n",
			[]string{`m.cue:1:68: schema.type: outputs are merged into the body`}},
		{"no mock", "m.cue", "routes: []\n",
			[]string{`m.cue:1:1: schema.field_not_allowed: field "routes" not allowed`}},
		{"bad status", "m.cue", "mock: routes: [{path: \"/a\", response: status: 99}]\n",
			[]string{`m.cue:1:47: schema.type: mock.routes.0.response.status: 99 is not allowed: want an HTTP status from 200 to 599`}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := writeFiles(t, map[string]string{c.file: c.src})
			_, err := Load(os.DirFS(dir), "")
			var list diag.List
			if !errors.As(err, &list) {
				t.Fatalf("got %v, want diagnostics", err)
			}
			text := list.Error()
			t.Log("\n" + text)
		next:
			for _, w := range c.want {
				for _, line := range strings.Split(text, "\n") {
					if strings.Contains(line, w) {
						continue next
					}
				}
				t.Errorf("no diagnostic contains %q; got:\n%s", w, text)
			}
		})
	}
}

func TestParseFromMemory(t *testing.T) {
	cfg, err := Parse("inline.yaml", []byte("mock:\n  routes:\n    - path: /x\n      outputs:\n        y: input.a * 2\n"))
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(New(cfg, Options{}))
	defer ts.Close()
	r := do(t, nil, "POST", ts.URL+"/x", `{"input_data":{"attributes":{"a":21}}}`)
	if want := `{"successful":true,"output_data":{"attributes":{"y":42}}}` + "\n"; r.body != want {
		t.Fatalf("got %s, want %s", r.body, want)
	}
	_, err = Parse("inline.yaml", []byte("mock:\n  routes:\n    - path: /x\n      outputs:\n        y: input.a *\n"))
	if err == nil || !strings.Contains(err.Error(), "inline.yaml:5:") {
		t.Fatalf("got %v", err)
	}
}

// syncBuffer is a bytes.Buffer safe for concurrent use.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// waitFor polls cond for up to 5 seconds.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatal("condition not met within 5s")
		case <-time.After(10 * time.Millisecond):
		}
	}
}
