package webhook_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parleyhq/parley/expression"
	"github.com/parleyhq/parley/plugins"
	"github.com/parleyhq/parley/plugins/webhook"
	"github.com/parleyhq/parley/plugins/webhook/webhooktest"
)

// newAction builds a webhook action from a JSON configuration, allowing
// loopback targets (the test servers listen on 127.0.0.1) unless opts says otherwise.
func newAction(t testing.TB, opts webhook.Options, cfg string, inputs, outputs []string) *webhook.Action {
	t.Helper()
	a, err := webhook.New(opts, plugins.ActionConfig{Scenario: "test", Name: "act", Config: json.RawMessage(cfg), Inputs: inputs, Outputs: outputs})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { _ = a.Close() })
	return a
}

var dev = webhook.Options{AllowPrivate: true, Secrets: webhook.SecretsMap{}}

func cfgJSON(url string, extra string) string {
	if extra != "" {
		extra = "," + extra
	}
	return fmt.Sprintf(`{"url":%q%s}`, url, extra)
}

// failed checks the invariants of every failure and returns the call.
func failed(t *testing.T, res plugins.ActionResult, outcome string, within time.Duration) plugins.Call {
	t.Helper()
	if res.Success {
		t.Fatalf("Success = true, want a failure with outcome %s", outcome)
	}
	if res.Error == "" {
		t.Fatal("a failure without Error")
	}
	if res.Outputs != nil {
		t.Fatalf("a failure with outputs %v", res.Outputs)
	}
	if len(res.Calls) != 1 {
		t.Fatalf("%d calls in the trace, want 1", len(res.Calls))
	}
	c := res.Calls[0]
	if c.Outcome != outcome {
		t.Fatalf("outcome %q, want %q (error: %s)", c.Outcome, outcome, res.Error)
	}
	if c.Error != res.Error {
		t.Fatalf("call error %q differs from result error %q", c.Error, res.Error)
	}
	if c.Duration > within {
		t.Fatalf("the call took %s, more than %s", c.Duration, within)
	}
	if _, err := json.Marshal(c); err != nil {
		t.Fatalf("the trace entry does not marshal: %v", err)
	}
	t.Logf("outcome %s after %d attempts in %s: %s", c.Outcome, c.Attempts, c.Duration.Round(time.Millisecond), res.Error)
	return c
}

func run(a plugins.Action, inputs map[string]any) plugins.ActionResult {
	return a.Run(context.Background(), plugins.ActionRequest{Scenario: "test", Action: "act", UserID: "u1", Inputs: inputs})
}

func TestOpenDialogSuccess(t *testing.T) {
	var gotBody []byte
	var gotHeader http.Header
	srv := webhooktest.NewServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotBody, _ = io.ReadAll(r.Body)
		gotHeader = r.Header.Clone()
		if r.Method != http.MethodPost {
			t.Errorf("method %s, want POST", r.Method)
		}
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"successful":true,"output_data":{"attributes":{"full_name":"John Smith","age":42,"score":4.5,"big":1e3,"gone":null,"policy":{"type":"gold","limits":[1,2]},"items":["a",{"b":true}]}}}`)
	}))
	a := newAction(t, dev, cfgJSON(srv.URL+"/od", ""), []string{"first_name", "last_name"}, []string{"full_name"})
	res := run(a, map[string]any{"first_name": "John", "last_name": "Smith"})
	if !res.Success {
		t.Fatalf("failure: %s", res.Error)
	}
	if want := `{"input_data":{"attributes":{"first_name":"John","last_name":"Smith"}}}`; string(gotBody) != want {
		t.Fatalf("request body\n got %s\nwant %s", gotBody, want)
	}
	if ct := gotHeader.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("Content-Type %q", ct)
	}
	if gotHeader.Get("Idempotency-Key") == "" {
		t.Fatalf("missing Idempotency-Key: %v", gotHeader)
	}
	if ua, acc := gotHeader.Get("User-Agent"), gotHeader.Get("Accept"); ua != "Parley-Webhook/1" || acc != "application/json" {
		t.Fatalf("User-Agent %q, Accept %q", ua, acc)
	}
	if _, ok := gotHeader["Accept-Encoding"]; ok {
		t.Fatalf("Accept-Encoding %q sent without being configured", gotHeader.Get("Accept-Encoding"))
	}
	o := res.Outputs
	if o["full_name"] != "John Smith" || o["age"] != 42 || o["score"] != 4.5 || o["big"] != 1000 {
		t.Fatalf("outputs %#v", o)
	}
	if v, ok := o["gone"]; !ok || v != nil {
		t.Fatalf("a null attribute must be an output with a nil value: %#v", o)
	}
	policy := o["policy"].(map[string]any)
	if policy["type"] != "gold" || policy["limits"].([]any)[1] != 2 {
		t.Fatalf("nested object %#v", policy)
	}
	if items := o["items"].([]any); items[0] != "a" || items[1].(map[string]any)["b"] != true {
		t.Fatalf("nested array %#v", items)
	}
	c := res.Calls[0]
	if c.Outcome != webhook.OutcomeOK || c.Status != 200 || c.Attempts != 1 || c.Method != "POST" || c.URL != srv.URL+"/od" {
		t.Fatalf("call %+v", c)
	}
	if string(c.Request) != string(gotBody) || !strings.Contains(string(c.Response), `"John Smith"`) {
		t.Fatalf("trace bodies %s / %s", c.Request, c.Response)
	}
}

func TestEmptyInputsSendAnObject(t *testing.T) {
	var got []byte
	srv := webhooktest.NewServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got, _ = io.ReadAll(r.Body)
		io.WriteString(w, `{"successful":true}`)
	}))
	res := run(newAction(t, dev, cfgJSON(srv.URL, ""), nil, nil), nil)
	if !res.Success || string(got) != `{"input_data":{"attributes":{}}}` || len(res.Outputs) != 0 {
		t.Fatalf("success %v, body %s, outputs %v, error %s", res.Success, got, res.Outputs, res.Error)
	}
}

func TestSlowServicePastTheTimeout(t *testing.T) {
	var hits atomic.Int32
	srv := webhooktest.NewServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		select {
		case <-r.Context().Done():
		case <-time.After(3 * time.Second):
		}
	}))
	a := newAction(t, dev, cfgJSON(srv.URL, `"timeout":"100ms","deadline":"2s","retry":{"attempts":2,"backoff":"10ms"}`), nil, nil)
	res := run(a, nil)
	c := failed(t, res, webhook.OutcomeTimeout, 1500*time.Millisecond)
	if c.Attempts != 2 || hits.Load() != 2 {
		t.Fatalf("%d attempts, %d requests; want 2 (timeouts are retried)", c.Attempts, hits.Load())
	}
	if !strings.Contains(res.Error, "100ms timeout") {
		t.Fatalf("error %q does not name the timeout", res.Error)
	}
}

func TestSlowServicePastTheDeadline(t *testing.T) {
	srv := webhooktest.NewServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(3 * time.Second):
		}
	}))
	a := newAction(t, dev, cfgJSON(srv.URL, `"timeout":"300ms","deadline":"500ms","retry":{"attempts":5,"backoff":"10ms"}`), nil, nil)
	start := time.Now()
	res := run(a, nil)
	failed(t, res, webhook.OutcomeDeadline, 800*time.Millisecond)
	if el := time.Since(start); el < 450*time.Millisecond || el > 800*time.Millisecond {
		t.Fatalf("returned after %s; want about the 500ms deadline", el)
	}
	if !strings.Contains(res.Error, "500ms deadline") {
		t.Fatalf("error %q does not name the deadline", res.Error)
	}
}

func TestCallerCancel(t *testing.T) {
	srv := webhooktest.NewServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body) // so the server notices the client hanging up
		select {
		case <-r.Context().Done():
		case <-time.After(3 * time.Second):
		}
	}))
	a := newAction(t, dev, cfgJSON(srv.URL, ""), nil, nil)
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	res := a.Run(ctx, plugins.ActionRequest{})
	failed(t, res, webhook.OutcomeCanceled, time.Second)
}

func TestInternalServerErrorIsNotRetried(t *testing.T) {
	var hits atomic.Int32
	srv := webhooktest.NewServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.WriteHeader(http.StatusInternalServerError)
		io.WriteString(w, `{"successful":false,"errors":[{"message":"database down"}]}`)
	}))
	res := run(newAction(t, dev, cfgJSON(srv.URL, ""), nil, nil), nil)
	c := failed(t, res, webhook.OutcomeHTTPError, time.Second)
	if c.Status != 500 || c.Attempts != 1 || hits.Load() != 1 {
		t.Fatalf("status %d, %d attempts, %d hits; want 500 once", c.Status, c.Attempts, hits.Load())
	}
	if !strings.Contains(res.Error, "500 Internal Server Error") || !strings.Contains(res.Error, "database down") {
		t.Fatalf("error %q", res.Error)
	}
}

func TestUnavailableThenSuccessIsRetriedWithOneIdempotencyKey(t *testing.T) {
	var mu sync.Mutex
	var keys, bodies []string
	srv := webhooktest.NewServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		keys = append(keys, r.Header.Get("Idempotency-Key"))
		bodies = append(bodies, string(b))
		n := len(keys)
		mu.Unlock()
		if n < 3 {
			w.WriteHeader([]int{http.StatusServiceUnavailable, http.StatusBadGateway}[n-1])
			return
		}
		io.WriteString(w, `{"successful":true,"output_data":{"attributes":{"ok":true}}}`)
	}))
	a := newAction(t, dev, cfgJSON(srv.URL, `"retry":{"attempts":3,"backoff":"20ms"}`), nil, nil)
	res := run(a, map[string]any{"x": 1})
	if !res.Success || res.Outputs["ok"] != true {
		t.Fatalf("failure: %s", res.Error)
	}
	if c := res.Calls[0]; c.Attempts != 3 || c.Status != 200 {
		t.Fatalf("call %+v", c)
	}
	if keys[0] == "" || keys[0] != keys[1] || keys[1] != keys[2] {
		t.Fatalf("idempotency keys differ across attempts: %q", keys)
	}
	if bodies[0] != bodies[2] || bodies[0] == "" {
		t.Fatalf("bodies differ across attempts: %q", bodies)
	}
	// A new call has a new key.
	res = run(a, nil)
	if !res.Success || res.Calls[0].Headers["Idempotency-Key"] == keys[0] {
		t.Fatalf("a second call reused the key or failed: %+v", res.Calls[0])
	}
}

func TestRetriesExhausted(t *testing.T) {
	var hits atomic.Int32
	srv := webhooktest.NewServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.WriteHeader(http.StatusGatewayTimeout)
	}))
	a := newAction(t, dev, cfgJSON(srv.URL, `"retry":{"attempts":3,"backoff":"5ms"}`), nil, nil)
	c := failed(t, run(a, nil), webhook.OutcomeHTTPError, time.Second)
	if c.Attempts != 3 || hits.Load() != 3 || c.Status != 504 {
		t.Fatalf("%d attempts, %d hits, status %d", c.Attempts, hits.Load(), c.Status)
	}
}

func TestTooManyRequestsHonoursRetryAfter(t *testing.T) {
	var mu sync.Mutex
	var times []time.Time
	srv := webhooktest.NewServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		times = append(times, time.Now())
		n := len(times)
		mu.Unlock()
		if n == 1 {
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusTooManyRequests)
			return
		}
		io.WriteString(w, `{"successful":true}`)
	}))
	a := newAction(t, dev, cfgJSON(srv.URL, `"deadline":"3s","retry":{"attempts":2,"backoff":"1ms","max_backoff":"5ms"}`), nil, nil)
	res := run(a, nil)
	if !res.Success || res.Calls[0].Attempts != 2 {
		t.Fatalf("success %v, attempts %d: %s", res.Success, res.Calls[0].Attempts, res.Error)
	}
	if gap := times[1].Sub(times[0]); gap < 950*time.Millisecond {
		t.Fatalf("retried after %s; Retry-After asked for 1s (and beats max_backoff)", gap)
	}
}

func TestTooManyRequestsRetryAfterPastTheDeadline(t *testing.T) {
	var hits atomic.Int32
	srv := webhooktest.NewServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.Header().Set("Retry-After", time.Now().Add(time.Minute).UTC().Format(http.TimeFormat))
		w.WriteHeader(http.StatusTooManyRequests)
	}))
	a := newAction(t, dev, cfgJSON(srv.URL, `"deadline":"2s"`), nil, nil)
	c := failed(t, run(a, nil), webhook.OutcomeHTTPError, 500*time.Millisecond)
	if c.Status != 429 || hits.Load() != 1 || !strings.Contains(c.Error, "past the deadline") {
		t.Fatalf("status %d, %d hits, error %q", c.Status, hits.Load(), c.Error)
	}
}

// resetConn hijacks the connection and closes it with a TCP reset.
func resetConn(t *testing.T, w http.ResponseWriter) {
	conn, _, err := w.(http.Hijacker).Hijack()
	if err != nil {
		t.Errorf("hijack: %v", err)
		return
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.SetLinger(0) // close with RST, not FIN
	}
	conn.Close()
}

func TestConnectionReset(t *testing.T) {
	var hits atomic.Int32
	srv := webhooktest.NewServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		resetConn(t, w)
	}))
	a := newAction(t, dev, cfgJSON(srv.URL, `"retry":{"attempts":3,"backoff":"5ms"}`), nil, nil)
	c := failed(t, run(a, nil), webhook.OutcomeConnectionError, time.Second)
	if c.Attempts != 3 || hits.Load() != 3 {
		t.Fatalf("%d attempts, %d hits; want 3 (connection errors are retried)", c.Attempts, hits.Load())
	}
}

func TestConnectionResetThenSuccess(t *testing.T) {
	var hits atomic.Int32
	srv := webhooktest.NewServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if hits.Add(1) == 1 {
			resetConn(t, w)
			return
		}
		io.WriteString(w, `{"successful":true,"output_data":{"attributes":{"n":1}}}`)
	}))
	res := run(newAction(t, dev, cfgJSON(srv.URL, `"retry":{"backoff":"5ms"}`), nil, nil), nil)
	if !res.Success || res.Calls[0].Attempts != 2 || res.Outputs["n"] != 1 {
		t.Fatalf("success %v attempts %d outputs %v: %s", res.Success, res.Calls[0].Attempts, res.Outputs, res.Error)
	}
}

// cutBody answers 200 with a Content-Length larger than the body it sends,
// then closes the connection: the body ends early.
func cutBody(t *testing.T, w http.ResponseWriter) {
	t.Helper()
	conn, bufw, err := w.(http.Hijacker).Hijack()
	if err != nil {
		t.Error(err)
		return
	}
	bufw.WriteString("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"successful\":tr")
	bufw.Flush()
	conn.Close()
}

func TestBodyCutShortThenSuccess(t *testing.T) {
	var hits atomic.Int32
	srv := webhooktest.NewServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if hits.Add(1) == 1 {
			cutBody(t, w)
			return
		}
		io.WriteString(w, `{"successful":true,"output_data":{"attributes":{"n":1}}}`)
	}))
	res := run(newAction(t, dev, cfgJSON(srv.URL, `"retry":{"backoff":"5ms"}`), nil, nil), nil)
	if !res.Success || res.Calls[0].Attempts != 2 || res.Outputs["n"] != 1 {
		t.Fatalf("success %v attempts %d outputs %v: %s", res.Success, res.Calls[0].Attempts, res.Outputs, res.Error)
	}
}

func TestBodyCutShortEveryTime(t *testing.T) {
	var hits atomic.Int32
	srv := webhooktest.NewServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		cutBody(t, w)
	}))
	for _, retry := range []string{`"retry":{"attempts":1}`, `"retry":{"attempts":3,"backoff":"5ms"}`} {
		hits.Store(0)
		c := failed(t, run(newAction(t, dev, cfgJSON(srv.URL, retry), nil, nil), nil), webhook.OutcomeConnectionError, time.Second)
		if int(hits.Load()) != c.Attempts || !strings.Contains(c.Error, "closed before the end of the answer's body") {
			t.Fatalf("%s: %d attempts, %d hits, error %q", retry, c.Attempts, hits.Load(), c.Error)
		}
	}
}

// A service that sends its headers and then stalls its body runs into the
// attempt timeout like one that stalls before answering.
func TestBodyStalledPastTheTimeout(t *testing.T) {
	var hits atomic.Int32
	srv := webhooktest.NewServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.Header().Set("Content-Length", "100")
		w.WriteHeader(http.StatusOK)
		io.WriteString(w, `{"successful":`)
		w.(http.Flusher).Flush()
		select {
		case <-r.Context().Done():
		case <-time.After(3 * time.Second):
		}
	}))
	a := newAction(t, dev, cfgJSON(srv.URL, `"timeout":"100ms","deadline":"2s","retry":{"attempts":2,"backoff":"10ms"}`), nil, nil)
	c := failed(t, run(a, nil), webhook.OutcomeTimeout, 1500*time.Millisecond)
	if c.Attempts != 2 || hits.Load() != 2 || c.Status != http.StatusOK {
		t.Fatalf("%d attempts, %d requests, status %d; want 2 attempts of a 200", c.Attempts, hits.Load(), c.Status)
	}
}

func TestInvalidGzipIsNotRetried(t *testing.T) {
	var hits atomic.Int32
	srv := webhooktest.NewServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.Header().Set("Content-Encoding", "gzip")
		io.WriteString(w, `{"successful":true}`)
	}))
	c := failed(t, run(newAction(t, dev, cfgJSON(srv.URL, `"retry":{"attempts":3,"backoff":"5ms"}`), nil, nil), nil), webhook.OutcomeInvalidResponse, time.Second)
	if c.Attempts != 1 || hits.Load() != 1 || !strings.Contains(c.Error, "not valid gzip") {
		t.Fatalf("%d attempts, %d hits, error %q", c.Attempts, hits.Load(), c.Error)
	}
}

func TestConnectionRefused(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	a := newAction(t, dev, cfgJSON("http://"+addr+"/x", `"retry":{"attempts":2,"backoff":"5ms"}`), nil, nil)
	c := failed(t, run(a, nil), webhook.OutcomeConnectionError, time.Second)
	if c.Attempts != 2 || !strings.Contains(c.Error, "refused") {
		t.Fatalf("attempts %d, error %q", c.Attempts, c.Error)
	}
}

func TestInvalidJSON(t *testing.T) {
	for name, body := range map[string]string{
		"not json":         `<html>oops</html>`,
		"trailing":         `{"successful":true} x`,
		"array":            `[1,2]`,
		"no successful":    `{"output_data":{"attributes":{}}}`,
		"attributes array": `{"successful":true,"output_data":{"attributes":[1]}}`,
		"empty":            ``,
	} {
		t.Run(name, func(t *testing.T) {
			srv := webhooktest.NewServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, body) }))
			c := failed(t, run(newAction(t, dev, cfgJSON(srv.URL, ""), nil, nil), nil), webhook.OutcomeInvalidResponse, time.Second)
			if c.Status != 200 || c.Attempts != 1 {
				t.Fatalf("status %d attempts %d", c.Status, c.Attempts)
			}
		})
	}
}

func TestTenMegabyteBody(t *testing.T) {
	srv := webhooktest.NewServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		chunk := []byte(strings.Repeat("x", 64<<10))
		io.WriteString(w, `{"successful":true,"output_data":{"attributes":{"blob":"`)
		for i := 0; i < 160; i++ { // 10 MiB
			if _, err := w.Write(chunk); err != nil {
				return // the client hung up, as it should
			}
		}
		io.WriteString(w, `"}}}`)
	}))
	c := failed(t, run(newAction(t, dev, cfgJSON(srv.URL, ""), nil, nil), nil), webhook.OutcomeTooLarge, 2*time.Second)
	if c.Attempts != 1 || !strings.Contains(c.Error, "1048576-byte limit") {
		t.Fatalf("attempts %d error %q", c.Attempts, c.Error)
	}
	if len(c.Response) > 8<<10 {
		t.Fatalf("the trace keeps %d bytes of the body", len(c.Response))
	}
}

// A configured Accept-Encoding: gzip gets gzip answers decoded, and the
// response size limit bounds the decoded bytes, so a small compressed body
// cannot blow up past it.
func TestConfiguredGzipIsDecodedWithinTheLimit(t *testing.T) {
	gz := func(s string) []byte {
		var buf bytes.Buffer
		zw := gzip.NewWriter(&buf)
		io.WriteString(zw, s)
		zw.Close()
		return buf.Bytes()
	}
	small := gz(`{"successful":true,"output_data":{"attributes":{"full_name":"John Smith"}}}`)
	bomb := gz(`{"successful":true,"output_data":{"attributes":{"blob":"` + strings.Repeat("x", 4<<20) + `"}}}`)
	srv := webhooktest.NewServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Accept-Encoding") != "gzip" {
			t.Errorf("Accept-Encoding %q", r.Header.Get("Accept-Encoding"))
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Encoding", "gzip")
		if r.URL.Path == "/bomb" {
			w.Write(bomb)
			return
		}
		w.Write(small)
	}))
	if len(bomb) > 64<<10 {
		t.Fatalf("the bomb is %d bytes compressed", len(bomb))
	}
	hdr := `"headers":{"Accept-Encoding":"gzip"}`
	res := run(newAction(t, dev, cfgJSON(srv.URL, hdr), nil, []string{"full_name"}), nil)
	if !res.Success || res.Outputs["full_name"] != "John Smith" {
		t.Fatalf("success %v, outputs %v, error %s", res.Success, res.Outputs, res.Error)
	}
	c := failed(t, run(newAction(t, dev, cfgJSON(srv.URL+"/bomb", hdr), nil, nil), nil), webhook.OutcomeTooLarge, 2*time.Second)
	if !strings.Contains(c.Error, "1048576-byte limit") {
		t.Fatalf("error %q", c.Error)
	}
}

func TestSuccessfulFalse(t *testing.T) {
	srv := webhooktest.NewServer(t, webhooktest.OpenDialog(webhooktest.FullName))
	a := newAction(t, dev, cfgJSON(srv.URL, ""), nil, nil)
	c := failed(t, run(a, map[string]any{"first_name": "John"}), webhook.OutcomeUnsuccessful, time.Second)
	if !strings.Contains(c.Error, "Missing expected attributes: 'last_name'") || c.Status != 200 {
		t.Fatalf("error %q status %d", c.Error, c.Status)
	}
	// The same service answers the greeter's call.
	res := run(a, map[string]any{"first_name": "John", "last_name": "Smith"})
	if !res.Success || res.Outputs["full_name"] != "John Smith" {
		t.Fatalf("greeter call: %v %v %s", res.Success, res.Outputs, res.Error)
	}
}

func TestRedirectIsNotFollowed(t *testing.T) {
	var followed atomic.Int32
	mux := http.NewServeMux()
	mux.HandleFunc("/old", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/new", http.StatusFound) })
	mux.HandleFunc("/new", func(w http.ResponseWriter, r *http.Request) {
		followed.Add(1)
		io.WriteString(w, `{"successful":true}`)
	})
	srv := webhooktest.NewServer(t, mux)
	c := failed(t, run(newAction(t, dev, cfgJSON(srv.URL+"/old", ""), nil, nil), nil), webhook.OutcomeRedirect, time.Second)
	if followed.Load() != 0 || c.Status != 302 || !strings.Contains(c.Error, `"/new"`) {
		t.Fatalf("followed %d, status %d, error %q", followed.Load(), c.Status, c.Error)
	}
}

// fakeClock is a settable clock for the breaker.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func TestBreakerOpensAndRecovers(t *testing.T) {
	var hits atomic.Int32
	var healthy atomic.Bool
	srv := webhooktest.NewServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		if !healthy.Load() {
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		io.WriteString(w, `{"successful":true}`)
	}))
	clock := &fakeClock{t: time.Unix(1_700_000_000, 0)}
	opts := dev
	opts.Now = clock.Now
	a := newAction(t, opts, cfgJSON(srv.URL, `"breaker":{"failures":3,"cooldown":"30s"}`), nil, nil)

	for i := 0; i < 3; i++ {
		failed(t, run(a, nil), webhook.OutcomeHTTPError, time.Second)
	}
	// Open: fails fast, the service is not called.
	c := failed(t, run(a, nil), webhook.OutcomeBreakerOpen, 50*time.Millisecond)
	if hits.Load() != 3 || c.Attempts != 0 || !strings.Contains(c.Error, "next trial call in 30s") {
		t.Fatalf("hits %d attempts %d error %q", hits.Load(), c.Attempts, c.Error)
	}
	// After the cooldown one trial call goes through; it fails, so the breaker opens again.
	clock.Add(31 * time.Second)
	failed(t, run(a, nil), webhook.OutcomeHTTPError, time.Second)
	failed(t, run(a, nil), webhook.OutcomeBreakerOpen, 50*time.Millisecond)
	if hits.Load() != 4 {
		t.Fatalf("hits %d, want 4", hits.Load())
	}
	// The service recovers: the next trial closes the breaker.
	healthy.Store(true)
	clock.Add(31 * time.Second)
	for i := 0; i < 3; i++ {
		if res := run(a, nil); !res.Success {
			t.Fatalf("call %d after recovery: %s", i, res.Error)
		}
	}
	if hits.Load() != 7 {
		t.Fatalf("hits %d, want 7", hits.Load())
	}
}

func TestBreakerIgnoresAnswersTheServiceChoseToGive(t *testing.T) {
	srv := webhooktest.NewServer(t, webhooktest.OpenDialog(func(map[string]any) (map[string]any, error) {
		return nil, errors.New("no such customer")
	}))
	a := newAction(t, dev, cfgJSON(srv.URL, `"breaker":{"failures":1}`), nil, nil)
	for i := 0; i < 3; i++ {
		failed(t, run(a, nil), webhook.OutcomeUnsuccessful, time.Second)
	}
}

func TestPrivateAddressRefused(t *testing.T) {
	var hits atomic.Int32
	srv := webhooktest.NewServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		io.WriteString(w, `{"successful":true}`)
	}))
	port := srv.URL[strings.LastIndexByte(srv.URL, ':')+1:]
	prod := webhook.Options{Secrets: webhook.SecretsMap{}}
	for _, url := range []string{
		srv.URL,                             // a literal loopback address
		"http://localhost:" + port,          // a name resolving to loopback: refused at dial time
		"http://[::ffff:127.0.0.1]:" + port, // IPv4-mapped IPv6
	} {
		t.Run(url, func(t *testing.T) {
			c := failed(t, run(newAction(t, prod, cfgJSON(url, ""), nil, nil), nil), webhook.OutcomeRefused, time.Second)
			if c.Attempts != 1 || !strings.Contains(c.Error, "loopback addresses are not allowed") {
				t.Fatalf("attempts %d error %q", c.Attempts, c.Error)
			}
		})
	}
	if hits.Load() != 0 {
		t.Fatalf("the refused service was called %d times", hits.Load())
	}
	// The action's own opt-in allows it.
	if res := run(newAction(t, prod, cfgJSON(srv.URL, `"allow_private":true`), nil, nil), nil); !res.Success {
		t.Fatalf("allow_private: %s", res.Error)
	}
}

func TestTemplatedURLSchemeRefused(t *testing.T) {
	a := newAction(t, dev, cfgJSON("{{ input.url }}", ""), []string{"url"}, nil)
	for _, u := range []string{"file:///etc/passwd", "gopher://x", "http://user:pw@example.com/"} {
		failed(t, run(a, map[string]any{"url": u}), webhook.OutcomeRefused, time.Second)
	}
}

func TestHTTPProtocolAgainstAJSONAPI(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /users/{id}", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Api-Key") != "k3y" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		if r.PathValue("id") == "404" {
			w.WriteHeader(http.StatusNotFound)
			io.WriteString(w, `{"error":"not found"}`)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-Rate-Remaining", "99")
		fmt.Fprintf(w, `{"id":%s,"name":{"first":"John","last":"Smith"},"tags":["vip"],"email":"j@example.com"}`, r.PathValue("id"))
	})
	mux.HandleFunc("POST /orders", func(w http.ResponseWriter, r *http.Request) {
		var in map[string]any
		if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		w.WriteHeader(http.StatusCreated)
		json.NewEncoder(w).Encode(map[string]any{"order": in, "id": "o-1"})
	})
	srv := webhooktest.NewServer(t, mux)
	opts := webhook.Options{AllowPrivate: true, Secrets: webhook.SecretsMap{"API_KEY": "k3y"}}

	get := newAction(t, opts, `{
		"protocol": "http",
		"url": "`+srv.URL+`/users/{{ input.id }}",
		"headers": {"X-Api-Key": "{{ secret.API_KEY }}"},
		"success": "response.status == 200 && response.body.id == input.id",
		"outputs": {
			"full_name": "response.body.name.first + ' ' + response.body.name.last",
			"remaining": "int(response.headers['x-rate-remaining'])"
		}
	}`, []string{"id"}, []string{"full_name", "remaining", "email"})
	res := run(get, map[string]any{"id": 7})
	if !res.Success {
		t.Fatalf("GET failed: %s", res.Error)
	}
	if res.Outputs["full_name"] != "John Smith" || res.Outputs["remaining"] != 99 || res.Outputs["email"] != "j@example.com" {
		t.Fatalf("outputs %#v", res.Outputs)
	}
	if c := res.Calls[0]; c.Method != "GET" || c.URL != srv.URL+"/users/7" || c.Request != nil {
		t.Fatalf("call %+v", c)
	}
	c := failed(t, run(get, map[string]any{"id": 404}), webhook.OutcomeHTTPError, time.Second)
	if c.Status != 404 || !strings.Contains(c.Error, "success (") {
		t.Fatalf("status %d error %q", c.Status, c.Error)
	}

	post := newAction(t, opts, `{
		"protocol": "http",
		"url": "`+srv.URL+`/orders",
		"body": {"sku": "input.sku", "qty": "input.qty * 2", "note": "'gift'", "fixed": 3, "list": ["input.sku", true]},
		"outputs": {"order_id": "response.body.id", "echo": "response.body.order"}
	}`, []string{"sku", "qty"}, nil)
	res = run(post, map[string]any{"sku": "A1", "qty": 2})
	if !res.Success {
		t.Fatalf("POST failed: %s", res.Error)
	}
	echo := res.Outputs["echo"].(map[string]any)
	if res.Outputs["order_id"] != "o-1" || echo["qty"] != 4 || echo["note"] != "gift" || echo["fixed"] != 3 || echo["list"].([]any)[0] != "A1" {
		t.Fatalf("outputs %#v", res.Outputs)
	}
	if res.Calls[0].Method != "POST" || res.Calls[0].Status != 201 {
		t.Fatalf("call %+v", res.Calls[0])
	}

	// Without body, POST sends the inputs.
	inputs := newAction(t, opts, `{"protocol":"http","method":"POST","url":"`+srv.URL+`/orders","outputs":{"echo":"response.body.order"}}`, nil, nil)
	res = run(inputs, map[string]any{"sku": "B2"})
	if !res.Success || res.Outputs["echo"].(map[string]any)["sku"] != "B2" {
		t.Fatalf("inputs body: %v %s", res.Outputs, res.Error)
	}
}

func TestSecretsAreResolvedAndNeverTraced(t *testing.T) {
	const token, key, query = "s3cr3t-t0ken", "k\"ey/42", "qk777"
	var gotAuth, gotKey, gotQuery string
	srv := webhooktest.NewServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotAuth, gotKey, gotQuery = r.Header.Get("Authorization"), r.Header.Get("X-Key"), r.URL.Query().Get("key")
		// A careless service echoes the credentials back, in a body and an error.
		w.WriteHeader(http.StatusBadRequest)
		json.NewEncoder(w).Encode(map[string]any{"successful": false, "errors": []any{map[string]any{"message": "bad token " + gotAuth + " key " + gotKey + " query " + gotQuery}}})
	}))
	opts := webhook.Options{AllowPrivate: true, Secrets: webhook.SecretsMap{"TOKEN": token, "API_KEY": key, "QUERY_KEY": query}}
	a := newAction(t, opts, `{
		"url": "`+srv.URL+`/x?key={{ secret.QUERY_KEY }}&u={{ input.user }}",
		"headers": {"Authorization": "Bearer {{ secret.TOKEN }}", "X-Key": "{{ secret.API_KEY }}", "X-Echo": "{{ secret[\"TOKEN\"] }}-{{ input.user }}"}
	}`, []string{"user"}, nil)
	res := run(a, map[string]any{"user": "ann"})
	if gotAuth != "Bearer "+token || gotKey != key || gotQuery != query {
		t.Fatalf("the service got Authorization %q, X-Key %q, key %q", gotAuth, gotKey, gotQuery)
	}
	c := failed(t, res, webhook.OutcomeHTTPError, time.Second)
	all, _ := json.Marshal(res)
	for _, secret := range []string{token, key, query, `k\"ey/42`, `k\u0022ey`} {
		if strings.Contains(string(all), secret) {
			t.Fatalf("secret %q in the result: %s", secret, all)
		}
	}
	if c.Headers["Authorization"] != "Bearer [REDACTED]" || c.Headers["X-Echo"] != "[REDACTED]-ann" {
		t.Fatalf("trace headers %v", c.Headers)
	}
	if c.URL != srv.URL+"/x?key=[REDACTED]&u=ann" || !strings.Contains(res.Error, "bad token Bearer [REDACTED] key [REDACTED] query [REDACTED]") {
		t.Fatalf("url %q error %q", c.URL, res.Error)
	}
	t.Logf("trace: %s", all)
}

func TestSecretInAFailingURLIsRedacted(t *testing.T) {
	opts := webhook.Options{Secrets: webhook.SecretsMap{"HOST_TOKEN": "tok-9f8e"}} // production policy
	a := newAction(t, opts, cfgJSON("http://127.0.0.1:1/{{ secret.HOST_TOKEN }}", ""), nil, nil)
	res := run(a, nil)
	failed(t, res, webhook.OutcomeRefused, time.Second)
	if all, _ := json.Marshal(res); strings.Contains(string(all), "tok-9f8e") {
		t.Fatalf("secret in %s", all)
	}
}

func TestMissingSecretFailsBeforeSending(t *testing.T) {
	var hits atomic.Int32
	srv := webhooktest.NewServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits.Add(1) }))
	a := newAction(t, dev, cfgJSON(srv.URL, `"headers":{"Authorization":"Bearer {{ secret.NOPE_NOT_SET }}"}`), nil, nil)
	c := failed(t, run(a, nil), webhook.OutcomeRequestError, time.Second)
	if hits.Load() != 0 || !strings.Contains(c.Error, "secret NOPE_NOT_SET is not set") {
		t.Fatalf("hits %d error %q", hits.Load(), c.Error)
	}
}

// TestSignatureVerifiedAsAReceiverWould checks the signature with the
// receiver's own code: recompute HMAC-SHA256 over timestamp "." raw body.
func TestSignatureVerifiedAsAReceiverWould(t *testing.T) {
	const secret = "whsec-0123"
	var mu sync.Mutex
	var verified []string
	srv := webhooktest.NewServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		ts := r.Header.Get("X-Parley-Timestamp")
		sig := r.Header.Get("X-Parley-Signature")
		sec, err := strconv.ParseInt(ts, 10, 64)
		if err != nil || time.Since(time.Unix(sec, 0)).Abs() > 5*time.Minute {
			http.Error(w, "stale timestamp", http.StatusUnauthorized)
			return
		}
		mac := hmac.New(sha256.New, []byte(secret))
		mac.Write([]byte(ts + "."))
		mac.Write(body)
		want := "sha256=" + hex.EncodeToString(mac.Sum(nil))
		if !hmac.Equal([]byte(sig), []byte(want)) {
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
		if err := webhook.Verify(secret, ts, sig, body, 5*time.Minute, time.Now()); err != nil {
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
		mu.Lock()
		verified = append(verified, string(body))
		mu.Unlock()
		io.WriteString(w, `{"successful":true}`)
	}))
	opts := webhook.Options{AllowPrivate: true, Secrets: webhook.SecretsMap{"SIGNING_KEY": secret}}
	a := newAction(t, opts, cfgJSON(srv.URL, `"signing":{"secret":"secret.SIGNING_KEY"}`), nil, nil)
	res := run(a, map[string]any{"name": "Zoë <b>"})
	if !res.Success || len(verified) != 1 {
		t.Fatalf("not verified: %s", res.Error)
	}
	if all, _ := json.Marshal(res); strings.Contains(string(all), secret) {
		t.Fatalf("the signing secret is in the trace: %s", all)
	}
	// The wrong key fails verification.
	bad := newAction(t, webhook.Options{AllowPrivate: true, Secrets: webhook.SecretsMap{"SIGNING_KEY": "other"}},
		cfgJSON(srv.URL, `"signing":{"secret":"SIGNING_KEY"}`), nil, nil)
	c := failed(t, run(bad, nil), webhook.OutcomeHTTPError, time.Second)
	if c.Status != 401 {
		t.Fatalf("status %d", c.Status)
	}
	if err := webhook.Verify(secret, "1", "sha256=00", nil, time.Minute, time.Now()); err == nil {
		t.Fatal("Verify accepted a stale timestamp")
	}
}

// recordHeaders starts a service answering answer(r) and returns it with a
// function listing the headers of every request it received, in order.
func recordHeaders(t *testing.T, answer func(*http.Request) string) (*httptest.Server, func() []http.Header) {
	var mu sync.Mutex
	var got []http.Header
	srv := webhooktest.NewServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		got = append(got, r.Header.Clone())
		mu.Unlock()
		io.WriteString(w, answer(r))
	}))
	return srv, func() []http.Header {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(got)
	}
}

func TestTraceParentPropagation(t *testing.T) {
	srv, headers := recordHeaders(t, func(*http.Request) string { return `{"successful":true}` })
	a := newAction(t, dev, cfgJSON(srv.URL, ""), nil, nil)
	const incoming = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	ctx := plugins.ContextWithTraceParent(context.Background(), incoming)
	traced := a.Run(ctx, plugins.ActionRequest{})
	untraced := run(a, nil)
	if !traced.Success || !untraced.Success {
		t.Fatal(traced.Error, untraced.Error)
	}
	got := headers()
	if tp := got[0].Values("Traceparent"); len(tp) != 1 || tp[0] != incoming || traced.Calls[0].Headers["Traceparent"] != incoming {
		t.Fatalf("propagated traceparent %q, traced %q", tp, traced.Calls[0].Headers["Traceparent"])
	}
	if tp, ok := got[1]["Traceparent"]; ok {
		t.Fatalf("a traceparent %q without a trace context", tp)
	}
	if _, ok := untraced.Calls[0].Headers["Traceparent"]; ok {
		t.Fatal("a traceparent in the trace of an untraced call")
	}
}

// Calls recycle their request state: nothing of one call (headers, keys,
// traces) may show in the next, and a result stays intact after later calls.
func TestCallsShareNothing(t *testing.T) {
	srv, headers := recordHeaders(t, func(r *http.Request) string {
		return `{"successful":true,"output_data":{"attributes":{"n":"` + r.URL.Path + `"}}}`
	})
	opts := webhook.Options{AllowPrivate: true, Secrets: webhook.SecretsMap{"T": "tok"}}
	with := newAction(t, opts, cfgJSON(srv.URL+"/with", `"headers":{"Authorization":"Bearer {{ secret.T }}","X-Extra":"1"}`), nil, []string{"n"})
	without := newAction(t, opts, cfgJSON(srv.URL+"/without", ""), nil, []string{"n"})
	first := run(with, nil)
	second := run(without, nil)
	got := headers()
	if len(got) != 2 || got[1].Get("Authorization") != "" || got[1].Get("X-Extra") != "" {
		t.Fatalf("the second call sent %v", got[1])
	}
	if got[0].Get("Idempotency-Key") == got[1].Get("Idempotency-Key") {
		t.Fatal("two calls with one idempotency key")
	}
	if first.Outputs["n"] != "/with" || first.Calls[0].Headers["X-Extra"] != "1" || first.Calls[0].URL != srv.URL+"/with" {
		t.Fatalf("the first result changed after a later call: %v %+v", first.Outputs, first.Calls[0])
	}
	if second.Outputs["n"] != "/without" || second.Calls[0].Headers["X-Extra"] != "" || second.Calls[0].Headers["Authorization"] != "" {
		t.Fatalf("second result %v %+v", second.Outputs, second.Calls[0])
	}
}

func TestConcurrentRuns(t *testing.T) {
	srv := webhooktest.NewServer(t, webhooktest.OpenDialog(webhooktest.FullName))
	a := newAction(t, webhook.Options{AllowPrivate: true, Secrets: webhook.SecretsMap{"T": "tok"}},
		cfgJSON(srv.URL, `"headers":{"Authorization":"Bearer {{ secret.T }}"}`), nil, nil)
	var wg sync.WaitGroup
	errs := make(chan string, 64)
	for g := 0; g < 16; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 20; i++ {
				last := fmt.Sprintf("S%d-%d", g, i)
				res := run(a, map[string]any{"first_name": "J", "last_name": last})
				if !res.Success || res.Outputs["full_name"] != "J "+last {
					errs <- fmt.Sprintf("%v %v %s", res.Success, res.Outputs, res.Error)
					return
				}
			}
		}(g)
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}

func TestConfigurationErrors(t *testing.T) {
	cases := []struct {
		name, cfg string
		outputs   []string
		field     string
		code      string
		offset    int // -1: not an expression error
	}{
		{"header expression", `{"url":"https://x.example","headers":{"Authorization":"Bearer {{ secret. }}"}}`, nil, "headers.Authorization", "expr.syntax", -2},
		{"unknown input", `{"url":"https://x.example/{{ input.nope }}"}`, nil, "url", "expr.unknown_name", 27},
		{"unterminated", `{"url":"https://x.example/{{ input.a"}`, nil, "url", "template.syntax", 18},
		{"scheme", `{"url":"ftp://x.example"}`, nil, "url", "", -1},
		{"opendialog method", `{"url":"https://x.example","method":"GET"}`, nil, "method", "", -1},
		{"opendialog body", `{"url":"https://x.example","body":"input"}`, nil, "body", "", -1},
		{"reserved header", `{"url":"https://x.example","headers":{"Idempotency-Key":"x"}}`, nil, "headers.Idempotency-Key", "", -1},
		{"bad duration", `{"url":"https://x.example","timeout":"5 parsecs"}`, nil, "timeout", "", -1},
		{"success not bool", `{"protocol":"http","url":"https://x.example","success":"response.status"}`, nil, "success", "", 0},
		{"undeclared output", `{"protocol":"http","url":"https://x.example","outputs":{"b":"response.body"}}`, []string{"a"}, "outputs.b", "", -1},
		{"get body", `{"protocol":"http","method":"GET","url":"https://x.example","body":{"a":"1"}}`, nil, "body", "", -1},
		{"body expression", `{"protocol":"http","url":"https://x.example","body":{"a":{"b":"input.x +"}}}`, nil, "body.a.b", "expr.syntax", -2},
		{"signing secret", `{"url":"https://x.example","signing":{"secret":"not a name"}}`, nil, "signing.secret", "", -1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			inputs := []string{"a", "x"}
			_, err := webhook.New(dev, plugins.ActionConfig{Name: "act", Config: json.RawMessage(tc.cfg), Inputs: inputs, Outputs: tc.outputs})
			if err == nil {
				t.Fatal("no error")
			}
			var fe *plugins.FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("not a FieldError: %v", err)
			}
			if fe.Field != tc.field {
				t.Fatalf("field %q, want %q (%v)", fe.Field, tc.field, err)
			}
			var ee *expression.Error
			isExpr := errors.As(fe.Err, &ee)
			if tc.offset == -1 {
				if isExpr {
					t.Fatalf("an expression error %v", ee)
				}
				t.Logf("%v", err)
				return
			}
			if !isExpr || fe.Code != ee.Code || (tc.code != "" && ee.Code != tc.code) {
				t.Fatalf("error %v (code %q), want an expression error with code %q", err, fe.Code, tc.code)
			}
			if tc.offset >= 0 && ee.Offset != tc.offset {
				t.Fatalf("offset %d, want %d (%v)", ee.Offset, tc.offset, ee)
			}
			t.Logf("%v at offset %d", err, ee.Offset)
		})
	}
}

func TestLiteralHeaderAllowedAndRedacted(t *testing.T) {
	var got string
	srv := webhooktest.NewServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r.Header.Get("Authorization")
		io.WriteString(w, `{"successful":true}`)
	}))
	res := run(newAction(t, dev, cfgJSON(srv.URL, `"headers":{"authorization":"Bearer abc123"}`), nil, nil), nil)
	if !res.Success || got != "Bearer abc123" || res.Calls[0].Headers["Authorization"] != "Bearer [REDACTED]" {
		t.Fatalf("got %q, trace %v, %s", got, res.Calls[0].Headers, res.Error)
	}
}
