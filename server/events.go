package server

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/parleyhq/parley/engine"
)

// Events of GET /api/events, a server-sent event stream (text/event-stream)
// that pushes what the preview shows instead of the page polling for it.
// Each event's data is one line of JSON.
const (
	// EventScenarios carries a ScenariosResponse: on connect and after each reload decision.
	EventScenarios = "scenarios"
	// EventContext carries a ContextEvent: on connect and after each turn or
	// attribute change of the stream's user.
	EventContext = "context"
	// EventTraces carries a TracesEvent: on connect and after each turn of the stream's user.
	EventTraces = "traces"
)

// ContextEvent is the data of a context event.
type ContextEvent struct {
	User string `json:"user"`
	// Known is false for a user the engine keeps no state about (where GET
	// /api/users/{id}/context answers 404); Contexts is then null.
	Known    bool             `json:"known"`
	Contexts *engine.Contexts `json:"contexts"`
}

// TracesEvent is the data of a traces event: the user's last turn traces, newest last.
type TracesEvent struct {
	User   string          `json:"user"`
	Traces []*engine.Trace `json:"traces"`
}

// Limits of the event streams.
const (
	maxEventStreams = 64               // more streams at once get a 503
	eventHeartbeat  = 15 * time.Second // a comment line keeps proxies from closing an idle stream
)

// What a stream must send again.
const (
	dirtyContext uint32 = 1 << iota
	dirtyTraces
	dirtyScenarios
)

// stream is one subscriber of the event broker.
type stream struct {
	user  string
	dirty atomic.Uint32
	wake  chan struct{} // capacity 1: changes coalesce, a notifier never blocks
}

// broker tells the event streams what changed.
type broker struct {
	open    atomic.Int32 // streams open: notifying none costs no lock (every turn notifies)
	mu      sync.Mutex
	streams map[*stream]struct{}
	stop    chan struct{} // closed when the server shuts down
	once    sync.Once
}

func newBroker() *broker {
	return &broker{streams: map[*stream]struct{}{}, stop: make(chan struct{})}
}

// subscribe adds a stream for user ("" for none), or returns nil when too many are open.
func (b *broker) subscribe(user string) *stream {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.streams) >= maxEventStreams {
		return nil
	}
	st := &stream{user: user, wake: make(chan struct{}, 1)}
	b.streams[st] = struct{}{}
	b.open.Add(1)
	return st
}

func (b *broker) unsubscribe(st *stream) {
	b.mu.Lock()
	delete(b.streams, st)
	b.open.Add(-1)
	b.mu.Unlock()
}

// notify marks what changed for the streams of user (every stream when all is set).
func (b *broker) notify(user string, all bool, what uint32) {
	if b.open.Load() == 0 {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	for st := range b.streams {
		if all || st.user == user && user != "" {
			st.dirty.Or(what)
			select {
			case st.wake <- struct{}{}:
			default:
			}
		}
	}
}

// close ends every stream (at shutdown, so that it does not wait for them).
func (b *broker) close() { b.once.Do(func() { close(b.stop) }) }

// notifyUser tells the event streams of user that its contexts and traces changed.
func (s *Server) notifyUser(user string) { s.events.notify(user, false, dirtyContext|dirtyTraces) }

// getEvents handles GET /api/events?user=ID: a server-sent event stream of
// the scenario status and, with a user, that user's contexts and traces.
func (s *Server) getEvents(w http.ResponseWriter, r *http.Request) {
	user := r.URL.Query().Get("user")
	if user != "" {
		if msg := checkUserID(user); msg != "" {
			s.reject(w, http.StatusBadRequest, CodeBadRequest, "the user query parameter: "+msg)
			return
		}
	}
	st := s.events.subscribe(user)
	if st == nil {
		s.reject(w, http.StatusServiceUnavailable, CodeUnavailable, fmt.Sprintf("too many event streams open (at most %d)", maxEventStreams))
		return
	}
	defer s.events.unsubscribe(st)
	rc := http.NewResponseController(w)
	// The server's read timeout would end the stream: a stream reads nothing more.
	_ = rc.SetReadDeadline(time.Time{})
	h := w.Header()
	h.Set("Content-Type", "text/event-stream; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)

	send := func(event string, v any) bool {
		b, err := json.Marshal(v)
		if err != nil {
			b, _ = json.Marshal(ErrorBody{Error: ErrorDetail{Code: CodeInternal, Message: "encoding the event: " + err.Error()}})
			event = "error"
		}
		if _, err := fmt.Fprintf(w, "event: %s\ndata: %s\n\n", event, b); err != nil {
			return false
		}
		return rc.Flush() == nil
	}
	sendUser := func(what uint32) bool {
		if user == "" {
			return true
		}
		if what&dirtyContext != 0 {
			ev := ContextEvent{User: user}
			c, err := s.eng.Context(r.Context(), user)
			if err != nil {
				return send("error", ErrorBody{Error: ErrorDetail{Code: CodeInternal, Message: "reading the user context: " + err.Error()}})
			}
			if known(c) {
				ev.Known, ev.Contexts = true, &c
			}
			if !send(EventContext, ev) {
				return false
			}
		}
		if what&dirtyTraces != 0 {
			ev := TracesEvent{User: user, Traces: []*engine.Trace{}}
			if s.traces != nil {
				if list, ok := s.traces.list(user); ok && list != nil {
					ev.Traces = list
				}
			}
			return send(EventTraces, ev)
		}
		return true
	}
	if !send(EventScenarios, s.scenarios()) || !sendUser(dirtyContext|dirtyTraces) {
		return
	}
	beat := time.NewTicker(eventHeartbeat)
	defer beat.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case <-s.events.stop:
			return
		case <-beat.C:
			if _, err := fmt.Fprint(w, ": ping\n\n"); err != nil || rc.Flush() != nil {
				return
			}
		case <-st.wake:
			what := st.dirty.Swap(0)
			if what&dirtyScenarios != 0 && !send(EventScenarios, s.scenarios()) {
				return
			}
			if !sendUser(what) {
				return
			}
		}
	}
}
