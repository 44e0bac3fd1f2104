package server_test

import (
	"bufio"
	"context"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/parleyhq/parley/engine"
	"github.com/parleyhq/parley/plugins"
	"github.com/parleyhq/parley/server"
)

// noRedirects is a client that shows redirects instead of following them.
var noRedirects = &http.Client{
	Timeout:       10 * time.Second,
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

// doRaw sends a request with a raw body and the admin key, without following redirects.
func doRaw(t *testing.T, method, url string, body []byte) response {
	t.Helper()
	var req *http.Request
	var err error
	if body != nil {
		req, err = http.NewRequest(method, url, strings.NewReader(string(body)))
	} else {
		req, err = http.NewRequest(method, url, nil)
	}
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Authorization", "Bearer "+adminKey)
	resp, err := noRedirects.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	var b strings.Builder
	_, _ = bufio.NewReader(resp.Body).WriteTo(&b)
	return response{resp.StatusCode, resp.Header, []byte(b.String())}
}

// TestInvalidUTF8IDsDoNotMergeUsers sends user ids that JSON decoding would
// turn into the same string ("mallory\xff" and "mallory\xfe" both become
// "mallory\uFFFD", as do unpaired surrogate escapes): each is refused with a
// 400 that says why, and no user is created.
func TestInvalidUTF8IDsDoNotMergeUsers(t *testing.T) {
	e := openGreeter(t, "http://127.0.0.1:1")
	_, base := startServer(t, e, server.Options{AdminKeys: []string{adminKey}})
	chat := base + "/incoming/webchat"
	bodies := map[string]string{
		"raw 0xff":           "{\"user_id\":\"mallory\xff\",\"content\":{\"type\":\"chat_open\"}}",
		"raw 0xfe":           "{\"user_id\":\"mallory\xfe\",\"content\":{\"type\":\"chat_open\"}}",
		"escaped surrogate":  `{"user_id":"mallory\ud800","content":{"type":"chat_open"}}`,
		"another surrogate":  `{"user_id":"mallory\udbff","content":{"type":"chat_open"}}`,
		"raw byte elsewhere": "{\"user_id\":\"mallory\",\"content\":{\"type\":\"text\",\"data\":{\"text\":\"hi\xff\"}}}",
	}
	for name, body := range bodies {
		t.Run(name, func(t *testing.T) {
			msg := doRaw(t, "POST", chat, []byte(body)).jsonError(t, 400, server.CodeBadRequest)
			if !strings.Contains(msg, "UTF-8") && !strings.Contains(msg, "U+FFFD") {
				t.Errorf("the message does not say what is wrong: %s", msg)
			}
		})
	}
	// The same through the context API: the body and the path.
	msg := doRaw(t, "POST", base+"/api/users/mallory/context", []byte("{\"key\":\"first_name\",\"value\":\"M\xffx\"}")).jsonError(t, 400, server.CodeBadRequest)
	if !strings.Contains(msg, "UTF-8") {
		t.Errorf("context body: %s", msg)
	}
	for _, id := range []string{"mallory%FF", "mallory%FE", "mallory%EF%BF%BD"} {
		doRaw(t, "POST", base+"/api/users/"+id+"/context", []byte(`{"key":"first_name","value":"M"}`)).jsonError(t, 400, server.CodeBadRequest)
		doRaw(t, "GET", base+"/api/users/"+id+"/context", nil).jsonError(t, 400, server.CodeBadRequest)
	}
	doRaw(t, "GET", base+"/api/users/mallory%EF%BF%BD/traces", nil).jsonError(t, 400, server.CodeBadRequest)

	// Nothing was created: not as the replaced id, nor as the plain one.
	for _, id := range []string{"mallory%EF%BF%BD", "mallory"} {
		r := doRaw(t, "GET", base+"/api/users/"+id+"/context", nil)
		if r.status == http.StatusOK {
			t.Errorf("user %s exists: %s", id, r.body)
		}
	}
	// The engine refuses them too, for embedders.
	if _, err := e.Handle(context.Background(), "mallory\xff", chatOpen()); err == nil {
		t.Error("the engine accepted an invalid UTF-8 user id")
	}
}

// TestOutOfRangeNumberNamesTheField: a value JSON decoding cannot hold is
// reported as what it is, in the field where it is.
func TestOutOfRangeNumberNamesTheField(t *testing.T) {
	e := openGreeter(t, "http://127.0.0.1:1")
	_, base := startServer(t, e, server.Options{AdminKeys: []string{adminKey}})
	for _, v := range []string{"1e999", "-1e400"} {
		msg := doRaw(t, "POST", base+"/api/users/u1/context", []byte(`{"key":"n","value":`+v+`}`)).jsonError(t, 400, server.CodeBadRequest)
		if !strings.Contains(msg, "value") || !strings.Contains(msg, "out of range") || strings.Contains(msg, "must be a JSON object") {
			t.Errorf("%s: %s", v, msg)
		}
	}
	msg := doRaw(t, "POST", base+"/incoming/webchat", []byte(`{"user_id":"u1","content":{"type":"text","data":{"text":1e999}}}`)).jsonError(t, 400, server.CodeBadRequest)
	if !strings.Contains(msg, "content.data.text") {
		t.Errorf("webchat: %s", msg)
	}
}

// TestNonCanonicalPathsAreJSONErrors: dot-segments and empty segments are
// refused with the documented JSON error, never redirected (with an HTML
// body) to the cleaned path, which could be another user's.
func TestNonCanonicalPathsAreJSONErrors(t *testing.T) {
	e := openGreeter(t, "http://127.0.0.1:1")
	_, base := startServer(t, e, server.Options{AdminKeys: []string{adminKey}})
	doRaw(t, "POST", base+"/api/users/victim/context", []byte(`{"key":"first_name","value":"V"}`)).ok(t, nil)
	for _, p := range []string{
		"/api/users/x/../victim/context",
		"/api/users/./victim/context",
		"/api/users/%2e%2e/context",
		"//victim",
		"/api/users//context",
		"/api//users/victim/context",
		"/api/users/victim/context/.",
		"/preview/../healthz",
		"//",
	} {
		t.Run(p, func(t *testing.T) {
			for _, method := range []string{"GET", "POST"} {
				var body []byte
				if method == "POST" {
					body = []byte(`{"key":"first_name","value":"M"}`)
				}
				r := doRaw(t, method, base+p, body)
				if loc := r.header.Get("Location"); loc != "" {
					t.Fatalf("%s %s redirects to %s", method, p, loc)
				}
				msg := r.jsonError(t, 400, server.CodeBadRequest)
				if !strings.Contains(msg, "canonical") {
					t.Errorf("%s %s: %s", method, p, msg)
				}
			}
		})
	}
	var c contexts
	doRaw(t, "GET", base+"/api/users/victim/context", nil).ok(t, &c)
	if c.User["first_name"] != "V" {
		t.Errorf("victim's context changed: %+v", c.User)
	}
	// Canonical paths with a trailing slash still work where they did.
	if r := doRaw(t, "GET", base+"/preview/", nil); r.status != 200 {
		t.Errorf("/preview/: %d", r.status)
	}
	// A bad Range or a failing precondition on a preview file is ignored,
	// not a plain-text 416 or an empty 412.
	for h, v := range map[string]string{"Range": "bytes=999999-", "If-Match": `"nope"`, "If-Unmodified-Since": "Mon, 02 Jan 2006 15:04:05 GMT"} {
		req, _ := http.NewRequest("GET", base+"/preview/preview.js", nil)
		req.Header.Set(h, v)
		resp, err := noRedirects.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Errorf("%s: %s: %d", h, v, resp.StatusCode)
		}
	}
}

// TestRootRedirectsToPreview: a person opening the server's address gets the preview.
func TestRootRedirectsToPreview(t *testing.T) {
	e := openGreeter(t, "http://127.0.0.1:1")
	_, base := startServer(t, e, server.Options{AdminKeys: []string{adminKey}})
	r := doRaw(t, "GET", base+"/", nil)
	if r.status != http.StatusFound || r.header.Get("Location") != "/preview" {
		t.Fatalf("GET /: %d, Location %q", r.status, r.header.Get("Location"))
	}
	doRaw(t, "POST", base+"/", []byte(`{}`)).jsonError(t, 404, server.CodeNotFound)
	doRaw(t, "GET", base+"/nothing", nil).jsonError(t, 404, server.CodeNotFound)
}

// TestReadyzNeedsAnActiveScenario: a configuration where no scenario is
// active answers every turn with the default reply, so it is not ready.
func TestReadyzNeedsAnActiveScenario(t *testing.T) {
	dir := t.TempDir()
	src, err := os.ReadFile("../scenarios/booking/booking.cue")
	if err != nil {
		t.Fatal(err)
	}
	inactive := strings.Replace(string(src), "scenarios: booking: {", "scenarios: booking: {\n\tactive: false", 1)
	if inactive == string(src) {
		t.Fatal("the booking scenario's opening line moved")
	}
	if err := os.WriteFile(filepath.Join(dir, "booking.cue"), []byte(inactive), 0o644); err != nil {
		t.Fatal(err)
	}
	e, err := engine.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	_, base := startServer(t, e, server.Options{})
	msg := do(t, "GET", base+"/readyz", "", "", "").jsonError(t, 503, server.CodeUnavailable)
	if !strings.Contains(msg, "no active scenario") {
		t.Errorf("readyz: %s", msg)
	}
}

// TestAnswersBeforeHandlers checks the answers net/http writes before any
// handler runs, as the package documentation lists them: they are the only
// ones that are not JSON.
func TestAnswersBeforeHandlers(t *testing.T) {
	e := openGreeter(t, "http://127.0.0.1:1")
	s, err := server.New(e, server.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, ln) }()
	t.Cleanup(func() { cancel(); <-done })
	send := func(raw string) string {
		t.Helper()
		c, err := net.DialTimeout("tcp", ln.Addr().String(), 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := c.Write([]byte(raw)); err != nil {
			t.Fatal(err)
		}
		line, err := bufio.NewReader(c).ReadString('\n')
		if err != nil {
			t.Fatalf("reading the answer to %.40q: %v", raw, err)
		}
		return strings.TrimSpace(line)
	}
	big := "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + strings.Repeat("a", server.MaxHeaderBytes+8192) + "\r\n\r\n"
	for raw, want := range map[string]string{
		big:                             "HTTP/1.1 431",
		"NOT A REQUEST LINE\r\n\r\n":    "HTTP/1.1 400",
		"GET /healthz HTTP/1.1\r\n\r\n": "HTTP/1.1 400", // no Host
		"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n": "HTTP/1.1 200",
	} {
		if got := send(raw); !strings.HasPrefix(got, want) {
			t.Errorf("%.40q: %s, want %s", raw, got, want)
		}
	}
}

func chatOpen() plugins.Utterance { return plugins.Utterance{Type: plugins.ChatOpen} }
