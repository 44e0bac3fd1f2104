package server_test

import (
	"bufio"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/parleyhq/parley/reload"
	"github.com/parleyhq/parley/server"
)

// sse reads server-sent events from a stream.
type sse struct {
	t      *testing.T
	events chan [2]string // event name, data
}

func openEvents(t *testing.T, url, key string) *sse {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	req, _ := http.NewRequestWithContext(ctx, "GET", url, nil)
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		t.Fatalf("GET %s: %d %s", url, resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	s := &sse{t: t, events: make(chan [2]string, 100)}
	go func() {
		defer resp.Body.Close()
		defer close(s.events)
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 1<<20), 1<<22)
		var name, data string
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "":
				if name != "" {
					s.events <- [2]string{name, data}
				}
				name, data = "", ""
			case strings.HasPrefix(line, "event: "):
				name = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "data: "):
				data = strings.TrimPrefix(line, "data: ")
			}
		}
	}()
	return s
}

// next returns the next event, failing after a bounded wait.
func (s *sse) next(want string, v any) {
	s.t.Helper()
	select {
	case ev, ok := <-s.events:
		if !ok {
			s.t.Fatalf("the stream ended, waiting for %s", want)
		}
		if ev[0] != want {
			s.t.Fatalf("event %s (%s), want %s", ev[0], ev[1], want)
		}
		if err := json.Unmarshal([]byte(ev[1]), v); err != nil {
			s.t.Fatalf("event %s: %v: %s", want, err, ev[1])
		}
	case <-time.After(10 * time.Second):
		s.t.Fatalf("no %s event after 10s", want)
	}
}

// TestEventsPushChanges: the event stream sends the scenario status, the
// user's contexts (known: false for a new user, no 404) and traces at once,
// and again after each turn, attribute change and reload.
func TestEventsPushChanges(t *testing.T) {
	_, mockURL := startMock(t, "../mocks/greeter.cue")
	e := openGreeter(t, mockURL)
	s, base := startServer(t, e, server.Options{AdminKeys: []string{adminKey}})
	do(t, "GET", base+"/api/events", "", "", "").jsonError(t, 401, server.CodeUnauthorized)
	do(t, "GET", base+"/api/events?user=%FF", adminKey, "", "").jsonError(t, 400, server.CodeBadRequest)

	st := openEvents(t, base+"/api/events?user=newbie", adminKey)
	var sc scenariosResponse
	st.next(server.EventScenarios, &sc)
	if sc.Version != e.Config().Version || len(sc.Scenarios) != 1 {
		t.Fatalf("scenarios %+v", sc)
	}
	var ce server.ContextEvent
	st.next(server.EventContext, &ce)
	if ce.User != "newbie" || ce.Known || ce.Contexts != nil {
		t.Fatalf("a new user: %+v", ce)
	}
	var te server.TracesEvent
	st.next(server.EventTraces, &te)
	if te.User != "newbie" || te.Traces == nil || len(te.Traces) != 0 {
		t.Fatalf("a new user's traces: %+v", te)
	}

	do(t, "POST", base+"/api/users/newbie/context", adminKey, "application/json", `{"key":"first_name","value":"Ann"}`).ok(t, nil)
	st.next(server.EventContext, &ce)
	if !ce.Known || ce.Contexts.User["first_name"] != "Ann" {
		t.Fatalf("after setting first_name: %+v", ce)
	}
	st.next(server.EventTraces, &te)
	do(t, "POST", base+"/incoming/webchat", adminKey, "application/json", webchat("newbie", "chat_open", "", "")).ok(t, nil)
	st.next(server.EventContext, &ce)
	if ce.Contexts.Conversation["current_intent"] != "welcome_response" {
		t.Fatalf("after the turn: %+v", ce.Contexts)
	}
	st.next(server.EventTraces, &te)
	if len(te.Traces) != 1 {
		t.Fatalf("after the turn: %d traces", len(te.Traces))
	}
	// Another user's turn is not sent to this stream; a reload is.
	do(t, "POST", base+"/incoming/webchat", adminKey, "application/json", webchat("other", "chat_open", "", "")).ok(t, nil)
	s.ObserveReload(reload.Event{Outcome: reload.Rejected, Change: reload.Change{Version: "v2"}, Time: time.Now()})
	st.next(server.EventScenarios, &sc)
	if sc.Reload == nil || sc.Reload.Outcome != "rejected" || sc.Reload.Version != "v2" {
		t.Fatalf("after a reload: %+v", sc.Reload)
	}
}

// TestEventsEndAtShutdown: an open event stream does not hold up a graceful
// shutdown.
func TestEventsEndAtShutdown(t *testing.T) {
	e := openGreeter(t, "http://127.0.0.1:1")
	s, err := server.New(e, server.Options{ShutdownTimeout: time.Minute})
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
	st := openEvents(t, "http://"+ln.Addr().String()+"/api/events", "")
	var sc server.ScenariosResponse
	st.next(server.EventScenarios, &sc)
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the shutdown waits for the event stream")
	}
}
