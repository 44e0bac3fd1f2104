package server_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/parleyhq/parley/engine"
	"github.com/parleyhq/parley/mock"
	"github.com/parleyhq/parley/plugins"
	_ "github.com/parleyhq/parley/plugins/interpreters"
	"github.com/parleyhq/parley/plugins/webhook"
	"github.com/parleyhq/parley/server"
)

const (
	apiKey   = "api-key-0123456789abcdef"
	adminKey = "admin-key-0123456789abcdef"
)

// devEnv returns the plugins of the global environment with a webhook kind
// in development mode, which may call the loopback mock.
func devEnv(t testing.TB) *plugins.Environment {
	t.Helper()
	env := plugins.NewEmptyEnvironment()
	for _, k := range plugins.Global().ActionKinds() {
		if k.Name == webhook.Name {
			continue
		}
		if err := env.RegisterAction(k); err != nil {
			t.Fatal(err)
		}
	}
	if err := env.RegisterAction(webhook.Kind(webhook.Options{AllowPrivate: true})); err != nil {
		t.Fatal(err)
	}
	for _, n := range plugins.Global().InterpreterNames() {
		in, _ := plugins.Global().Interpreter(n)
		if err := env.RegisterInterpreter(n, in); err != nil {
			t.Fatal(err)
		}
	}
	return env
}

// startMock serves the mock declarations of file with httptest.
func startMock(t testing.TB, file string) (*mock.Server, string) {
	t.Helper()
	cfg, err := mock.LoadPath(file)
	if err != nil {
		t.Fatalf("loading %s: %v", file, err)
	}
	m := mock.New(cfg, mock.Options{})
	hs := httptest.NewServer(m)
	t.Cleanup(func() { m.Close(); hs.Close() })
	return m, hs.URL
}

// openGreeter opens the greeter scenario calling the full-name webhook at mockURL.
func openGreeter(t testing.TB, mockURL string, opts ...engine.Option) *engine.Engine {
	t.Helper()
	t.Setenv("GREETER_WEBHOOK_URL", mockURL+"/full_name")
	e, err := engine.Open("../scenarios/greeter", append([]engine.Option{engine.WithEnvironment(devEnv(t))}, opts...)...)
	if err != nil {
		t.Fatalf("opening the greeter scenario: %v", err)
	}
	t.Cleanup(func() { e.Close() })
	return e
}

// startServer serves a server over e with httptest.
func startServer(t testing.TB, e *engine.Engine, opts server.Options) (*server.Server, string) {
	t.Helper()
	s, err := server.New(e, opts)
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(s.Handler())
	t.Cleanup(hs.Close)
	return s, hs.URL
}

var client = &http.Client{Timeout: 10 * time.Second}

// response is an HTTP answer, read.
type response struct {
	status int
	header http.Header
	body   []byte
}

// do sends a request. ctype "" sends no Content-Type; key "" sends no Authorization.
func do(t testing.TB, method, url, key, ctype, body string) response {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{resp.StatusCode, resp.Header, b}
}

// ok fails unless r is a 200 and decodes its JSON body into v.
func (r response) ok(t testing.TB, v any) {
	t.Helper()
	if r.status != http.StatusOK {
		t.Fatalf("status %d, want 200: %s", r.status, r.body)
	}
	if msgs, ok := v.(*[]server.WebchatMessage); ok {
		// The webchat answer: a bare object for one message, an array for several.
		m, err := server.DecodeAnswer(r.body)
		if err != nil {
			t.Fatalf("decoding %s: %v", r.body, err)
		}
		*msgs = m
		return
	}
	if v != nil {
		if err := json.Unmarshal(r.body, v); err != nil {
			t.Fatalf("decoding %s: %v", r.body, err)
		}
	}
}

// jsonError fails unless r is the JSON error status/code.
func (r response) jsonError(t testing.TB, status int, code string) string {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d: %s", r.status, status, r.body)
	}
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Fatalf("Content-Type %q, want JSON: %s", ct, r.body)
	}
	var e server.ErrorBody
	dec := json.NewDecoder(bytes.NewReader(r.body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&e); err != nil {
		t.Fatalf("error body %s: %v", r.body, err)
	}
	if e.Error.Code != code || e.Error.Message == "" {
		t.Fatalf("error %+v, want code %s and a message", e.Error, code)
	}
	return e.Error.Message
}

// webchat is a webchat request body.
func webchat(user, typ, text, callback string) string {
	b, _ := json.Marshal(server.WebchatRequest{
		Notification: "message", UserID: user, Author: user,
		Content: server.WebchatContent{Type: typ, Author: user, CallbackID: callback, Data: server.WebchatData{Text: text}},
	})
	return string(b)
}

// contexts is the body of the context API.
type contexts struct {
	User         map[string]any `json:"user"`
	Session      map[string]any `json:"session"`
	Conversation map[string]any `json:"conversation"`
	Global       map[string]any `json:"global"`
}

// text is the text of a webchat message ("" for null).
func text(m server.WebchatMessage) string {
	if m.Data.Text == nil {
		return ""
	}
	return *m.Data.Text
}
