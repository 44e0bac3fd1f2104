// Package server is Parley's HTTP interface, the handler behind `parley serve`:
// an OpenDialog-compatible webchat endpoint, a context API, turn traces, the
// loaded scenarios, health and readiness, Prometheus metrics and the preview
// page.
//
// # Endpoints
//
//	POST /incoming/webchat          webchat (API or admin key)
//	GET, POST /webchat-config       the widget's settings (no key)
//	GET  /user/{id}/history         the user's recent messages, the widget's format (API or admin key)
//	GET  /user/{id}/history/file    the transcript as text (API or admin key)
//	GET  /web-chat-iframe, /vendor/webchat/...  a built widget, with Options.WebchatDir (no key)
//	GET  /api/users/{id}/context    a user's contexts (admin key)
//	POST /api/users/{id}/context    set one attribute: {"key":"first_name","value":"John"} (admin key)
//	GET  /api/users/{id}/traces     the user's last turn traces, newest last (admin key)
//	GET  /api/users/{id}/history    the turns the store keeps for the user, oldest first (admin key)
//	DELETE /api/users/{id}          erase the user's state and history (admin key)
//	GET  /api/scenarios             version, scenarios, last reload and its diagnostics (admin key)
//	GET  /api/events?user=ID        server-sent events: the scenario status and the user's
//	                                contexts and traces, pushed as they change (admin key)
//	GET  /healthz, /readyz          liveness and readiness (no key)
//	GET  /metrics                   Prometheus metrics (no key)
//	GET  /preview                   the preview page (no key: the page holds no data; its
//	                                requests to the API carry the admin key)
//
//	GET  /                          a redirect (302) to /preview
//
// Every 4xx and 5xx answer is JSON, {"error":{"code":"...","message":"..."}}
// (see ErrorBody), and a refused request changes nothing. Paths are never
// cleaned or redirected: one with "." or ".." segments or an empty segment
// ("//") is a 400. Request bodies must be valid UTF-8 and user ids may not
// hold U+FFFD, so that decoding never makes two ids one.
//
// The exceptions are the few answers net/http writes itself, before any
// handler runs, as plain text, after which it closes the connection: 400 for
// a malformed request line or header, or a missing Host; 431 for a request
// line and headers over MaxHeaderBytes; 417 for an Expect header other than
// 100-continue; 501 for an unsupported Transfer-Encoding; 505 for an HTTP
// version it does not speak.
//
// # Security
//
// When API or admin keys are configured, requests carry one as
// "Authorization: Bearer KEY"; keys are compared in constant time and never
// logged. The webchat endpoint accepts API and admin keys; the admin
// endpoints only admin keys (with API keys but no admin key they are closed).
// With no key at all every endpoint is open: the caller (parley serve) then
// listens on loopback addresses only. Bodies are limited in size, utterance
// texts in length, turns per user in rate (a token bucket per user, in a
// bounded map), and new users per client address in rate (a turn of a user
// id the store does not know; the address is the connection's peer, or
// taken from X-Forwarded-For when the peer is a trusted proxy).
//
// # Unknown users
//
// GET of the context or the traces of a user the engine keeps no state about
// (empty user, session and conversation contexts) and the server keeps no
// trace of answers 404 not_found, and so does GET of the history of a user
// the store keeps no state about. POST of a context attribute creates the
// user; DELETE of an unknown user succeeds (204), as deleting twice does.
package server

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"golang.org/x/time/rate"

	"github.com/parleyhq/parley/engine"
	"github.com/parleyhq/parley/reload"
)

// Defaults of Options.
const (
	DefaultMaxBodyBytes    = 64 << 10
	DefaultMaxTextLength   = 2000
	DefaultRateLimit       = 10 // turns per second and user
	DefaultRateBurst       = 20
	DefaultRateUsers       = 100_000
	DefaultTracesPerUser   = 50
	DefaultTraceUsers      = 1000
	DefaultShutdownTimeout = 30 * time.Second
)

// MaxHeaderBytes bounds the request line and headers of a request served by
// Serve; net/http answers a larger header block with a plain-text 431.
const MaxHeaderBytes = 32 << 10

// maxUserIDBytes bounds user ids, as the engine does.
const maxUserIDBytes = 512

// Options configure a Server. The zero value is usable: no keys, default limits.
type Options struct {
	// APIKeys are the keys accepted on the webchat endpoint.
	APIKeys []string
	// AdminKeys are the keys accepted on every endpoint, the admin ones included.
	AdminKeys []string
	// MaxBodyBytes limits request bodies (413 beyond); 0 means DefaultMaxBodyBytes.
	MaxBodyBytes int64
	// MaxTextLength limits an utterance's text, in characters (422 beyond);
	// 0 means DefaultMaxTextLength.
	MaxTextLength int
	// RateLimit is the sustained number of turns per second a user may take;
	// 0 means DefaultRateLimit and a negative value disables the limit.
	RateLimit float64
	// RateBurst is how many turns a user may take at once; 0 means DefaultRateBurst.
	RateBurst int
	// RateUsers bounds how many users' buckets are kept (least recently seen
	// are dropped); 0 means DefaultRateUsers.
	RateUsers int
	// TracesPerUser is how many recent traces are kept per user; 0 means
	// DefaultTracesPerUser and a negative value keeps none.
	TracesPerUser int
	// TraceUsers bounds how many users' traces are kept (least recently seen
	// are dropped); 0 means DefaultTraceUsers.
	TraceUsers int
	// ShutdownTimeout bounds how long Serve waits for in-flight requests
	// after its context ends; 0 means DefaultShutdownTimeout.
	ShutdownTimeout time.Duration
	// Logger receives structured logs; nil discards them.
	Logger *slog.Logger
	// Registry receives the metrics and is served at /metrics; nil means a
	// new registry with the Go and process collectors.
	Registry *prometheus.Registry
	// ReloadStatus returns the last reload decision, for /api/scenarios; nil
	// means the last event given to ObserveReload.
	ReloadStatus func() (reload.Event, bool)
	// Location is the time zone of the time and date of webchat messages; nil means time.Local.
	Location *time.Location
	// Now is the clock of the rate limiter; nil means time.Now.
	Now func() time.Time
	// NewUserRate is how many new users (turns of a user id the store does
	// not know) one client address may create per second; 0 means
	// DefaultNewUserRate and a negative value disables the limit.
	NewUserRate float64
	// NewUserBurst is how many new users one client address may create at
	// once; 0 means DefaultNewUserBurst.
	NewUserBurst int
	// TrustedProxies are the networks of reverse proxies whose
	// X-Forwarded-For header names the client; the header of any other peer
	// is ignored.
	TrustedProxies []netip.Prefix
	// Version is the version of the binary, for parley_build_info; empty
	// means the module version of the build information.
	Version string
	// WebchatSettings are merged over OpenDialog's defaults (DefaultWebchatSettings)
	// and served at /webchat-config.
	WebchatSettings map[string]any
	// CORSOrigins are the origins (scheme://host:port, or "*") of pages that
	// may call the webchat endpoints from a browser.
	CORSOrigins []string
	// WebchatDir is a built OpenDialog webchat to serve at /web-chat-iframe
	// and /vendor/webchat/ (see webchatDirRoutes); empty serves none.
	WebchatDir string
}

// Server serves the HTTP interface of an engine. It is safe for concurrent use.
type Server struct {
	eng      *engine.Engine
	opts     Options
	log      *slog.Logger
	apiKeys  [][sha256.Size]byte
	admKeys  [][sha256.Size]byte
	limits   *limiters
	newUsers *limiters // by client address
	traces   *traceStore
	metrics  *metrics
	registry *prometheus.Registry
	handler  http.Handler
	lastRel  atomic.Pointer[reload.Event]
	draining atomic.Bool
	events   *broker
}

// New returns a Server over eng.
func New(eng *engine.Engine, opts Options) (*Server, error) {
	if eng == nil {
		return nil, errors.New("creating the HTTP server: nil engine")
	}
	if opts.MaxBodyBytes <= 0 {
		opts.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if opts.MaxTextLength <= 0 {
		opts.MaxTextLength = DefaultMaxTextLength
	}
	if opts.RateLimit == 0 {
		opts.RateLimit = DefaultRateLimit
	}
	if opts.RateBurst <= 0 {
		opts.RateBurst = DefaultRateBurst
	}
	if opts.RateUsers <= 0 {
		opts.RateUsers = DefaultRateUsers
	}
	if opts.TracesPerUser == 0 {
		opts.TracesPerUser = DefaultTracesPerUser
	}
	if opts.TraceUsers <= 0 {
		opts.TraceUsers = DefaultTraceUsers
	}
	if opts.ShutdownTimeout <= 0 {
		opts.ShutdownTimeout = DefaultShutdownTimeout
	}
	if opts.Location == nil {
		opts.Location = time.Local
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.NewUserRate == 0 {
		opts.NewUserRate = DefaultNewUserRate
	}
	if opts.NewUserBurst <= 0 {
		opts.NewUserBurst = DefaultNewUserBurst
	}
	s := &Server{eng: eng, opts: opts, log: opts.Logger, registry: opts.Registry, events: newBroker()}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	var err error
	if s.apiKeys, err = hashKeys("API", opts.APIKeys); err != nil {
		return nil, err
	}
	if s.admKeys, err = hashKeys("admin", opts.AdminKeys); err != nil {
		return nil, err
	}
	if opts.RateLimit > 0 {
		s.limits = newLimiters(rate.Limit(opts.RateLimit), opts.RateBurst, opts.RateUsers)
	}
	if opts.NewUserRate > 0 {
		s.newUsers = newLimiters(rate.Limit(opts.NewUserRate), opts.NewUserBurst, DefaultNewUserClients)
	}
	if opts.TracesPerUser > 0 {
		s.traces = newTraceStore(opts.TracesPerUser, opts.TraceUsers)
	}
	if s.registry == nil {
		s.registry = defaultRegistry()
	}
	if s.metrics, err = newMetrics(s.registry); err != nil {
		return nil, fmt.Errorf("creating the HTTP server: registering metrics: %w", err)
	}
	if err := s.registry.Register(newInfoCollector(s)); err != nil {
		return nil, fmt.Errorf("creating the HTTP server: registering metrics: %w", err)
	}
	if s.handler, err = s.routes(); err != nil {
		return nil, fmt.Errorf("creating the HTTP server: %w", err)
	}
	return s, nil
}

// minKeyLength is the shortest key accepted, so a key cannot be guessed.
const minKeyLength = 16

// hashKeys checks keys and returns their SHA-256 digests, compared in
// constant time whatever the length of the key presented.
func hashKeys(kind string, keys []string) ([][sha256.Size]byte, error) {
	out := make([][sha256.Size]byte, 0, len(keys))
	for i, k := range keys {
		if len(k) < minKeyLength {
			// The key itself is never part of an error.
			return nil, fmt.Errorf("%s key #%d is %d characters long; use at least %d", kind, i+1, len(k), minKeyLength)
		}
		if strings.ContainsAny(k, " \t\r\n,") {
			return nil, fmt.Errorf("%s key #%d contains a space, a comma or a line break", kind, i+1)
		}
		out = append(out, sha256.Sum256([]byte(k)))
	}
	return out, nil
}

// Handler returns the HTTP handler of every endpoint.
func (s *Server) Handler() http.Handler { return s.handler }

// Registry returns the registry served at /metrics.
func (s *Server) Registry() *prometheus.Registry { return s.registry }

// ObserveReload records a reload decision: it is counted in
// parley_reloads_total and, without Options.ReloadStatus, shown by /api/scenarios.
func (s *Server) ObserveReload(ev reload.Event) {
	s.metrics.observeReload(ev)
	if ev.Outcome != reload.Unchanged {
		s.lastRel.Store(&ev)
	}
	s.events.notify("", true, dirtyScenarios)
}

func (s *Server) lastReload() (reload.Event, bool) {
	if s.opts.ReloadStatus != nil {
		return s.opts.ReloadStatus()
	}
	if ev := s.lastRel.Load(); ev != nil {
		return *ev, true
	}
	return reload.Event{}, false
}

// Serve serves on ln until ctx ends, then shuts down gracefully: it stops
// accepting connections and waits, up to Options.ShutdownTimeout, for the
// requests in flight (their turns included) to finish. It returns nil after
// a clean shutdown.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	hs := &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    MaxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	hs.RegisterOnShutdown(s.events.close) // event streams never end by themselves
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serving HTTP on %s: %w", ln.Addr(), err)
	case <-ctx.Done():
	}
	s.draining.Store(true)
	s.log.Info("shutting down: finishing requests in flight", slog.Duration("timeout", s.opts.ShutdownTimeout))
	sctx, cancel := context.WithTimeout(context.Background(), s.opts.ShutdownTimeout)
	defer cancel()
	if err := hs.Shutdown(sctx); err != nil {
		_ = hs.Close()
		<-errc
		return fmt.Errorf("shutting down the HTTP server: %w", err)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serving HTTP on %s: %w", ln.Addr(), err)
	}
	s.log.Info("stopped")
	return nil
}

// routes builds the handler of every endpoint. A method-less pattern next to
// each endpoint answers other methods with a JSON 405, and "/" answers
// unknown paths with a JSON 404.
func (s *Server) routes() (http.Handler, error) {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /incoming/webchat", s.auth(false, s.webchat))
	mux.HandleFunc("/incoming/webchat", methodNotAllowed("POST"))
	// The widget's other endpoints (widget.go).
	mux.HandleFunc("GET /webchat-config", s.webchatConfig)
	mux.HandleFunc("POST /webchat-config", s.webchatConfig)
	mux.HandleFunc("/webchat-config", methodNotAllowed("GET, POST"))
	mux.HandleFunc("GET /user/{id}/history", s.auth(false, s.history))
	mux.HandleFunc("/user/{id}/history", methodNotAllowed("GET"))
	mux.HandleFunc("GET /user/{id}/history/file", s.auth(false, s.historyFile))
	mux.HandleFunc("/user/{id}/history/file", methodNotAllowed("GET"))
	if s.opts.WebchatDir != "" {
		if err := s.webchatDirRoutes(mux, s.opts.WebchatDir); err != nil {
			return nil, err
		}
	}
	mux.HandleFunc("GET /api/users/{id}/context", s.auth(true, s.getContext))
	mux.HandleFunc("POST /api/users/{id}/context", s.auth(true, s.setContext))
	mux.HandleFunc("/api/users/{id}/context", methodNotAllowed("GET, POST"))
	mux.HandleFunc("GET /api/users/{id}/traces", s.auth(true, s.getTraces))
	mux.HandleFunc("/api/users/{id}/traces", methodNotAllowed("GET"))
	mux.HandleFunc("GET /api/users/{id}/history", s.auth(true, s.getHistory))
	mux.HandleFunc("/api/users/{id}/history", methodNotAllowed("GET"))
	mux.HandleFunc("DELETE /api/users/{id}", s.auth(true, s.deleteUser))
	mux.HandleFunc("/api/users/{id}", methodNotAllowed("DELETE"))
	mux.HandleFunc("GET /api/scenarios", s.auth(true, s.getScenarios))
	mux.HandleFunc("/api/scenarios", methodNotAllowed("GET"))
	mux.HandleFunc("GET /api/events", s.auth(true, s.getEvents))
	mux.HandleFunc("/api/events", methodNotAllowed("GET"))
	mux.HandleFunc("GET /healthz", s.healthz)
	mux.HandleFunc("/healthz", methodNotAllowed("GET"))
	mux.HandleFunc("GET /readyz", s.readyz)
	mux.HandleFunc("/readyz", methodNotAllowed("GET"))
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.registry, promhttp.HandlerOpts{
		ErrorLog: slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}))
	mux.HandleFunc("/metrics", methodNotAllowed("GET"))
	s.previewRoutes(mux)
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		// A person opening the server's address wants the preview.
		w.Header().Set("Location", "/preview")
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(http.StatusFound)
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, CodeNotFound, fmt.Sprintf("no endpoint %s %s", r.Method, truncate(r.URL.Path, 200)))
	})
	return s.observe(s.recoverer(s.canonicalPaths(s.cors(mux)))), nil // a panic is counted as the 500 it becomes
}

// canonicalPaths refuses paths with "." or ".." segments or empty segments
// ("//") with a JSON 400. Without it the mux would answer them with a
// redirect to the cleaned path and an HTML body: /api/users/x/../victim/context
// would point a client at another user's data, and the answer would not be
// the documented JSON error.
func (s *Server) canonicalPaths(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if p := r.URL.Path; r.Method != http.MethodConnect && !isCanonicalPath(p) {
			s.reject(w, http.StatusBadRequest, CodeBadRequest,
				fmt.Sprintf("path %q is not canonical: it has \".\" or \"..\" segments or an empty segment (\"//\"); paths are neither cleaned nor redirected", truncate(p, 200)))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// isCanonicalPath reports whether p is an absolute path without "." or ".."
// segments and without empty segments (a trailing slash is allowed), the
// paths the mux serves without redirecting.
func isCanonicalPath(p string) bool {
	if p == "" || p[0] != '/' {
		return false
	}
	for rest := p[1:]; ; {
		seg, tail, more := strings.Cut(rest, "/")
		if seg == "." || seg == ".." || (seg == "" && more) {
			return false
		}
		if !more {
			return true
		}
		rest = tail
	}
}

// statusWriter remembers the status of an answer, for the access log.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// observe counts every request in parley_http_requests_total and its
// duration in parley_http_request_duration_seconds, by the route pattern
// that matched (so paths holding user ids never become labels), and logs it
// at debug level: method, path, status and duration, never a header (keys
// travel in headers).
func (s *Server) observe(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w}
		next.ServeHTTP(sw, r)
		status := sw.status
		if status == 0 {
			status = http.StatusOK // nothing written: net/http answers 200
		}
		route := r.Pattern // set by the mux on this request
		if route == "" || route == "/" {
			route = "unmatched"
		}
		d := time.Since(start)
		s.metrics.observeRequest(route, r.Method, status, d.Seconds())
		if s.log.Enabled(r.Context(), slog.LevelDebug) {
			s.log.LogAttrs(r.Context(), slog.LevelDebug, "request", slog.String("method", r.Method),
				slog.String("path", r.URL.Path), slog.Int("status", status),
				slog.Duration("duration", d), slog.String("remote", r.RemoteAddr))
		}
	})
}

// recoverer turns a panic of a handler into a JSON 500 instead of a dropped connection.
func (s *Server) recoverer(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				s.log.Error("handler panic", slog.String("method", r.Method), slog.String("path", r.URL.Path), slog.Any("panic", v))
				writeError(w, http.StatusInternalServerError, CodeInternal, "internal error")
			}
		}()
		next.ServeHTTP(w, r)
	})
}

func methodNotAllowed(allow string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Allow", allow)
		writeError(w, http.StatusMethodNotAllowed, CodeMethodNotAllowed,
			fmt.Sprintf("method %s is not allowed on %s (allowed: %s)", r.Method, r.URL.Path, allow))
	}
}

// keysConfigured reports whether any key is required.
func (s *Server) keysConfigured() bool { return len(s.apiKeys)+len(s.admKeys) > 0 }

// auth checks the bearer key of a request: an admin key for admin
// endpoints, an API or admin key for the others.
func (s *Server) auth(admin bool, next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !s.keysConfigured() {
			next(w, r)
			return
		}
		if admin && len(s.admKeys) == 0 {
			s.reject(w, http.StatusForbidden, CodeForbidden, "the admin endpoints are disabled: the server has API keys but no admin key")
			return
		}
		h := r.Header.Get("Authorization")
		scheme, key, ok := strings.Cut(h, " ")
		if h == "" {
			w.Header().Set("WWW-Authenticate", `Bearer realm="parley"`)
			s.reject(w, http.StatusUnauthorized, CodeUnauthorized, "missing key: send Authorization: Bearer KEY")
			return
		}
		if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(key) == "" {
			w.Header().Set("WWW-Authenticate", `Bearer realm="parley"`)
			s.reject(w, http.StatusUnauthorized, CodeUnauthorized, "malformed Authorization header: want Bearer KEY")
			return
		}
		sum := sha256.Sum256([]byte(strings.TrimSpace(key)))
		isAdmin := matchKey(s.admKeys, &sum)
		if isAdmin || (!admin && matchKey(s.apiKeys, &sum)) {
			next(w, r)
			return
		}
		if admin && matchKey(s.apiKeys, &sum) {
			s.reject(w, http.StatusForbidden, CodeForbidden, "this endpoint needs an admin key; an API key was given")
			return
		}
		w.Header().Set("WWW-Authenticate", `Bearer realm="parley", error="invalid_token"`)
		s.reject(w, http.StatusUnauthorized, CodeUnauthorized, "unknown key")
	}
}

// matchKey compares sum with every key, without stopping at the first match.
func matchKey(keys [][sha256.Size]byte, sum *[sha256.Size]byte) bool {
	found := 0
	for i := range keys {
		found |= subtle.ConstantTimeCompare(keys[i][:], sum[:])
	}
	return found == 1
}

// reject answers a JSON error and counts it.
func (s *Server) reject(w http.ResponseWriter, status int, code, message string) {
	s.metrics.rejected.WithLabelValues(code, strconv.Itoa(status)).Inc()
	writeError(w, status, code, message)
}
