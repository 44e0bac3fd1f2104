package server_test

import (
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/parleyhq/parley/engine"
	"github.com/parleyhq/parley/server"
)

func openBench(t testing.TB, opts ...engine.Option) *engine.Engine {
	t.Helper()
	e, err := engine.OpenFS(fstest.MapFS{"main.cue": {Data: []byte(benchScenario)}}, append([]engine.Option{engine.WithEnvironment(devEnv(t))}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return e
}

func TestHistoryAndDelete(t *testing.T) {
	e := openBench(t)
	_, base := startServer(t, e, server.Options{APIKeys: []string{apiKey}, AdminKeys: []string{adminKey}})
	for _, text := range []string{"hello", "hi there", "what?"} {
		do(t, "POST", base+"/incoming/webchat", apiKey, "application/json", webchat("ann", "text", text, "")).ok(t, nil)
	}
	var h server.HistoryResponse
	do(t, "GET", base+"/api/users/ann/history", adminKey, "", "").ok(t, &h)
	if len(h.History) != 3 {
		t.Fatalf("history has %d turns, want 3: %+v", len(h.History), h)
	}
	first := h.History[0]
	if !strings.Contains(string(first.Utterance), `"hello"`) || fmt.Sprint(first.Intents) != "[hello hello_back]" ||
		!strings.Contains(string(first.Messages), "Hello") || first.ConfigVersion != e.Config().Version || first.Time.IsZero() {
		t.Fatalf("first turn = %+v", first)
	}
	if !strings.Contains(string(h.History[2].Utterance), `"what?"`) {
		t.Fatalf("last turn = %+v", h.History[2])
	}
	do(t, "GET", base+"/api/users/ann/history?limit=1", adminKey, "", "").ok(t, &h)
	if len(h.History) != 1 || !strings.Contains(string(h.History[0].Utterance), `"what?"`) {
		t.Fatalf("history?limit=1 = %+v", h)
	}
	do(t, "GET", base+"/api/users/ann/history?limit=zero", adminKey, "", "").jsonError(t, http.StatusBadRequest, server.CodeBadRequest)
	do(t, "GET", base+"/api/users/ann/history", apiKey, "", "").jsonError(t, http.StatusForbidden, server.CodeForbidden)
	do(t, "GET", base+"/api/users/ann/history", "", "", "").jsonError(t, http.StatusUnauthorized, server.CodeUnauthorized)
	do(t, "GET", base+"/api/users/nobody/history", adminKey, "", "").jsonError(t, http.StatusNotFound, server.CodeNotFound)
	// A user with state but no turn yet has an empty history.
	do(t, "POST", base+"/api/users/bob/context", adminKey, "application/json", `{"key":"name","value":"Bob"}`).ok(t, nil)
	do(t, "GET", base+"/api/users/bob/history", adminKey, "", "").ok(t, &h)
	if h.History == nil || len(h.History) != 0 {
		t.Fatalf("bob's history = %#v, want []", h.History)
	}

	// DELETE erases state, history and traces.
	do(t, "DELETE", base+"/api/users/ann", apiKey, "", "").jsonError(t, http.StatusForbidden, server.CodeForbidden)
	if r := do(t, "DELETE", base+"/api/users/ann", adminKey, "", ""); r.status != http.StatusNoContent {
		t.Fatalf("DELETE = %d %s", r.status, r.body)
	}
	do(t, "GET", base+"/api/users/ann/context", adminKey, "", "").jsonError(t, http.StatusNotFound, server.CodeNotFound)
	do(t, "GET", base+"/api/users/ann/history", adminKey, "", "").jsonError(t, http.StatusNotFound, server.CodeNotFound)
	do(t, "GET", base+"/api/users/ann/traces", adminKey, "", "").jsonError(t, http.StatusNotFound, server.CodeNotFound)
	if hist, _ := e.History(t.Context(), "ann", 0); len(hist) != 0 {
		t.Fatalf("the engine still has ann's history: %+v", hist)
	}
	if r := do(t, "DELETE", base+"/api/users/never-seen", adminKey, "", ""); r.status != http.StatusNoContent {
		t.Fatalf("DELETE of an unknown user = %d %s", r.status, r.body)
	}
	r := do(t, "PUT", base+"/api/users/ann", adminKey, "", "")
	r.jsonError(t, http.StatusMethodNotAllowed, server.CodeMethodNotAllowed)
	if r.header.Get("Allow") != "DELETE" {
		t.Fatalf("Allow = %q", r.header.Get("Allow"))
	}
	// The user starts afresh: its next turn is its first.
	do(t, "POST", base+"/incoming/webchat", apiKey, "application/json", webchat("ann", "text", "hello", "")).ok(t, nil)
	do(t, "GET", base+"/api/users/ann/history", adminKey, "", "").ok(t, &h)
	if len(h.History) != 1 {
		t.Fatalf("after DELETE and one turn, history = %+v", h)
	}
}

// fakeClock is a clock tests move by hand.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *fakeClock) add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// turnFrom sends a turn of user as if relayed for the addresses of xff ("" sends no header).
func turnFrom(t *testing.T, base, user, xff string) response {
	t.Helper()
	req, err := http.NewRequest("POST", base+"/incoming/webchat", strings.NewReader(webchat(user, "text", "hello", "")))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if xff != "" {
		req.Header.Set("X-Forwarded-For", xff)
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{resp.StatusCode, resp.Header, b}
}

func TestNewUserRateLimit(t *testing.T) {
	clock := &fakeClock{now: time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)}
	e := openBench(t)
	_, base := startServer(t, e, server.Options{NewUserRate: 1, NewUserBurst: 2, Now: clock.Now})
	turnFrom(t, base, "a", "").ok(t, nil)
	turnFrom(t, base, "b", "").ok(t, nil)
	r := turnFrom(t, base, "c", "")
	msg := r.jsonError(t, http.StatusTooManyRequests, server.CodeRateLimited)
	if r.header.Get("Retry-After") != "1" || !strings.Contains(msg, "too many new users from this client address") {
		t.Fatalf("Retry-After %q, message %q", r.header.Get("Retry-After"), msg)
	}
	// The refused turn created nothing.
	if c, _ := e.Context(t.Context(), "c"); len(c.User)+len(c.Session) != 0 || c.Conversation["current_conversation"] != "" {
		t.Fatalf("a refused new user has state: %+v", c)
	}
	// Known users are not new: their turns go on.
	for i := 0; i < 5; i++ {
		turnFrom(t, base, "a", "").ok(t, nil)
	}
	// Without a trusted proxy, X-Forwarded-For is not believed.
	turnFrom(t, base, "d", "198.51.100.7").jsonError(t, http.StatusTooManyRequests, server.CodeRateLimited)
	clock.add(time.Second)
	turnFrom(t, base, "c", "").ok(t, nil)
	turnFrom(t, base, "d", "").jsonError(t, http.StatusTooManyRequests, server.CodeRateLimited)
}

func TestNewUserRateLimitBehindProxy(t *testing.T) {
	clock := &fakeClock{now: time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)}
	e := openBench(t)
	_, base := startServer(t, e, server.Options{NewUserRate: 1, NewUserBurst: 1, Now: clock.Now,
		TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("10.0.0.0/8")}})
	// Each client behind the proxy has a bucket of its own.
	turnFrom(t, base, "u1", "203.0.113.1").ok(t, nil)
	turnFrom(t, base, "u2", "203.0.113.2").ok(t, nil)
	turnFrom(t, base, "u3", "203.0.113.1").jsonError(t, http.StatusTooManyRequests, server.CodeRateLimited)
	// The client is the last address not of a trusted proxy: what the
	// client wrote before it is not believed.
	turnFrom(t, base, "u4", "192.0.2.99, 203.0.113.2, 10.1.2.3").jsonError(t, http.StatusTooManyRequests, server.CodeRateLimited)
	turnFrom(t, base, "u5", "203.0.113.2, 192.0.2.50").ok(t, nil)
	// A header that is not an address list counts as the proxy itself.
	turnFrom(t, base, "u6", "garbage").ok(t, nil)
	turnFrom(t, base, "u7", "").jsonError(t, http.StatusTooManyRequests, server.CodeRateLimited)
	// Disabled: any number of new users.
	_, open := startServer(t, openBench(t), server.Options{NewUserRate: -1})
	for i := 0; i < 300; i++ {
		turnFrom(t, open, fmt.Sprint("n", i), "").ok(t, nil)
	}
}
