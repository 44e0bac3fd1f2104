package convtest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"time"

	"github.com/parleyhq/parley/dsl"
	"github.com/parleyhq/parley/mock"
	"github.com/parleyhq/parley/plugins"
)

// Outcomes of a mocked call, as in plugins.Call.Outcome; the same words the
// webhook plugin uses (plugins/webhook: OutcomeOK, OutcomeTimeout, ...).
const (
	OutcomeOK         = "ok"
	OutcomeUnsuccess  = "unsuccessful"
	OutcomeHTTPError  = "http_error"
	OutcomeTimeout    = "timeout"
	OutcomeConnection = "connection_error"
	OutcomeInvalid    = "invalid_response"
	OutcomeNoMock     = "no_mock"
)

// MockEnvironment returns a clone of base whose action kinds keep their
// names and schemas (so scenarios load and validate exactly as with base,
// each action's configuration checked by its real constructor) but whose
// actions answer from the mocks of the test the turn belongs to: they never
// touch the network. The interpreters are base's.
func MockEnvironment(base *plugins.Environment) *plugins.Environment {
	return wrapEnvironment(base, func(k plugins.ActionKind, cfg plugins.ActionConfig, real plugins.Action) plugins.Action {
		if c, ok := real.(plugins.Closer); ok {
			_ = c.Close() // only built to check the configuration
		}
		return &mockAction{name: cfg.Name}
	})
}

// wrapEnvironment clones base with every action kind's actions replaced by wrap's.
func wrapEnvironment(base *plugins.Environment, wrap func(plugins.ActionKind, plugins.ActionConfig, plugins.Action) plugins.Action) *plugins.Environment {
	env := plugins.NewEmptyEnvironment()
	for _, name := range base.InterpreterNames() {
		in, _ := base.Interpreter(name)
		env.MustRegisterInterpreter(name, in)
	}
	for _, k := range base.ActionKinds() {
		k := k
		inner := k.New
		k.New = func(cfg plugins.ActionConfig) (plugins.Action, error) {
			real, err := inner(cfg)
			if err != nil {
				return nil, err
			}
			return wrap(k, cfg, real), nil
		}
		env.MustRegisterAction(k)
	}
	return env
}

// mockAction answers from the mocks of the running test.
type mockAction struct{ name string }

type runKey struct{}

func withRun(ctx context.Context, r *testRun) context.Context {
	return context.WithValue(ctx, runKey{}, r)
}

// Run answers the call from the test's mock for the action.
func (a *mockAction) Run(ctx context.Context, req plugins.ActionRequest) plugins.ActionResult {
	r, _ := ctx.Value(runKey{}).(*testRun)
	if r == nil {
		return failed(OutcomeNoMock, req.Action, "convtest: a mocked action ran outside a test")
	}
	return r.answer(ctx, req)
}

// testRun is the state of one running test that its mocked actions read.
type testRun struct {
	test     *Test
	mu       sync.Mutex
	calls    map[string]int
	unmocked []string
	servers  map[*mock.Config]*mock.Server
}

func newTestRun(t *Test) *testRun {
	return &testRun{test: t, calls: map[string]int{}}
}

func (r *testRun) close() {
	for _, s := range r.servers {
		s.Close()
	}
}

func times(n int) string {
	if n == 1 {
		return "once"
	}
	return fmt.Sprintf("%d times", n)
}

// takeUnmocked explains the calls made without a mock since the last call.
func (r *testRun) takeUnmocked() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.unmocked
	r.unmocked = nil
	return out
}

func (r *testRun) answer(ctx context.Context, req plugins.ActionRequest) plugins.ActionResult {
	r.mu.Lock()
	m := r.test.Mocks[req.Action]
	n := r.calls[req.Action]
	r.calls[req.Action] = n + 1
	if m == nil {
		r.unmocked = append(r.unmocked, "action "+req.Action+" was called without a mock; declare mocks: "+req.Action+": {...} in the test (or run with --live)")
		r.mu.Unlock()
		return failed(OutcomeNoMock, req.Action, fmt.Sprintf("action %s has no mock in test %s", req.Action, r.test.Name))
	}
	var a *Answer
	switch {
	case !m.PerCall:
		a = m.Answers[0]
	case n < len(m.Answers):
		a = m.Answers[n]
	default:
		r.unmocked = append(r.unmocked, fmt.Sprintf("action %s was called %s, but its mock (%s) answers %s", req.Action, times(n+1), m.Pos, times(len(m.Answers))))
		r.mu.Unlock()
		return failed(OutcomeNoMock, req.Action, fmt.Sprintf("action %s called %d times; its mock answers %d calls", req.Action, n+1, len(m.Answers)))
	}
	var srv *mock.Server
	if a.Route != nil {
		if r.servers == nil {
			r.servers = map[*mock.Config]*mock.Server{}
		}
		srv = r.servers[a.routes]
		if srv == nil {
			// One mock server per test, so fail_times counts the test's own calls.
			srv = mock.New(a.routes, mock.Options{MaxRequests: 1, MaxHold: time.Millisecond})
			r.servers[a.routes] = srv
		}
	}
	r.mu.Unlock()
	if srv != nil {
		return routeAnswer(ctx, srv, a.Route, req)
	}
	return staticAnswer(a, req)
}

func failed(outcome, action, msg string) plugins.ActionResult {
	return plugins.ActionResult{Error: msg, Calls: []plugins.Call{{Method: "MOCK", URL: "mock:" + action, Attempts: 1, Outcome: outcome, Error: msg}}}
}

// staticAnswer is a declared answer.
func staticAnswer(a *Answer, req plugins.ActionRequest) plugins.ActionResult {
	switch a.Fail {
	case FailTimeout:
		return failed(OutcomeTimeout, req.Action, "mock: no answer within the timeout")
	case FailConnection:
		return failed(OutcomeConnection, req.Action, "mock: connection failed: connection reset by peer")
	case FailInvalidAnswer:
		return failed(OutcomeInvalid, req.Action, "mock: the service's answer is not OpenDialog's shape: invalid JSON")
	case FailStatus:
		res := failed(OutcomeHTTPError, req.Action, fmt.Sprintf("mock: the service answered %d %s", a.Status, http.StatusText(a.Status)))
		res.Calls[0].Status = a.Status
		return res
	}
	if !a.Successful {
		errs := strings.Join(a.Errors, "; ")
		if errs == "" {
			errs = "no error message given"
		}
		return failed(OutcomeUnsuccess, req.Action, "mock: the service reported failure: "+errs)
	}
	return plugins.ActionResult{Success: true, Outputs: a.Outputs,
		Calls: []plugins.Call{{Method: "MOCK", URL: "mock:" + req.Action, Attempts: 1, Outcome: OutcomeOK, Status: http.StatusOK}}}
}

// routeAnswer asks a `parley mock` route, in process (no network): the
// request the OpenDialog webhook protocol sends goes to the mock server's
// handler, and its answer is read as the webhook reads it.
func routeAnswer(ctx context.Context, srv *mock.Server, rt *mock.Route, req plugins.ActionRequest) (res plugins.ActionResult) {
	body, err := json.Marshal(map[string]any{"input_data": map[string]any{"attributes": req.Inputs}})
	if err != nil {
		return failed(OutcomeInvalid, req.Action, "mock: encoding the request: "+err.Error())
	}
	method := rt.Method
	if method == "ANY" {
		method = http.MethodPost
	}
	hr := httptest.NewRequestWithContext(ctx, method, rt.Path, bytes.NewReader(body))
	hr.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	defer func() {
		// A "reset" route aborts the handler, as a dropped connection.
		if p := recover(); p != nil {
			res = failed(OutcomeConnection, req.Action, fmt.Sprintf("mock route %s: connection reset", rt.Name))
		}
	}()
	srv.ServeHTTP(rec, hr)
	status := rec.Code
	if status == http.StatusGatewayTimeout && rt.Fail == mock.FailTimeout {
		return failed(OutcomeTimeout, req.Action, fmt.Sprintf("mock route %s: no answer within the timeout", rt.Name))
	}
	var reply struct {
		Successful *bool `json:"successful"`
		OutputData *struct {
			Attributes map[string]any `json:"attributes"`
		} `json:"output_data"`
		Errors []struct {
			Message string `json:"message"`
		} `json:"errors"`
	}
	dec := json.NewDecoder(bytes.NewReader(rec.Body.Bytes()))
	dec.UseNumber()
	decodeErr := dec.Decode(&reply)
	var msgs []string
	for _, e := range reply.Errors {
		msgs = append(msgs, e.Message)
	}
	if status < 200 || status >= 300 {
		msg := fmt.Sprintf("mock route %s: the service answered %d %s", rt.Name, status, http.StatusText(status))
		if len(msgs) > 0 {
			msg += ": " + strings.Join(msgs, "; ")
		}
		r := failed(OutcomeHTTPError, req.Action, msg)
		r.Calls[0].Status = status
		return r
	}
	if decodeErr != nil || reply.Successful == nil {
		return failed(OutcomeInvalid, req.Action, fmt.Sprintf("mock route %s: the service's answer is not OpenDialog's shape", rt.Name))
	}
	if !*reply.Successful {
		errs := strings.Join(msgs, "; ")
		if errs == "" {
			errs = "no error message given"
		}
		return failed(OutcomeUnsuccess, req.Action, fmt.Sprintf("mock route %s: the service reported failure: %s", rt.Name, errs))
	}
	var outputs map[string]any
	if reply.OutputData != nil {
		outputs, _ = dsl.NormalizeNumbers(reply.OutputData.Attributes).(map[string]any)
	}
	return plugins.ActionResult{Success: true, Outputs: outputs,
		Calls: []plugins.Call{{Method: method, URL: "mock:" + rt.Path, Attempts: 1, Outcome: OutcomeOK, Status: status}}}
}
