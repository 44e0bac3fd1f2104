package server_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/parleyhq/parley/diag"
	"github.com/parleyhq/parley/engine"
	"github.com/parleyhq/parley/reload"
	"github.com/parleyhq/parley/server"
)

// TestSeedWalkthrough is the OpenDialog webhook walkthrough through the API:
// set first_name and last_name with the context API, open the chat, press
// OK; the full-name webhook (the mock) is called with both names and the
// user context holds its answer.
func TestSeedWalkthrough(t *testing.T) {
	m, mockURL := startMock(t, "../mocks/greeter.cue")
	e := openGreeter(t, mockURL)
	_, base := startServer(t, e, server.Options{APIKeys: []string{apiKey}, AdminKeys: []string{adminKey}})
	ctxURL := base + "/api/users/john/context"

	var c contexts
	do(t, "POST", ctxURL, adminKey, "application/json", `{"key":"first_name","value":"John"}`).ok(t, &c)
	if c.User["first_name"] != "John" {
		t.Fatalf("after setting first_name: %v", c.User)
	}
	do(t, "POST", ctxURL, adminKey, "application/json", `{"key":"user.last_name","value":"Smith"}`).ok(t, &c)

	var msgs []server.WebchatMessage
	do(t, "POST", base+"/incoming/webchat", apiKey, "application/json", webchat("john", "chat_open", "", "")).ok(t, &msgs)
	hi := "Hi! Press OK."
	want := []server.WebchatMessage{{Author: "them", Type: "button", Intent: "welcome_response",
		Data: server.WebchatMessageData{Text: &hi, Buttons: []server.WebchatButton{{Text: "OK", Display: true, CallbackID: "ok"}},
			ClearAfterInteraction: true}}}
	if len(msgs) == 1 {
		msgs[0].Data.Time, msgs[0].Data.Date = "", ""
	}
	if !reflect.DeepEqual(msgs, want) {
		t.Fatalf("chat_open answered %+v, want %+v", msgs, want)
	}

	do(t, "POST", base+"/incoming/webchat", apiKey, "application/json", webchat("john", "button_response", "OK", "ok")).ok(t, &msgs)
	if len(msgs) != 1 || text(msgs[0]) != "Hello John Smith!" || msgs[0].Type != "text" || msgs[0].Intent != "greeting" {
		t.Fatalf("pressing OK answered %+v", msgs)
	}

	do(t, "GET", ctxURL, adminKey, "", "").ok(t, &c)
	if c.User["action_status"] != true || c.User["full_name"] != "John Smith" {
		t.Fatalf("user context after the walkthrough: %v", c.User)
	}

	reqs := m.Requests()
	if len(reqs) != 1 || reqs[0].Path != "/full_name" || reqs[0].Status != 200 {
		t.Fatalf("mock requests: %+v", reqs)
	}
	var body struct {
		InputData struct {
			Attributes map[string]any `json:"attributes"`
		} `json:"input_data"`
	}
	if err := json.Unmarshal(reqs[0].Body, &body); err != nil {
		t.Fatal(err)
	}
	if body.InputData.Attributes["first_name"] != "John" || body.InputData.Attributes["last_name"] != "Smith" {
		t.Fatalf("the webhook was sent %s", reqs[0].Body)
	}

	var traces server.TracesResponse
	do(t, "GET", base+"/api/users/john/traces", adminKey, "", "").ok(t, &traces)
	if len(traces.Traces) != 2 || traces.Traces[0].Utterance.Type != "chat_open" {
		t.Fatalf("traces: %+v", traces.Traces)
	}
	acts := traces.Traces[1].Actions
	if len(acts) != 1 || acts[0].Action != "full_name" || !acts[0].Success || len(acts[0].Calls) != 1 || acts[0].Calls[0].Outcome != "ok" {
		t.Fatalf("trace of OK: %+v", acts)
	}

	metrics := string(do(t, "GET", base+"/metrics", "", "", "").body)
	for _, want := range []string{
		`parley_turns_total{outcome="ok"} 2`,
		`parley_webhook_calls_total{action="full_name",outcome="ok"} 1`,
		`parley_webhook_call_duration_seconds_count{action="full_name",outcome="ok"} 1`,
		`parley_intents_selected_total{intent="greeting",scenario="greeter"} 1`,
		`parley_intents_selected_total{intent="ok",scenario="greeter"} 1`,
		`parley_actions_total{action="full_name",outcome="success"} 1`,
		`parley_turn_duration_seconds_count 2`,
		`parley_no_matches_total 0`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

// TestWebchatMessageFormat checks the OpenDialog message JSON byte for byte.
func TestWebchatMessageFormat(t *testing.T) {
	clock := time.Date(2024, 5, 1, 14, 7, 0, 0, time.UTC)
	e := openGreeter(t, "http://127.0.0.1:1", engine.WithClock(func() time.Time { return clock }))
	_, base := startServer(t, e, server.Options{Location: time.UTC})
	r := do(t, "POST", base+"/incoming/webchat", "", "application/json", webchat("u1", "chat_open", "", ""))
	// One message is a bare object (core 1.x WebchatIncomingController::receive),
	// its data as WebchatButtonMessage::getData and CallbackButton::getData build it.
	want := `{"author":"them","type":"button","intent":"welcome_response","data":{"text":"Hi! Press OK.","disable_text":false,"internal":false,"hidetime":false,"hideavatar":false,"time":"02:07 PM","date":"Wed 1 May","buttons":[{"text":"OK","display":true,"type":"","callback_id":"ok","value":null}],"external":false,"clear_after_interaction":true}}` + "\n"
	if r.status != 200 || string(r.body) != want {
		t.Fatalf("got %d %s\nwant %s", r.status, r.body, want)
	}
	// Text with no match gets the no-match answer, counted in the metrics.
	var msgs []server.WebchatMessage
	do(t, "POST", base+"/incoming/webchat", "", "application/json", webchat("u1", "text", "what <is> \"this\"?", "")).ok(t, &msgs)
	if len(msgs) != 1 || text(msgs[0]) == "" {
		t.Fatalf("no-match answer: %+v", msgs)
	}
	metrics := string(do(t, "GET", base+"/metrics", "", "", "").body)
	for _, want := range []string{`parley_no_matches_total 1`, `parley_turns_total{outcome="no_match"} 1`} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

// TestBadRequestsChangeNothing sends bad requests to every endpoint: each
// gets a 4xx with a JSON error, and the user's context and traces stay as they were.
func TestBadRequestsChangeNothing(t *testing.T) {
	e := openGreeter(t, "http://127.0.0.1:1")
	_, base := startServer(t, e, server.Options{APIKeys: []string{apiKey}, AdminKeys: []string{adminKey}, MaxBodyBytes: 4096, MaxTextLength: 100})
	chat, ctxURL := base+"/incoming/webchat", base+"/api/users/u1/context"
	do(t, "POST", ctxURL, adminKey, "application/json", `{"key":"first_name","value":"Ada"}`).ok(t, nil)
	do(t, "POST", chat, apiKey, "application/json", webchat("u1", "chat_open", "", "")).ok(t, nil)
	snapshot := func() (contexts, int) {
		var c contexts
		do(t, "GET", ctxURL, adminKey, "", "").ok(t, &c)
		var tr server.TracesResponse
		do(t, "GET", base+"/api/users/u1/traces", adminKey, "", "").ok(t, &tr)
		return c, len(tr.Traces)
	}
	before, traces := snapshot()
	if before.User["first_name"] != "Ada" || before.Conversation["current_intent"] != "welcome_response" || traces != 1 {
		t.Fatalf("setup: %+v, %d traces", before, traces)
	}
	big := `{"user_id":"u1","content":{"type":"text","data":{"text":"` + strings.Repeat("a", 5000) + `"}}}`
	long := webchat("u1", "text", strings.Repeat("é", 101), "")
	cases := []struct {
		name, method, url, key, ctype, body string
		status                              int
		code                                string
	}{
		{"webchat without key", "POST", chat, "", "application/json", webchat("u1", "text", "hi", ""), 401, server.CodeUnauthorized},
		{"webchat with a wrong key", "POST", chat, "wrong-key-0123456789abcdef", "application/json", webchat("u1", "text", "hi", ""), 401, server.CodeUnauthorized},
		{"webchat with a key prefix", "POST", chat, apiKey[:10], "application/json", webchat("u1", "text", "hi", ""), 401, server.CodeUnauthorized},
		{"webchat bad JSON", "POST", chat, apiKey, "application/json", `{"user_id":"u1",`, 400, server.CodeBadRequest},
		{"webchat syntax error", "POST", chat, apiKey, "application/json", `{"user_id":u1}`, 400, server.CodeBadRequest},
		{"webchat array body", "POST", chat, apiKey, "application/json", `[1,2]`, 400, server.CodeBadRequest},
		{"webchat wrong field type", "POST", chat, apiKey, "application/json", `{"user_id":42,"content":{"type":"chat_open"}}`, 400, server.CodeBadRequest},
		{"webchat empty body", "POST", chat, apiKey, "application/json", ``, 400, server.CodeBadRequest},
		{"webchat text/plain", "POST", chat, apiKey, "text/plain", webchat("u1", "chat_open", "", ""), 415, server.CodeUnsupportedMediaType},
		{"webchat form", "POST", chat, apiKey, "application/x-www-form-urlencoded", "user_id=u1", 415, server.CodeUnsupportedMediaType},
		{"webchat no content type", "POST", chat, apiKey, "", webchat("u1", "chat_open", "", ""), 415, server.CodeUnsupportedMediaType},
		{"webchat latin1 JSON", "POST", chat, apiKey, "application/json; charset=latin1", webchat("u1", "chat_open", "", ""), 415, server.CodeUnsupportedMediaType},
		{"webchat oversized body", "POST", chat, apiKey, "application/json", big, 413, server.CodeTooLarge},
		{"webchat missing user_id", "POST", chat, apiKey, "application/json", `{"content":{"type":"chat_open"}}`, 400, server.CodeBadRequest},
		{"webchat control char user_id", "POST", chat, apiKey, "application/json", webchat("u\n1", "chat_open", "", ""), 400, server.CodeBadRequest},
		{"webchat unknown content type", "POST", chat, apiKey, "application/json", webchat("u1", "video", "", ""), 400, server.CodeBadRequest},
		{"webchat missing content type", "POST", chat, apiKey, "application/json", `{"user_id":"u1","content":{}}`, 400, server.CodeBadRequest},
		{"webchat empty text", "POST", chat, apiKey, "application/json", webchat("u1", "text", "  ", ""), 400, server.CodeBadRequest},
		{"webchat button without callback", "POST", chat, apiKey, "application/json", webchat("u1", "button_response", "OK", ""), 400, server.CodeBadRequest},
		{"webchat text too long", "POST", chat, apiKey, "application/json", long, 422, server.CodeUnprocessable},
		{"webchat typing notification", "POST", chat, apiKey, "application/json", `{"notification":"typing","user_id":"u1","content":{"type":"chat_open"}}`, 400, server.CodeBadRequest},
		{"webchat GET", "GET", chat, apiKey, "", "", 405, server.CodeMethodNotAllowed},
		{"context without key", "POST", ctxURL, "", "application/json", `{"key":"first_name","value":"Bob"}`, 401, server.CodeUnauthorized},
		{"context with the API key", "POST", ctxURL, apiKey, "application/json", `{"key":"first_name","value":"Bob"}`, 403, server.CodeForbidden},
		{"context GET with the API key", "GET", ctxURL, apiKey, "", "", 403, server.CodeForbidden},
		{"context bad JSON", "POST", ctxURL, adminKey, "application/json", `{"key":`, 400, server.CodeBadRequest},
		{"context unknown field", "POST", ctxURL, adminKey, "application/json", `{"key":"first_name","value":"Bob","extra":1}`, 400, server.CodeBadRequest},
		{"context two values", "POST", ctxURL, adminKey, "application/json", `{"key":"first_name","value":"Bob"} {}`, 400, server.CodeBadRequest},
		{"context missing key", "POST", ctxURL, adminKey, "application/json", `{"value":"Bob"}`, 400, server.CodeBadRequest},
		{"context missing value", "POST", ctxURL, adminKey, "application/json", `{"key":"first_name"}`, 400, server.CodeBadRequest},
		{"context value and text", "POST", ctxURL, adminKey, "application/json", `{"key":"first_name","value":"Bob","text":"Bob"}`, 400, server.CodeBadRequest},
		{"context wrong type", "POST", ctxURL, adminKey, "application/json", `{"key":"first_name","value":42}`, 422, server.CodeUnprocessable},
		{"context action_status not a bool", "POST", ctxURL, adminKey, "application/json", `{"key":"action_status","text":"maybe"}`, 422, server.CodeUnprocessable},
		{"context read-only", "POST", ctxURL, adminKey, "application/json", `{"key":"conversation.current_turn","value":"x"}`, 422, server.CodeUnprocessable},
		{"context unknown context", "POST", ctxURL, adminKey, "application/json", `{"key":"planet.name","value":"x"}`, 422, server.CodeUnprocessable},
		{"context bad name", "POST", ctxURL, adminKey, "application/json", `{"key":"first name","value":"x"}`, 422, server.CodeUnprocessable},
		{"context text/plain", "POST", ctxURL, adminKey, "text/plain", `{"key":"first_name","value":"Bob"}`, 415, server.CodeUnsupportedMediaType},
		{"context oversized", "POST", ctxURL, adminKey, "application/json", `{"key":"first_name","value":"` + strings.Repeat("b", 5000) + `"}`, 413, server.CodeTooLarge},
		{"context DELETE", "DELETE", ctxURL, adminKey, "", "", 405, server.CodeMethodNotAllowed},
		{"context unknown user", "GET", base + "/api/users/nobody/context", adminKey, "", "", 404, server.CodeNotFound},
		{"context user id too long", "GET", base + "/api/users/" + strings.Repeat("x", 600) + "/context", adminKey, "", "", 400, server.CodeBadRequest},
		{"traces unknown user", "GET", base + "/api/users/nobody/traces", adminKey, "", "", 404, server.CodeNotFound},
		{"traces without key", "GET", base + "/api/users/u1/traces", "", "", "", 401, server.CodeUnauthorized},
		{"scenarios with the API key", "GET", base + "/api/scenarios", apiKey, "", "", 403, server.CodeForbidden},
		{"scenarios without key", "GET", base + "/api/scenarios", "", "", "", 401, server.CodeUnauthorized},
		{"scenarios POST", "POST", base + "/api/scenarios", adminKey, "application/json", `{}`, 405, server.CodeMethodNotAllowed},
		{"unknown path", "GET", base + "/api/nothing", adminKey, "", "", 404, server.CodeNotFound},
		{"unknown preview file", "GET", base + "/preview/nothing.js", "", "", "", 404, server.CodeNotFound},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			msg := do(t, tc.method, tc.url, tc.key, tc.ctype, tc.body).jsonError(t, tc.status, tc.code)
			for _, k := range []string{apiKey, adminKey} {
				if strings.Contains(msg, k) {
					t.Fatalf("the error message holds a key: %s", msg)
				}
			}
			after, n := snapshot()
			if !reflect.DeepEqual(before, after) || n != traces {
				t.Fatalf("state changed:\nbefore %+v (%d traces)\nafter  %+v (%d traces)", before, traces, after, n)
			}
		})
	}

	// A malformed Authorization header.
	req, _ := http.NewRequest("POST", chat, strings.NewReader(webchat("u1", "chat_open", "", "")))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Basic "+apiKey)
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 401 || resp.Header.Get("WWW-Authenticate") == "" {
		t.Fatalf("Basic auth: %d %v", resp.StatusCode, resp.Header)
	}
	// A chunked body over the limit (no Content-Length).
	req, _ = http.NewRequest("POST", chat, struct{ *strings.Reader }{strings.NewReader(big)})
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+apiKey)
	resp, err = client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 413 || req.ContentLength != 0 {
		t.Fatalf("chunked oversized body: %d (content length %d)", resp.StatusCode, req.ContentLength)
	}
	if after, n := snapshot(); !reflect.DeepEqual(before, after) || n != traces {
		t.Fatalf("state changed: %+v", after)
	}
}

// TestContextAPI sets attributes of every kind and reads them back.
func TestContextAPI(t *testing.T) {
	e := openGreeter(t, "http://127.0.0.1:1")
	_, base := startServer(t, e, server.Options{})
	url := base + "/api/users/" + "ada%20l/context" // ids are path-decoded
	var c contexts
	do(t, "POST", url, "", "application/json", `{"key":"session.size","value":3}`).ok(t, &c)
	do(t, "POST", url, "", "application/json", `{"key":"age","text":"42"}`).ok(t, &c)
	do(t, "POST", url, "", "application/json", `{"key":"action_status","text":"true"}`).ok(t, &c)
	do(t, "POST", url, "", "application/json", `{"key":"tags","value":["a","b"]}`).ok(t, &c)
	if c.Session["size"] != 3.0 || c.User["age"] != 42.0 || c.User["action_status"] != true || len(c.User["tags"].([]any)) != 2 {
		t.Fatalf("contexts: %+v", c)
	}
	var c3 contexts
	do(t, "POST", url, "", "application/json", `{"key":"tags","value":null}`).ok(t, &c3)
	if _, ok := c3.User["tags"]; ok || c3.User["age"] != 42.0 {
		t.Fatalf("null did not unset tags: %+v", c.User)
	}
	c2, err := e.Context(context.Background(), "ada l")
	if err != nil || c2.User["age"] != 42.0 {
		t.Fatalf("engine context of %q: %+v %v", "ada l", c2, err)
	}
	// A user known only by state has an empty trace list.
	var tr server.TracesResponse
	do(t, "GET", base+"/api/users/ada%20l/traces", "", "", "").ok(t, &tr)
	if tr.Traces == nil || len(tr.Traces) != 0 {
		t.Fatalf("traces: %+v", tr)
	}
}

// TestKeys checks which key opens which endpoint.
func TestKeys(t *testing.T) {
	e := openGreeter(t, "http://127.0.0.1:1")
	_, base := startServer(t, e, server.Options{APIKeys: []string{apiKey}, AdminKeys: []string{adminKey, "second-admin-key-0123456789"}})
	for _, key := range []string{apiKey, adminKey, "second-admin-key-0123456789"} {
		do(t, "POST", base+"/incoming/webchat", key, "application/json", webchat("k", "chat_open", "", "")).ok(t, nil)
	}
	do(t, "GET", base+"/api/scenarios", "second-admin-key-0123456789", "", "").ok(t, nil)
	for _, path := range []string{"/healthz", "/readyz", "/metrics", "/preview"} {
		if r := do(t, "GET", base+path, "", "", ""); r.status != 200 {
			t.Errorf("GET %s without key: %d %s", path, r.status, r.body)
		}
	}

	// API keys without an admin key close the admin endpoints.
	_, base2 := startServer(t, e, server.Options{APIKeys: []string{apiKey}})
	do(t, "GET", base2+"/api/scenarios", apiKey, "", "").jsonError(t, 403, server.CodeForbidden)
	do(t, "POST", base2+"/incoming/webchat", apiKey, "application/json", webchat("k", "chat_open", "", "")).ok(t, nil)

	// Short keys are refused, and the error does not repeat the key.
	_, err := server.New(e, server.Options{APIKeys: []string{"short-secret"}})
	if err == nil || strings.Contains(err.Error(), "short-secret") {
		t.Fatalf("short key: %v", err)
	}
}

// TestRateLimit refuses a user's turns beyond the burst with 429 and Retry-After.
func TestRateLimit(t *testing.T) {
	e := openGreeter(t, "http://127.0.0.1:1")
	_, base := startServer(t, e, server.Options{RateLimit: 0.5, RateBurst: 2})
	chat := base + "/incoming/webchat"
	for i := 0; i < 2; i++ {
		do(t, "POST", chat, "", "application/json", webchat("busy", "chat_open", "", "")).ok(t, nil)
	}
	var before server.TracesResponse
	do(t, "GET", base+"/api/users/busy/traces", "", "", "").ok(t, &before)
	r := do(t, "POST", chat, "", "application/json", webchat("busy", "text", "hello", ""))
	r.jsonError(t, 429, server.CodeRateLimited)
	if ra := r.header.Get("Retry-After"); ra != "2" {
		t.Fatalf("Retry-After %q, want 2", ra)
	}
	var after server.TracesResponse
	do(t, "GET", base+"/api/users/busy/traces", "", "", "").ok(t, &after)
	if len(after.Traces) != len(before.Traces) {
		t.Fatalf("a refused turn was traced: %d -> %d", len(before.Traces), len(after.Traces))
	}
	// Other users are not limited.
	do(t, "POST", chat, "", "application/json", webchat("calm", "chat_open", "", "")).ok(t, nil)
	if !strings.Contains(string(do(t, "GET", base+"/metrics", "", "", "").body), "parley_rate_limited_total 1") {
		t.Error("rate limiting not counted")
	}
}

// TestTracesKeepTheLastN keeps the newest traces of a user, newest last.
func TestTracesKeepTheLastN(t *testing.T) {
	e := openGreeter(t, "http://127.0.0.1:1")
	_, base := startServer(t, e, server.Options{TracesPerUser: 3})
	for i := 0; i < 5; i++ {
		do(t, "POST", base+"/incoming/webchat", "", "application/json", webchat("t", "text", fmt.Sprintf("utterance %d", i), "")).ok(t, nil)
	}
	var tr server.TracesResponse
	do(t, "GET", base+"/api/users/t/traces", "", "", "").ok(t, &tr)
	if len(tr.Traces) != 3 {
		t.Fatalf("%d traces, want 3", len(tr.Traces))
	}
	for i, want := range []string{"utterance 2", "utterance 3", "utterance 4"} {
		if got := tr.Traces[i].Utterance.Text; got != want {
			t.Errorf("trace %d is %q, want %q", i, got, want)
		}
	}
}

// TestScenariosHealthAndReloads covers /api/scenarios, /healthz, /readyz and reload reporting.
func TestScenariosHealthAndReloads(t *testing.T) {
	e := openGreeter(t, "http://127.0.0.1:1")
	s, base := startServer(t, e, server.Options{})
	var sc scenariosResponse
	do(t, "GET", base+"/api/scenarios", "", "", "").ok(t, &sc)
	if sc.Version != e.Config().Version || len(sc.Scenarios) != 1 || sc.Scenarios[0] != (server.ScenarioInfo{Name: "greeter", Active: true,
		Description: "Greets the user by the full name an OpenDialog webhook action returns."}) || sc.Reload != nil || len(sc.Diagnostics) != 0 {
		t.Fatalf("scenarios: %+v", sc)
	}
	raw := string(do(t, "GET", base+"/api/scenarios", "", "", "").body)
	if !strings.Contains(raw, `"reload":null`) || !strings.Contains(raw, `"diagnostics":[]`) {
		t.Fatalf("scenarios JSON: %s", raw)
	}

	bad := diag.List{{File: "greeter.cue", Line: 3, Col: 2, Code: "schema.field_not_allowed", Message: "field not allowed"}}
	s.ObserveReload(reload.Event{Change: reload.Change{Version: "v2", Previous: sc.Version}, Outcome: reload.Rejected, Err: bad, Trigger: reload.TriggerNotify, Time: time.Now()})
	do(t, "GET", base+"/api/scenarios", "", "", "").ok(t, &sc)
	if sc.Reload == nil || sc.Reload.Outcome != "rejected" || !reflect.DeepEqual(sc.Diagnostics, bad) {
		t.Fatalf("after a rejected reload: %+v", sc)
	}
	s.ObserveReload(reload.Event{Outcome: reload.Rejected, Err: errors.New("reading files: permission denied")})
	do(t, "GET", base+"/api/scenarios", "", "", "").ok(t, &sc)
	if len(sc.Diagnostics) != 1 || sc.Diagnostics[0].Code != "reload.error" {
		t.Fatalf("plain error: %+v", sc.Diagnostics)
	}
	s.ObserveReload(reload.Event{Outcome: reload.Applied, Change: reload.Change{Version: "v3"}})
	do(t, "GET", base+"/api/scenarios", "", "", "").ok(t, &sc)
	if sc.Reload.Outcome != "applied" || len(sc.Diagnostics) != 0 {
		t.Fatalf("after an applied reload: %+v", sc)
	}
	metrics := string(do(t, "GET", base+"/metrics", "", "", "").body)
	for _, want := range []string{`parley_reloads_total{outcome="rejected"} 2`, `parley_reloads_total{outcome="applied"} 1`, "go_goroutines"} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %s", want)
		}
	}

	// A reload status source replaces ObserveReload's memory.
	ev := reload.Event{Outcome: reload.Applied, Change: reload.Change{Version: "from-source"}}
	_, base2 := startServer(t, e, server.Options{ReloadStatus: func() (reload.Event, bool) { return ev, true }})
	do(t, "GET", base2+"/api/scenarios", "", "", "").ok(t, &sc)
	if sc.Reload == nil || sc.Reload.Version != "from-source" {
		t.Fatalf("reload source: %+v", sc.Reload)
	}

	var st map[string]string
	do(t, "GET", base+"/healthz", "", "", "").ok(t, &st)
	if st["status"] != "ok" {
		t.Fatal(st)
	}
	do(t, "GET", base+"/readyz", "", "", "").ok(t, &st)
	if st["status"] != "ready" || st["version"] != e.Config().Version {
		t.Fatal(st)
	}
	do(t, "POST", base+"/healthz", "", "application/json", "{}").jsonError(t, 405, server.CodeMethodNotAllowed)
}

// scenariosResponse decodes server.ScenariosResponse.
type scenariosResponse struct {
	server.ScenariosResponse
	Reload *struct {
		Version string `json:"version"`
		Outcome string `json:"outcome"`
		Error   string `json:"error"`
	} `json:"reload"`
}

// TestPreview serves the embedded page without a key, even when keys are configured.
func TestPreview(t *testing.T) {
	e := openGreeter(t, "http://127.0.0.1:1")
	_, base := startServer(t, e, server.Options{AdminKeys: []string{adminKey}})
	for _, path := range []string{"/preview", "/preview/", "/preview/index.html"} {
		r := do(t, "GET", base+path, "", "", "")
		if r.status != 200 || !strings.HasPrefix(r.header.Get("Content-Type"), "text/html") || !strings.Contains(string(r.body), "<html") {
			t.Fatalf("GET %s: %d %s", path, r.status, r.header)
		}
	}
	entries, err := os.ReadDir("preview")
	if err != nil {
		t.Fatal(err)
	}
	for _, ent := range entries {
		if ent.IsDir() {
			continue
		}
		// The files may be edited after the build: compare status and presence only.
		r := do(t, "GET", base+"/preview/"+ent.Name(), "", "", "")
		if r.status != 200 || len(r.body) == 0 || r.header.Get("ETag") == "" {
			t.Errorf("GET /preview/%s: %d %v", ent.Name(), r.status, r.header)
		}
	}
	do(t, "POST", base+"/preview", "", "application/json", "{}").jsonError(t, 405, server.CodeMethodNotAllowed)
}

// TestGracefulShutdown cancels Serve while a turn waits for a slow webhook:
// the turn finishes and its answer arrives before Serve returns.
func TestGracefulShutdown(t *testing.T) {
	dir := t.TempDir()
	slow := filepath.Join(dir, "slow.cue")
	err := os.WriteFile(slow, []byte(`mock: routes: [{
	name: "full_name"
	path: "/full_name"
	delay: "400ms"
	outputs: full_name: "input.first_name + ' ' + input.last_name"
}]
`), 0o644)
	if err != nil {
		t.Fatal(err)
	}
	m, mockURL := startMock(t, slow)
	e := openGreeter(t, mockURL)
	s, err := server.New(e, server.Options{ShutdownTimeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	served := make(chan error, 1)
	go func() { served <- s.Serve(ctx, ln) }()
	base := "http://" + ln.Addr().String()

	do(t, "POST", base+"/api/users/slow/context", "", "application/json", `{"key":"first_name","value":"Grace"}`).ok(t, nil)
	do(t, "POST", base+"/api/users/slow/context", "", "application/json", `{"key":"last_name","value":"Hopper"}`).ok(t, nil)
	do(t, "POST", base+"/incoming/webchat", "", "application/json", webchat("slow", "chat_open", "", "")).ok(t, nil)

	var wg sync.WaitGroup
	var answer response
	wg.Add(1)
	go func() {
		defer wg.Done()
		answer = do(t, "POST", base+"/incoming/webchat", "", "application/json", webchat("slow", "button_response", "OK", "ok"))
	}()
	// Wait (bounded) until the webhook call is in flight, then shut down.
	deadline := time.Now().Add(5 * time.Second)
	for len(m.Requests()) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the webhook was not called within 5s")
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	select {
	case err := <-served:
		if err != nil {
			t.Fatalf("Serve returned %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not return within 10s")
	}
	wg.Wait()
	var msgs []server.WebchatMessage
	answer.ok(t, &msgs)
	if len(msgs) != 1 || text(msgs[0]) != "Hello Grace Hopper!" {
		t.Fatalf("the in-flight turn answered %+v", msgs)
	}
	// The listener is closed: new connections are refused.
	if c, err := net.DialTimeout("tcp", ln.Addr().String(), time.Second); err == nil {
		c.Close()
		t.Fatal("still accepting connections after shutdown")
	}
}

// TestConcurrentTurns runs many users at once (run with -race).
func TestConcurrentTurns(t *testing.T) {
	m, mockURL := startMock(t, "../mocks/greeter.cue")
	e := openGreeter(t, mockURL)
	_, base := startServer(t, e, server.Options{TracesPerUser: 5, TraceUsers: 4, RateUsers: 4})
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			user := fmt.Sprintf("user-%d", g)
			for i := 0; i < 5; i++ {
				ctxURL := base + "/api/users/" + user + "/context"
				for _, body := range []string{`{"key":"first_name","value":"A"}`, `{"key":"last_name","value":"B"}`} {
					if r := do(t, "POST", ctxURL, "", "application/json", body); r.status != 200 {
						errs <- fmt.Errorf("%s: %d %s", user, r.status, r.body)
						return
					}
				}
				do(t, "POST", base+"/incoming/webchat", "", "application/json", webchat(user, "chat_open", "", ""))
				r := do(t, "POST", base+"/incoming/webchat", "", "application/json", webchat(user, "button_response", "OK", "ok"))
				if r.status != 200 || !strings.Contains(string(r.body), "Hello A B!") {
					errs <- fmt.Errorf("%s: %d %s", user, r.status, r.body)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := len(m.Requests()); n != 40 {
		t.Errorf("%d webhook calls, want 40", n)
	}
}

// TestLogsHoldNoKeys logs every request at debug level without its key.
func TestLogsHoldNoKeys(t *testing.T) {
	var buf syncBuffer
	log := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	e := openGreeter(t, "http://127.0.0.1:1")
	_, base := startServer(t, e, server.Options{APIKeys: []string{apiKey}, AdminKeys: []string{adminKey}, Logger: log})
	do(t, "POST", base+"/incoming/webchat", apiKey, "application/json", webchat("logged", "chat_open", "", "")).ok(t, nil)
	do(t, "POST", base+"/api/users/logged/context", adminKey, "application/json", `{"key":"first_name","value":"Ada"}`).ok(t, nil)
	do(t, "GET", base+"/api/scenarios", "wrong-key-0123456789abcdef", "", "").jsonError(t, 401, server.CodeUnauthorized)
	text := buf.String()
	for _, want := range []string{"path=/incoming/webchat status=200", "path=/api/scenarios status=401", "msg=\"attribute set\" user=logged key=first_name"} {
		if !strings.Contains(text, want) {
			t.Errorf("log lacks %q:\n%s", want, text)
		}
	}
	for _, secret := range []string{apiKey, adminKey, "wrong-key", "Ada"} {
		if strings.Contains(text, secret) {
			t.Errorf("log holds %q:\n%s", secret, text)
		}
	}
}

// syncBuffer is a strings.Builder safe for concurrent use.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
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

// The W3C trace context of a webchat request reaches the webhooks its turn
// calls; a request without one makes calls without one.
func TestTraceParentReachesTheWebhook(t *testing.T) {
	m, mockURL := startMock(t, "../mocks/greeter.cue")
	e := openGreeter(t, mockURL)
	_, base := startServer(t, e, server.Options{APIKeys: []string{apiKey}, AdminKeys: []string{adminKey}})
	const tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	for _, user := range []string{"traced", "untraced"} {
		ctxURL := base + "/api/users/" + user + "/context"
		do(t, "POST", ctxURL, adminKey, "application/json", `{"key":"first_name","value":"John"}`).ok(t, nil)
		do(t, "POST", ctxURL, adminKey, "application/json", `{"key":"last_name","value":"Smith"}`).ok(t, nil)
		do(t, "POST", base+"/incoming/webchat", apiKey, "application/json", webchat(user, "chat_open", "", "")).ok(t, nil)
		req, err := http.NewRequest("POST", base+"/incoming/webchat", strings.NewReader(webchat(user, "button_response", "OK", "ok")))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+apiKey)
		if user == "traced" {
			req.Header.Set("traceparent", tp)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: status %d", user, resp.StatusCode)
		}
	}
	reqs := m.Requests()
	if len(reqs) != 2 {
		t.Fatalf("%d webhook calls, want 2", len(reqs))
	}
	if got := reqs[0].Headers["Traceparent"]; got != tp {
		t.Fatalf("the traced turn's call carried traceparent %q, want %q", got, tp)
	}
	if got, ok := reqs[1].Headers["Traceparent"]; ok {
		t.Fatalf("the untraced turn's call carried traceparent %q", got)
	}
}
