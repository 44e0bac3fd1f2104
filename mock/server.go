package mock

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/parleyhq/parley/dsl"
)

// Defaults of Options.
const (
	DefaultMaxRequests  = 1000
	DefaultMaxBodyBytes = 1 << 20
	DefaultMaxHold      = 5 * time.Minute
)

// Options tune a Server. The zero value is usable.
type Options struct {
	// Log receives one line per request answered; nil discards them.
	Log io.Writer
	// MaxRequests is how many requests GET /_requests keeps (the most recent);
	// 0 means DefaultMaxRequests.
	MaxRequests int
	// MaxBodyBytes limits a request body; a larger one gets 413. 0 means DefaultMaxBodyBytes.
	MaxBodyBytes int64
	// MaxHold bounds how long a "timeout" failure holds a request before
	// answering 504; 0 means DefaultMaxHold.
	MaxHold time.Duration
}

// Server serves a Config: it is an http.Handler. Besides the declared routes
// it answers GET and DELETE /_requests (the request log) and GET /_routes.
type Server struct {
	cfg   *Config
	opts  Options
	calls map[*Route]*atomic.Int64
	log   *requestLog
	done  chan struct{}
	once  sync.Once
	outMu sync.Mutex // one writer at a time on opts.Log
}

// New returns a Server answering cfg's routes.
func New(cfg *Config, opts Options) *Server {
	if opts.MaxRequests <= 0 {
		opts.MaxRequests = DefaultMaxRequests
	}
	if opts.MaxBodyBytes <= 0 {
		opts.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if opts.MaxHold <= 0 {
		opts.MaxHold = DefaultMaxHold
	}
	s := &Server{
		cfg:   cfg,
		opts:  opts,
		calls: make(map[*Route]*atomic.Int64, len(cfg.Routes)),
		log:   newRequestLog(opts.MaxRequests),
		done:  make(chan struct{}),
	}
	for _, r := range cfg.Routes {
		s.calls[r] = new(atomic.Int64)
	}
	return s
}

// Close releases requests held by delays and "timeout" failures, which then
// answer 503, so an http.Server's Shutdown does not wait for them. The Server
// keeps answering other requests.
func (s *Server) Close() { s.once.Do(func() { close(s.done) }) }

// Requests returns the logged requests, oldest first.
func (s *Server) Requests() []Request { return s.log.list() }

// Reset clears the request log and restarts every route's fail_times count.
func (s *Server) Reset() {
	s.log.clear()
	for _, c := range s.calls {
		c.Store(0)
	}
}

// matchKey carries a *match through the route mux.
type matchKey struct{}

// match is the route the mux chose, with the request carrying its path values.
type match struct {
	route *Route
	req   *http.Request
}

// probe is the ResponseWriter handed to the route mux: route handlers only
// record the match, and the mux's own 404, 405 or redirect lands here.
type probe struct {
	header http.Header
	status int
}

func (p *probe) Header() http.Header {
	if p.header == nil {
		p.header = http.Header{}
	}
	return p.header
}
func (p *probe) Write(b []byte) (int, error) { return len(b), nil }
func (p *probe) WriteHeader(code int)        { p.status = code }

// outcome is how a request was answered.
type outcome struct {
	status int    // 0 when no answer was written
	fail   string // the failure mode applied
	err    string // why the answer is an error, for the log
	reset  bool   // drop the connection once logged
}

// ServeHTTP answers a request from the matching route and logs it.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/_requests":
		s.serveRequests(w, r)
		return
	case "/_routes":
		s.serveRoutes(w, r)
		return
	}
	start := time.Now()
	body, readErr := io.ReadAll(http.MaxBytesReader(w, r.Body, s.opts.MaxBodyBytes))
	r.Body = io.NopCloser(bytes.NewReader(body))
	rec := s.log.add(newRecord(r, body, start))

	var m match
	var p probe
	s.cfg.mux.ServeHTTP(&p, r.WithContext(context.WithValue(r.Context(), matchKey{}, &m)))
	var out outcome
	switch {
	case m.route == nil:
		out = s.noRoute(w, r, &p)
	case readErr != nil:
		out = outcome{status: http.StatusRequestEntityTooLarge, err: "request body too large or unreadable"}
		var mbe *http.MaxBytesError
		if errors.As(readErr, &mbe) {
			out.err = fmt.Sprintf("request body exceeds %d bytes", mbe.Limit)
		}
		writeJSON(w, out.status, nil, map[string]string{"error": out.err})
	default:
		out = s.answer(w, m.req, m.route, body)
	}
	routeName := ""
	if m.route != nil {
		routeName = m.route.Name
	}
	line := s.log.finish(rec, routeName, out, time.Since(start))
	if s.opts.Log != nil {
		s.outMu.Lock()
		_, _ = io.WriteString(s.opts.Log, line)
		s.outMu.Unlock()
	}
	if out.reset {
		resetConn(w)
	}
}

// noRoute answers a request no route matches, from what the mux decided.
func (s *Server) noRoute(w http.ResponseWriter, r *http.Request, p *probe) outcome {
	status := p.status
	if status == 0 {
		status = http.StatusNotFound
	}
	h := http.Header{}
	for _, k := range []string{"Allow", "Location"} {
		if v := p.Header().Get(k); v != "" {
			h.Set(k, v)
		}
	}
	var msg string
	switch status {
	case http.StatusNotFound:
		msg = fmt.Sprintf("no mock route for %s %s", r.Method, r.URL.Path)
	case http.StatusMethodNotAllowed:
		msg = fmt.Sprintf("no mock route for %s %s; allowed methods: %s", r.Method, r.URL.Path, h.Get("Allow"))
	default:
		msg = fmt.Sprintf("redirected to %s", h.Get("Location"))
	}
	routes := make([]string, 0, len(s.cfg.Routes))
	for _, rt := range s.cfg.Routes {
		routes = append(routes, rt.pattern)
	}
	writeJSON(w, status, h, map[string]any{"error": msg, "routes": routes})
	return outcome{status: status, err: msg}
}

// answer answers a request matched to rt.
func (s *Server) answer(w http.ResponseWriter, r *http.Request, rt *Route, body []byte) outcome {
	n := s.calls[rt].Add(1)
	if rt.Delay > 0 {
		if out, ok := s.wait(r.Context(), w, rt.Delay); !ok {
			return out
		}
	}
	if rt.Fail != "" && (rt.FailTimes == 0 || n <= int64(rt.FailTimes)) {
		return s.fail(w, r, rt)
	}
	if rt.Protocol == ProtocolOpenDialog {
		return s.openDialog(w, r, rt, body)
	}
	return s.plainHTTP(w, r, rt, body)
}

// wait sleeps d unless the client goes away or the server closes.
func (s *Server) wait(ctx context.Context, w http.ResponseWriter, d time.Duration) (outcome, bool) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return outcome{}, true
	case <-ctx.Done():
		return outcome{err: "the client went away before the answer"}, false
	case <-s.done:
		msg := "the mock server is shutting down"
		writeJSON(w, http.StatusServiceUnavailable, nil, map[string]string{"error": msg})
		return outcome{status: http.StatusServiceUnavailable, err: msg}, false
	}
}

// fail applies rt's failure mode.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, rt *Route) outcome {
	out := outcome{fail: rt.Fail}
	switch rt.Fail {
	case FailTimeout:
		o, ok := s.wait(r.Context(), w, s.opts.MaxHold)
		o.fail = rt.Fail
		if ok {
			o.status = http.StatusGatewayTimeout
			o.err = fmt.Sprintf("held for %s without an answer", s.opts.MaxHold)
			writeJSON(w, o.status, nil, map[string]string{"error": o.err})
		}
		return o
	case FailReset:
		out.reset = true
		out.err = "connection reset"
		return out
	case FailBadJSON:
		out.status = http.StatusOK
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(out.status)
		_, _ = io.WriteString(w, `{"successful": true, "output_data": {"attrib`)
		return out
	case FailEmpty:
		out.status = http.StatusOK
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Length", "0")
		w.WriteHeader(out.status)
		return out
	}
	out.status = rt.FailStatus()
	out.err = fmt.Sprintf("mock failure: HTTP %d %s", out.status, http.StatusText(out.status))
	h := http.Header{}
	if rt.RetryAfter >= 0 {
		h.Set("Retry-After", strconv.Itoa(rt.RetryAfter))
	}
	if rt.Protocol == ProtocolOpenDialog {
		writeJSON(w, out.status, h, odFailure{Errors: []odError{{Message: out.err}}})
	} else {
		writeJSON(w, out.status, h, map[string]string{"error": out.err})
	}
	return out
}

// odSuccess and odFailure are OpenDialog's webhook answers.
type odSuccess struct {
	Successful bool `json:"successful"`
	OutputData struct {
		Attributes map[string]any `json:"attributes"`
	} `json:"output_data"`
}

type odFailure struct {
	Successful bool      `json:"successful"`
	Errors     []odError `json:"errors"`
}

type odError struct {
	Message string `json:"message"`
}

// openDialog answers with the OpenDialog protocol.
func (s *Server) openDialog(w http.ResponseWriter, r *http.Request, rt *Route, body []byte) outcome {
	if rt.Body != nil {
		return writeStatic(w, rt, rt.Body)
	}
	unsuccessful := func(msgs ...string) outcome {
		f := odFailure{}
		for _, m := range msgs {
			f.Errors = append(f.Errors, odError{Message: m})
		}
		writeJSON(w, rt.Status, rt.Headers, f)
		return outcome{status: rt.Status, err: strings.Join(msgs, "; ")}
	}
	decoded, err := decodeJSON(body)
	if err != nil {
		msg := "the request body is not JSON: " + err.Error()
		writeJSON(w, http.StatusBadRequest, nil, odFailure{Errors: []odError{{Message: msg}}})
		return outcome{status: http.StatusBadRequest, err: msg}
	}
	input := map[string]any{}
	if top, ok := decoded.(map[string]any); ok {
		if data, ok := top["input_data"].(map[string]any); ok {
			if attrs, ok := data["attributes"].(map[string]any); ok {
				input = attrs
			} else if data["attributes"] != nil {
				msg := "input_data.attributes is not an object"
				writeJSON(w, http.StatusBadRequest, nil, odFailure{Errors: []odError{{Message: msg}}})
				return outcome{status: http.StatusBadRequest, err: msg}
			}
		}
	}
	env := map[string]any{"input": input, "request": requestEnv(r, decoded)}
	ok := len(rt.Errors) == 0
	if rt.Successful != nil {
		ok, err = rt.Successful.RunBool(env)
		if err != nil {
			return unsuccessful("mock: " + err.Error())
		}
	}
	if !ok {
		var msgs []string
		for _, t := range rt.Errors {
			m, _ := t.Render(env)
			msgs = append(msgs, m)
		}
		if len(msgs) == 0 {
			msgs = []string{"the mock route answered unsuccessfully"}
		}
		return unsuccessful(msgs...)
	}
	answer := odSuccess{Successful: true}
	answer.OutputData.Attributes = make(map[string]any, len(rt.Outputs))
	for _, o := range rt.Outputs {
		v, err := o.Program.Run(env)
		if err != nil {
			return unsuccessful(fmt.Sprintf("mock: computing %s: %v", o.Name, err))
		}
		answer.OutputData.Attributes[o.Name] = v
	}
	if err := writeJSON(w, rt.Status, rt.Headers, answer); err != nil {
		return outcome{status: http.StatusInternalServerError, err: err.Error()}
	}
	return outcome{status: rt.Status}
}

// plainHTTP answers with the http protocol: the static body with outputs merged in.
func (s *Server) plainHTTP(w http.ResponseWriter, r *http.Request, rt *Route, body []byte) outcome {
	if len(rt.Outputs) == 0 {
		return writeStatic(w, rt, rt.Body)
	}
	var input any
	if len(body) > 0 {
		v, err := decodeJSON(body)
		if err != nil {
			input = string(body)
		} else {
			input = v
		}
	}
	env := map[string]any{"input": input, "request": requestEnv(r, input)}
	obj := map[string]any{}
	if rt.Body != nil {
		v, _ := decodeJSON(rt.Body)
		if m, ok := v.(map[string]any); ok {
			obj = m
		}
	}
	for _, o := range rt.Outputs {
		v, err := o.Program.Run(env)
		if err != nil {
			msg := fmt.Sprintf("mock: computing %s: %v", o.Name, err)
			writeJSON(w, http.StatusInternalServerError, nil, map[string]string{"error": msg})
			return outcome{status: http.StatusInternalServerError, err: msg}
		}
		obj[o.Name] = v
	}
	if err := writeJSON(w, rt.Status, rt.Headers, obj); err != nil {
		return outcome{status: http.StatusInternalServerError, err: err.Error()}
	}
	return outcome{status: rt.Status}
}

// writeStatic writes a declared body (or none) with the route's status and headers.
func writeStatic(w http.ResponseWriter, rt *Route, body []byte) outcome {
	for k, v := range rt.Headers {
		w.Header().Set(k, v)
	}
	if body != nil && w.Header().Get("Content-Type") == "" {
		w.Header().Set("Content-Type", "application/json")
	}
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(rt.Status)
	_, _ = w.Write(body)
	return outcome{status: rt.Status}
}

// requestEnv is the request variable of expressions.
func requestEnv(r *http.Request, body any) map[string]any {
	headers := make(map[string]any, len(r.Header))
	for k, v := range r.Header {
		headers[strings.ToLower(k)] = strings.Join(v, ", ")
	}
	query := map[string]any{}
	for k, v := range r.URL.Query() {
		query[k] = strings.Join(v, ",")
	}
	return map[string]any{
		"method":  r.Method,
		"path":    r.URL.Path,
		"headers": headers,
		"query":   query,
		"params":  pathParams(r),
		"body":    body,
	}
}

// pathParams returns the path wildcards the mux matched ({id} in "/users/{id}").
func pathParams(r *http.Request) map[string]any {
	out := map[string]any{}
	i := strings.IndexByte(r.Pattern, '/')
	if i < 0 {
		return out
	}
	for _, seg := range strings.Split(r.Pattern[i:], "/") {
		if len(seg) > 2 && seg[0] == '{' && seg[len(seg)-1] == '}' {
			name := strings.TrimSuffix(seg[1:len(seg)-1], "...")
			if name != "$" {
				out[name] = r.PathValue(name)
			}
		}
	}
	return out
}

// writeJSON writes v as JSON with status and extra headers (a map or an http.Header).
func writeJSON(w http.ResponseWriter, status int, headers any, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		b, _ = json.Marshal(map[string]string{"error": "mock: encoding the answer: " + err.Error()})
	}
	switch h := headers.(type) {
	case map[string]string:
		for k, v := range h {
			w.Header().Set(k, v)
		}
	case http.Header:
		for k, v := range h {
			w.Header()[k] = v
		}
	}
	if w.Header().Get("Content-Type") == "" {
		w.Header().Set("Content-Type", "application/json")
	}
	w.Header().Set("Content-Length", strconv.Itoa(len(b)+1))
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
	if err != nil {
		return fmt.Errorf("encoding the answer: %w", err)
	}
	return nil
}

// resetConn drops the connection: a TCP reset where possible, else an aborted answer.
func resetConn(w http.ResponseWriter) {
	if hj, ok := w.(http.Hijacker); ok {
		if conn, _, err := hj.Hijack(); err == nil {
			if tc, ok := conn.(*net.TCPConn); ok {
				_ = tc.SetLinger(0)
			}
			_ = conn.Close()
			return
		}
	}
	panic(http.ErrAbortHandler)
}

// decodeJSON decodes one JSON value, integral numbers as int; empty input and
// trailing data are errors.
func decodeJSON(b []byte) (any, error) {
	if len(bytes.TrimSpace(b)) == 0 {
		return nil, errors.New("the body is empty")
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("unexpected data after the JSON value")
	}
	return dsl.NormalizeNumbers(v), nil
}
