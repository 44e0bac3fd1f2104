package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/parleyhq/parley/mock"
)

// serveOutput is an io.Writer safe for concurrent use.
type serveOutput struct {
	mu sync.Mutex
	b  strings.Builder
}

func (o *serveOutput) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.b.Write(p)
}

func (o *serveOutput) String() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.b.String()
}

const serveAdminKey = "serve-admin-key-0123456789"

var serveListening = regexp.MustCompile(`listening on (http://127\.0\.0\.1:\d+)`)

// serveBase waits (bounded) for the server's address in out.
func serveBase(t *testing.T, out, errOut *serveOutput, done <-chan int) string {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		if m := serveListening.FindStringSubmatch(out.String()); m != nil {
			return m[1]
		}
		select {
		case code := <-done:
			t.Fatalf("parley serve ended early with %d:\n%s%s", code, out.String(), errOut.String())
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("not listening after 15s:\n%s%s", out.String(), errOut.String())
		}
	}
}

// serveDo sends a request with the admin key and decodes a 200 JSON answer into v.
func serveDo(t *testing.T, method, url, body string, v any) int {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Authorization", "Bearer "+serveAdminKey)
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode == 200 && v != nil {
		if len(b) > 0 && b[0] == '{' && strings.HasSuffix(url, "/incoming/webchat") {
			// One webchat message is a bare object (OpenDialog's WebchatIncomingController).
			b = append(append([]byte{'['}, b...), ']')
		}
		if err := json.Unmarshal(b, v); err != nil {
			t.Fatalf("%s %s: %v: %s", method, url, err, b)
		}
	}
	return resp.StatusCode
}

// TestServeWalkthrough runs `parley serve --dev` on the greeter scenario with
// the mock serving the full-name webhook, walks through the API, and stops
// the server with SIGTERM.
func TestServeWalkthrough(t *testing.T) {
	mcfg, err := mock.LoadPath("../../mocks/greeter.cue")
	if err != nil {
		t.Fatal(err)
	}
	m := mock.New(mcfg, mock.Options{})
	ms := httptest.NewServer(m)
	defer ms.Close()
	t.Setenv("GREETER_WEBHOOK_URL", ms.URL+"/full_name")
	t.Setenv(envAdminKeys, serveAdminKey)

	var out, errOut serveOutput
	done := make(chan int, 1)
	go func() {
		done <- run([]string{"serve", "../../scenarios/greeter", "--addr", "127.0.0.1:0", "--dev"}, streams{in: strings.NewReader(""), out: &out, err: &errOut})
	}()
	base := serveBase(t, &out, &errOut, done)
	stopped := false
	defer func() {
		if stopped {
			return
		}
		select {
		case <-done: // already ended: a signal now would kill the test binary
		default:
			syscall.Kill(os.Getpid(), syscall.SIGTERM)
			<-done
		}
	}()

	// The admin key comes from the environment: no key, no context.
	resp, err := http.Get(base + "/api/users/john/context")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 401 {
		t.Fatalf("without a key: %d", resp.StatusCode)
	}

	ctxURL := base + "/api/users/john/context"
	serveDo(t, "POST", ctxURL, `{"key":"first_name","value":"John"}`, nil)
	serveDo(t, "POST", ctxURL, `{"key":"last_name","value":"Smith"}`, nil)
	var msgs []struct {
		Type string `json:"type"`
		Data struct {
			Text string `json:"text"`
		} `json:"data"`
	}
	if code := serveDo(t, "POST", base+"/incoming/webchat", `{"notification":"message","user_id":"john","content":{"type":"chat_open"}}`, &msgs); code != 200 || len(msgs) != 1 || msgs[0].Type != "button" {
		t.Fatalf("chat_open: %d %+v", code, msgs)
	}
	serveDo(t, "POST", base+"/incoming/webchat", `{"notification":"message","user_id":"john","content":{"type":"button_response","callback_id":"ok","data":{"text":"OK"}}}`, &msgs)
	if len(msgs) != 1 || msgs[0].Data.Text != "Hello John Smith!" {
		t.Fatalf("OK: %+v", msgs)
	}
	var c struct {
		User map[string]any `json:"user"`
	}
	serveDo(t, "GET", ctxURL, "", &c)
	if c.User["action_status"] != true || c.User["full_name"] != "John Smith" {
		t.Fatalf("user context: %v", c.User)
	}
	if reqs := m.Requests(); len(reqs) != 1 || !strings.Contains(string(reqs[0].Body), `"first_name":"John"`) || !strings.Contains(string(reqs[0].Body), `"last_name":"Smith"`) {
		t.Fatalf("mock requests: %+v", reqs)
	}
	if code := serveDo(t, "GET", base+"/preview", "", nil); code != 200 {
		t.Fatalf("preview: %d", code)
	}

	syscall.Kill(os.Getpid(), syscall.SIGTERM)
	stopped = true
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("exit %d:\n%s", code, errOut.String())
		}
	case <-time.After(15 * time.Second):
		t.Fatal("parley serve did not stop within 15s of SIGTERM")
	}
	text := out.String()
	for _, want := range []string{"1 scenario(s) from ../../scenarios/greeter", "development mode", base + "/preview (append #key=ADMIN_KEY", "parley serve: stopped"} {
		if !strings.Contains(text, want) {
			t.Errorf("output lacks %q:\n%s", want, text)
		}
	}
	if strings.Contains(text+errOut.String(), serveAdminKey) {
		t.Error("the admin key was printed")
	}
}

const serveScenario = `scenarios: hello: conversations: main: {
	behaviors: ["starting"]
	scenes: main: {
		behaviors: ["starting"]
		turns: hi: {
			behaviors: ["starting", "open"]
			request: [{id: "intent.core.welcome"}]
			response: [{id: "hi", message: text: "VERSION"}]
		}
	}
}
`

// TestServeHotReload edits the scenario under a running server, then breaks
// it: the change is live, and the broken one is rejected with diagnostics
// while the previous version keeps answering.
func TestServeHotReload(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "hello.cue")
	// Written as an editor saves (a new file renamed over the old), so the
	// watcher never reads an emptied file, which it would rightly refuse and
	// which would add to the rejections the test counts.
	write := func(s string) {
		tmp := filepath.Join(dir, ".hello.cue.tmp")
		if err := os.WriteFile(tmp, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, file); err != nil {
			t.Fatal(err)
		}
	}
	write(strings.Replace(serveScenario, "VERSION", "one", 1))
	var out, errOut serveOutput
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan int, 1)
	go func() {
		root := newRootCmd(streams{in: strings.NewReader(""), out: &out, err: &errOut})
		root.SetArgs([]string{"serve", dir, "--addr", "127.0.0.1:0", "--admin-key", serveAdminKey, "--poll", "50ms"})
		code := 0
		if err := root.ExecuteContext(ctx); err != nil {
			code = 1
			errOut.Write([]byte(err.Error()))
		}
		done <- code
	}()
	base := serveBase(t, &out, &errOut, done)
	say := func() string {
		var msgs []struct {
			Data struct {
				Text string `json:"text"`
			} `json:"data"`
		}
		serveDo(t, "POST", base+"/incoming/webchat", `{"user_id":"u","content":{"type":"chat_open"}}`, &msgs)
		if len(msgs) != 1 {
			t.Fatalf("messages: %+v", msgs)
		}
		return msgs[0].Data.Text
	}
	type status struct {
		Version string `json:"version"`
		Reload  *struct {
			Outcome string `json:"outcome"`
		} `json:"reload"`
		Diagnostics []struct {
			Code string `json:"code"`
		} `json:"diagnostics"`
	}
	waitStatus := func(ok func(status) bool) status {
		deadline := time.Now().Add(15 * time.Second)
		for {
			var st status
			serveDo(t, "GET", base+"/api/scenarios", "", &st)
			if ok(st) {
				return st
			}
			if time.Now().After(deadline) {
				t.Fatalf("status not reached within 15s: %+v\n%s", st, errOut.String())
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	if got := say(); got != "one" {
		t.Fatalf("first version says %q", got)
	}
	first := waitStatus(func(status) bool { return true })

	write(strings.Replace(serveScenario, "VERSION", "two", 1))
	waitStatus(func(st status) bool {
		return st.Reload != nil && st.Reload.Outcome == "applied" && st.Version != first.Version
	})
	if got := say(); got != "two" {
		t.Fatalf("after the edit the bot says %q", got)
	}

	write(strings.Replace(serveScenario, "behaviors: [\"starting\", \"open\"]", "behaviours: 3", 1))
	st := waitStatus(func(st status) bool { return st.Reload != nil && st.Reload.Outcome == "rejected" })
	if len(st.Diagnostics) == 0 {
		t.Fatalf("a rejected reload without diagnostics: %+v", st)
	}
	if got := say(); got != "two" {
		t.Fatalf("after a broken edit the bot says %q", got)
	}
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{`parley_reloads_total{outcome="applied"} 1`, `parley_reloads_total{outcome="rejected"} 1`} {
		if !strings.Contains(string(metrics), want) {
			t.Errorf("metrics lack %s", want)
		}
	}

	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("exit %d: %s", code, errOut.String())
		}
	case <-time.After(15 * time.Second):
		t.Fatal("parley serve did not stop within 15s of cancellation")
	}
}

func TestServeRefusals(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "hello.cue"), []byte(strings.Replace(serveScenario, "VERSION", "one", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	bad := t.TempDir()
	if err := os.WriteFile(filepath.Join(bad, "bad.cue"), []byte("scenarios: x: conversations: 3\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv(envAPIKeys, "")
	t.Setenv(envAdminKeys, "")
	for _, tc := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"no keys on all interfaces", []string{"serve", dir, "--addr", "0.0.0.0:0"}, 2, "refusing to listen on 0.0.0.0:0 without keys"},
		{"no keys on a port only", []string{"serve", dir, "--addr", ":8080"}, 2, "refusing to listen on :8080 without keys"},
		{"bad address", []string{"serve", dir, "--addr", "nowhere"}, 2, `invalid --addr "nowhere"`},
		{"short key", []string{"serve", dir, "--addr", "127.0.0.1:0", "--api-key", "tiny"}, 2, "API key #1 is 4 characters long"},
		{"bad log level", []string{"serve", dir, "--addr", "127.0.0.1:0", "--log-level", "loud"}, 2, "invalid --log-level"},
		{"bad scenarios", []string{"serve", bad, "--addr", "127.0.0.1:0"}, 1, "problem(s)"},
		{"missing directory", []string{"serve", filepath.Join(dir, "missing"), "--addr", "127.0.0.1:0"}, 2, "missing: no such file or directory"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out, errOut serveOutput
			code := run(tc.args, streams{in: strings.NewReader(""), out: &out, err: &errOut})
			if code != tc.code || !strings.Contains(errOut.String(), tc.want) {
				t.Fatalf("exit %d, want %d; stderr:\n%s", code, tc.code, errOut.String())
			}
			if strings.Contains(errOut.String(), "tiny") {
				t.Fatal("the key was printed")
			}
		})
	}
}

// TestServeWebchatFlagErrors: --cors-origin, --webchat-settings and
// --webchat-dir are checked before the server listens.
func TestServeWebchatFlagErrors(t *testing.T) {
	t.Setenv("GREETER_WEBHOOK_URL", "http://127.0.0.1:1/full_name")
	bad := filepath.Join(t.TempDir(), "settings.json")
	if err := os.WriteFile(bad, []byte(`["not", "an object"]`), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--cors-origin", "shop.example.com"}, `invalid --cors-origin "shop.example.com"`},
		{[]string{"--cors-origin", "https://shop.example.com/path"}, "no path"},
		{[]string{"--webchat-settings", filepath.Join(t.TempDir(), "missing.json")}, "reading --webchat-settings"},
		{[]string{"--webchat-settings", bad}, "want a JSON object"},
		{[]string{"--webchat-dir", t.TempDir()}, "neither vendor/webchat/ nor js/app.js"},
	} {
		var out, errOut serveOutput
		code := run(append([]string{"serve", "../../scenarios/greeter", "--addr", "127.0.0.1:0", "--watch=false"}, tc.args...),
			streams{in: strings.NewReader(""), out: &out, err: &errOut})
		if code == 0 || !strings.Contains(errOut.String(), tc.want) || strings.Contains(out.String(), "listening") {
			t.Errorf("%v: exit %d\nstdout: %s\nstderr: %s", tc.args, code, out.String(), errOut.String())
		}
	}
}
