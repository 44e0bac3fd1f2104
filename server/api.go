package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/parleyhq/parley/diag"
	"github.com/parleyhq/parley/engine"
	"github.com/parleyhq/parley/reload"
)

// SetAttributeRequest is the body of POST /api/users/{id}/context. Key is
// "NAME" (user context), "user.NAME" or "session.NAME". Exactly one of
// Value and Text is given: Value is a JSON value checked against the
// attribute's declared type (null unsets the attribute); Text is text typed
// by a person, converted to the declared type ("42" for an int, "true" for a
// bool), as engine.Engine.SetAttributeText does.
type SetAttributeRequest struct {
	Key   string          `json:"key"`
	Value json.RawMessage `json:"value,omitempty"`
	Text  *string         `json:"text,omitempty"`
}

// TracesResponse is the body of GET /api/users/{id}/traces.
type TracesResponse struct {
	// Traces are the user's last turns, newest last.
	Traces []*engine.Trace `json:"traces"`
}

// ScenariosResponse is the body of GET /api/scenarios.
type ScenariosResponse struct {
	// Version is the version of the configuration the engine runs.
	Version   string         `json:"version"`
	Files     []string       `json:"files"`
	Scenarios []ScenarioInfo `json:"scenarios"`
	// Reload is the last reload decision (applied or rejected), or null.
	Reload *reload.Event `json:"reload"`
	// Diagnostics are the problems of the last rejected reload (empty when it was applied).
	Diagnostics diag.List `json:"diagnostics"`
}

// ScenarioInfo describes one loaded scenario.
type ScenarioInfo struct {
	Name        string `json:"name"`
	Active      bool   `json:"active"`
	Description string `json:"description"`
}

// userID returns the {id} of the path, or answers 400 and returns "".
func (s *Server) userID(w http.ResponseWriter, r *http.Request) (string, bool) {
	id := r.PathValue("id")
	if msg := checkUserID(id); msg != "" {
		s.reject(w, http.StatusBadRequest, CodeBadRequest, "the user id of the path: "+msg)
		return "", false
	}
	return id, true
}

// known reports whether the engine keeps any state about a user.
func known(c engine.Contexts) bool {
	if len(c.User) > 0 || len(c.Session) > 0 {
		return true
	}
	for _, v := range c.Conversation {
		if s, ok := v.(string); !ok || s != "" {
			return true
		}
	}
	return false
}

// contextError answers an engine error of the context API.
func (s *Server) contextError(w http.ResponseWriter, err error) {
	if errors.Is(err, engine.ErrClosed) {
		s.reject(w, http.StatusServiceUnavailable, CodeUnavailable, "the engine is shutting down")
		return
	}
	if s.rejectStore(w, "reading a user context", err) {
		return
	}
	s.log.Error("reading a user context failed", slog.Any("error", err))
	s.reject(w, http.StatusInternalServerError, CodeInternal, err.Error())
}

// getContext handles GET /api/users/{id}/context.
func (s *Server) getContext(w http.ResponseWriter, r *http.Request) {
	id, ok := s.userID(w, r)
	if !ok {
		return
	}
	c, err := s.eng.Context(r.Context(), id)
	if err != nil {
		s.contextError(w, err)
		return
	}
	if !known(c) {
		s.reject(w, http.StatusNotFound, CodeNotFound, fmt.Sprintf("user %q is unknown: the engine keeps no context for it yet", truncate(id, 100)))
		return
	}
	writeJSON(w, c)
}

// setContext handles POST /api/users/{id}/context.
func (s *Server) setContext(w http.ResponseWriter, r *http.Request) {
	id, ok := s.userID(w, r)
	if !ok {
		return
	}
	var buf bytes.Buffer
	if !s.readJSONBody(w, r, &buf) {
		return
	}
	dec := json.NewDecoder(&buf)
	dec.DisallowUnknownFields()
	var req SetAttributeRequest
	if err := dec.Decode(&req); err != nil {
		s.reject(w, http.StatusBadRequest, CodeBadRequest, jsonError(err)+` (want {"key":"NAME","value":VALUE})`)
		return
	}
	if dec.More() {
		s.reject(w, http.StatusBadRequest, CodeBadRequest, "the body holds more than one JSON value")
		return
	}
	hasValue := len(req.Value) > 0
	switch {
	case req.Key == "":
		s.reject(w, http.StatusBadRequest, CodeBadRequest, `key is missing: want {"key":"NAME","value":VALUE}`)
		return
	case hasValue && req.Text != nil:
		s.reject(w, http.StatusBadRequest, CodeBadRequest, "give value or text, not both")
		return
	case !hasValue && req.Text == nil:
		s.reject(w, http.StatusBadRequest, CodeBadRequest, "value is missing (null unsets the attribute; text sets it from typed text)")
		return
	}
	if _, err := engine.ParsePath(req.Key); err != nil {
		s.reject(w, http.StatusUnprocessableEntity, CodeUnprocessable, err.Error())
		return
	}
	// The change runs to its end even if the client goes away.
	ctx := context.WithoutCancel(r.Context())
	if req.Text != nil {
		if n := len([]rune(*req.Text)); n > s.opts.MaxTextLength {
			s.reject(w, http.StatusUnprocessableEntity, CodeUnprocessable,
				fmt.Sprintf("text is %d characters long; the limit is %d", n, s.opts.MaxTextLength))
			return
		}
		err := s.eng.SetAttributeText(ctx, id, req.Key, *req.Text)
		if err != nil {
			s.setError(w, err)
			return
		}
	} else {
		var v any
		if err := json.Unmarshal(req.Value, &v); err != nil {
			s.reject(w, http.StatusBadRequest, CodeBadRequest, jsonErrorIn("value", err))
			return
		}
		if err := s.eng.SetAttribute(ctx, id, req.Key, v); err != nil {
			s.setError(w, err)
			return
		}
	}
	s.log.Info("attribute set", slog.String("user", id), slog.String("key", req.Key))
	s.notifyUser(id)
	c, err := s.eng.Context(ctx, id)
	if err != nil {
		s.contextError(w, err)
		return
	}
	writeJSON(w, c)
}

// setError answers an error of SetAttribute. The key has been checked
// already, so what remains is a value that does not fit the declared type
// or, rarely, a store failure, which the engine does not tell apart.
func (s *Server) setError(w http.ResponseWriter, err error) {
	if errors.Is(err, engine.ErrClosed) {
		s.reject(w, http.StatusServiceUnavailable, CodeUnavailable, "the engine is shutting down")
		return
	}
	if s.rejectStore(w, "setting a user attribute", err) {
		return
	}
	s.reject(w, http.StatusUnprocessableEntity, CodeUnprocessable, err.Error())
}

// getTraces handles GET /api/users/{id}/traces.
func (s *Server) getTraces(w http.ResponseWriter, r *http.Request) {
	id, ok := s.userID(w, r)
	if !ok {
		return
	}
	var traces []*engine.Trace
	if s.traces != nil {
		traces, ok = s.traces.list(id)
	} else {
		ok = false
	}
	if !ok {
		c, err := s.eng.Context(r.Context(), id)
		if err != nil {
			s.contextError(w, err)
			return
		}
		if !known(c) {
			s.reject(w, http.StatusNotFound, CodeNotFound, fmt.Sprintf("user %q is unknown: no state and no trace kept", truncate(id, 100)))
			return
		}
	}
	if traces == nil {
		traces = []*engine.Trace{}
	}
	writeJSON(w, TracesResponse{Traces: traces})
}

// getScenarios handles GET /api/scenarios.
func (s *Server) getScenarios(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, s.scenarios())
}

// scenarios describes the configuration served and the last reload.
func (s *Server) scenarios() ScenariosResponse {
	cfg := s.eng.Config()
	resp := ScenariosResponse{Scenarios: []ScenarioInfo{}, Files: []string{}, Diagnostics: diag.List{}}
	if cfg != nil {
		resp.Version = cfg.Version
		if cfg.Files != nil {
			resp.Files = cfg.Files
		}
		for _, sc := range cfg.Scenarios {
			resp.Scenarios = append(resp.Scenarios, ScenarioInfo{Name: sc.Name, Active: sc.Active, Description: sc.Description})
		}
	}
	if ev, ok := s.lastReload(); ok {
		resp.Reload = &ev
		if ev.Outcome == reload.Rejected && ev.Err != nil {
			var list diag.List
			if errors.As(ev.Err, &list) {
				resp.Diagnostics = list
			} else {
				resp.Diagnostics = diag.List{{Code: "reload.error", Message: ev.Err.Error()}}
			}
		}
	}
	return resp
}

// healthz handles GET /healthz: the process is alive.
func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	writeJSONBytes(w, http.StatusOK, []byte(`{"status":"ok"}`+"\n"))
}

// readyPingTimeout bounds the store check of /readyz.
const readyPingTimeout = time.Second

// readyz handles GET /readyz: a configuration with at least one active
// scenario is loaded, the server is not shutting down and the store answers
// (engine.Ping).
func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	if s.draining.Load() {
		writeError(w, http.StatusServiceUnavailable, CodeUnavailable, "shutting down")
		return
	}
	cfg := s.eng.Config()
	if cfg == nil {
		writeError(w, http.StatusServiceUnavailable, CodeUnavailable, "no configuration loaded")
		return
	}
	active := 0
	for _, sc := range cfg.Scenarios {
		if sc.Active {
			active++
		}
	}
	if active == 0 {
		// Every turn would get the default no-match reply.
		writeError(w, http.StatusServiceUnavailable, CodeUnavailable,
			fmt.Sprintf("no active scenario: version %s has %d scenario(s), none active", cfg.Version, len(cfg.Scenarios)))
		return
	}
	// A store that can go away (Redis) must answer: a replica that cannot
	// reach it should get no traffic.
	ctx, cancel := context.WithTimeout(r.Context(), readyPingTimeout)
	defer cancel()
	if err := s.eng.Ping(ctx); err != nil {
		s.log.Warn("not ready: the store does not answer", slog.Any("error", err))
		writeError(w, http.StatusServiceUnavailable, CodeUnavailable, "the state store is unavailable")
		return
	}
	writeJSON(w, map[string]string{"status": "ready", "version": cfg.Version})
}
