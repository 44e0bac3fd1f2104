// Package webhook is Parley's webhook action: it calls an HTTP service with
// the action's input attributes and returns the attributes the service
// answers, following OpenDialog's webhook protocol by default.
//
// # Protocols
//
// With protocol "opendialog" (the default) the action POSTs
//
//	{"input_data":{"attributes":{"first_name":"John"}}}
//
// with Content-Type application/json and expects
//
//	{"successful":true,"output_data":{"attributes":{"full_name":"John Smith"}}}
//
// or {"successful":false,"errors":[{"message":"..."}]}. Every returned
// attribute becomes an output; a null one is an output with a nil value,
// which unsets the attribute. Nested objects and arrays are kept as decoded
// JSON (map[string]any, []any). JSON numbers become int when integral (and
// within ±2^53 when written with a fraction or exponent, or the int64 range
// otherwise), float64 otherwise, so an "int" attribute type-checks.
//
// With protocol "http" the action calls any JSON API: method, url and header
// templates, body as expressions over input and secret, success as a bool
// expression over response.status, response.headers (lower-case names, first
// value) and response.body (decoded JSON, or the text when it is not JSON), the
// default success being a 2xx status, and outputs as expressions over
// response. A declared output without a mapping reads the field of the same
// name of a JSON-object body. Without body, POST, PUT and PATCH send the input
// attributes as a JSON object, and GET and DELETE send nothing; every string
// in a body map is an expression (write '"text"' for literal text).
//
// # Secrets
//
// Write credentials as {{ secret.NAME }} in url and header templates (and
// secret.NAME in body expressions). Only names written literally
// (secret.NAME, secret["NAME"]) are looked up, at each call, from
// Options.Secrets: by default the process environment, after the file named
// by PARLEY_SECRETS_FILE when it is set (see LoadSecretsFile). A missing
// secret fails the call before anything is sent. Every resolved secret value
// is replaced by [REDACTED] in the call's trace (URL, headers, bodies) and
// error. A literal value such as "Bearer abc123" is accepted, and headers such
// as Authorization are always redacted in traces, but a literal credential
// lives in git: use {{ secret.NAME }}.
//
// # Environment values
//
// Values that configure a call but are not secret, such as a service's URL,
// are read as {{ env.NAME }} (env.NAME in expressions): the environment
// variable NAME (Options.Env), looked up at each call like a secret, a
// missing one failing the call, but shown in traces as it is. A name that
// looks like a credential (SECRET, TOKEN, PASSWORD, API_KEY ...) is refused
// at load time: read it as secret.NAME.
//
// # Faults
//
// Each attempt is bounded by timeout (default 5s) and the whole call,
// retries and waits included, by deadline (default 10s). Attempts are
// retried (retry.attempts, default 3 in all) only on connection errors,
// attempt timeouts, 429, 502, 503 and 504, after an exponential backoff with
// equal jitter (retry.backoff, default 100ms, doubling, capped by
// retry.max_backoff, default 2s). A 429's Retry-After (seconds or an HTTP
// date) replaces the backoff; a wait that would pass the deadline fails the
// call at once. Timeouts are retried because every attempt of one call
// carries the same Idempotency-Key header (a random UUID), so a service can
// recognise a repeat. Each action has a circuit breaker: after
// breaker.failures (default 5) consecutive calls failing with no answer, a
// timeout, a 5xx or a 429, calls fail fast for breaker.cooldown (default
// 30s), then one trial call decides. A response body larger than
// max_response_bytes (default 1 MiB) fails the call; redirects are not
// followed (a 3xx fails the call).
//
// # Security
//
// With signing, every request carries X-Parley-Timestamp (Unix seconds) and
// X-Parley-Signature: sha256=HEX, the hex HMAC-SHA256 of timestamp + "." +
// body keyed with the signing secret (header names configurable); a
// receiver recomputes it and should reject old timestamps. The outbound URL
// policy allows only http and https, and refuses, at dial time (after DNS
// resolution, so a rebinding name cannot slip through), loopback, private,
// link-local, unspecified, CGNAT and multicast addresses unless the action
// sets allow_private: true or Options.AllowPrivate is set (development mode:
// PARLEY_DEV=1 for the parley binary). Proxies from the environment are not
// used. A call made in a W3C trace context (plugins.ContextWithTraceParent;
// parley serve takes it from the webchat request) passes it on in a
// traceparent header; without one, none is sent (Parley starts no traces).
package webhook

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/tls"
	_ "embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-resty/resty/v2"

	"github.com/parleyhq/parley/plugins"
)

// Schema is the CUE source of the webhook configuration (package schema), declaring #Webhook.
//
//go:embed schema.cue
var Schema string

// Name is the action field that selects the webhook kind.
const Name = "webhook"

// Definition is the CUE definition of the webhook configuration.
const Definition = "#Webhook"

// Environment variables read by OptionsFromEnv.
const (
	// EnvDev set to 1 (or true) is development mode: private and loopback URLs are allowed.
	EnvDev = "PARLEY_DEV"
	// EnvSecretsFile names a secrets file consulted before the process environment.
	EnvSecretsFile = "PARLEY_SECRETS_FILE"
)

// Outcomes of a call, as shown in plugins.Call.Outcome.
const (
	OutcomeOK              = "ok"               // the service answered success
	OutcomeUnsuccessful    = "unsuccessful"     // the service answered, reporting failure
	OutcomeHTTPError       = "http_error"       // a non-2xx status
	OutcomeRedirect        = "redirect"         // a 3xx status, not followed
	OutcomeTimeout         = "timeout"          // every attempt ran past its timeout
	OutcomeDeadline        = "deadline"         // the overall deadline passed
	OutcomeCanceled        = "canceled"         // the caller's context was canceled
	OutcomeConnectionError = "connection_error" // no answer: refused, reset, DNS, TLS ...
	OutcomeInvalidResponse = "invalid_response" // an answer that is not the expected JSON
	OutcomeTooLarge        = "too_large"        // a body over max_response_bytes
	OutcomeBreakerOpen     = "breaker_open"     // not sent: the circuit breaker is open
	OutcomeRefused         = "refused"          // not sent: the URL policy refused the target
	OutcomeRequestError    = "request_error"    // not sent: a secret, template or expression failed
)

// Options configure the webhook kind for a whole environment.
type Options struct {
	// Secrets resolves secret.NAME; nil means the process environment.
	Secrets Secrets
	// Env resolves env.NAME, values that are not secret (a service's URL)
	// and are shown in traces as they are; nil means os.LookupEnv.
	Env func(name string) (string, bool)
	// AllowPrivate lets every action reach private and loopback addresses (development mode).
	AllowPrivate bool
	// Now is the breakers' clock; nil means time.Now.
	Now func() time.Time
}

// OptionsFromEnv returns the options of the parley binary: development mode
// from PARLEY_DEV, secrets from the file named by PARLEY_SECRETS_FILE (read
// now) and then the process environment.
func OptionsFromEnv() (Options, error) {
	var o Options
	o.AllowPrivate = DevMode()
	o.Secrets = EnvSecrets()
	if path := os.Getenv(EnvSecretsFile); path != "" {
		file, err := LoadSecretsFile(path)
		if err != nil {
			return o, fmt.Errorf("%s: %w", EnvSecretsFile, err)
		}
		o.Secrets = ChainSecrets(file, EnvSecrets())
	}
	return o, nil
}

// DevMode reports whether PARLEY_DEV asks for development mode (1, true,
// yes or on, in any case).
func DevMode() bool {
	switch strings.ToLower(os.Getenv(EnvDev)) {
	case "1", "true", "yes", "on":
		return true
	}
	return false
}

// Kind returns the webhook action kind configured with opts.
func Kind(opts Options) plugins.ActionKind {
	return plugins.ActionKind{
		Name:       Name,
		Schema:     Schema,
		Definition: Definition,
		New: func(cfg plugins.ActionConfig) (plugins.Action, error) {
			a, err := New(opts, cfg)
			if err != nil {
				return nil, err
			}
			return a, nil
		},
	}
}

// EnvKind returns the webhook kind of the parley binary: its options are read
// with OptionsFromEnv each time an action is built (each load or reload), so
// a CLI may set PARLEY_DEV or PARLEY_SECRETS_FILE before loading.
func EnvKind() plugins.ActionKind {
	k := Kind(Options{})
	k.New = func(cfg plugins.ActionConfig) (plugins.Action, error) {
		opts, err := OptionsFromEnv()
		if err != nil {
			return nil, fmt.Errorf("configuring the webhook action %q: %w", cfg.Name, err)
		}
		a, err := New(opts, cfg)
		if err != nil {
			return nil, err
		}
		return a, nil
	}
	return k
}

func init() { plugins.Global().MustRegisterAction(EnvKind()) }

// renderEnv holds the maps a call renders its templates and body with:
// recycled, as nothing keeps them past the call (templates render strings,
// and a body is encoded at once), and cleared, secrets included, before reuse.
type renderEnv struct{ env, secrets, vars map[string]any }

var renderEnvs = sync.Pool{New: func() any {
	return &renderEnv{env: make(map[string]any, 3), secrets: make(map[string]any, 1), vars: make(map[string]any, 1)}
}}

func (re *renderEnv) release() {
	clear(re.env)
	clear(re.secrets)
	clear(re.vars)
	renderEnvs.Put(re)
}

// Fixed header values, shared by every request (net/http never modifies them).
var (
	userAgent   = []string{"Parley-Webhook/1"}
	acceptJSON  = []string{"application/json"}
	contentJSON = []string{"application/json"}
)

// Action is a compiled webhook action. It is safe for concurrent use; its
// HTTP client is configured once, in New, and never changed.
type Action struct {
	name      string
	s         *settings
	secrets   Secrets
	env       func(string) (string, bool)
	client    *resty.Client
	transport *http.Transport
	breaker   *breaker
}

// New compiles a webhook configuration into an action. Configuration
// problems are *plugins.FieldError values joined with errors.Join.
func New(opts Options, cfg plugins.ActionConfig) (*Action, error) {
	s, err := compile(cfg)
	if err != nil {
		return nil, err
	}
	if opts.AllowPrivate {
		s.allowPrivate = true
	}
	a := &Action{name: cfg.Name, s: s, secrets: opts.Secrets, env: opts.Env}
	if a.env == nil {
		a.env = os.LookupEnv
	}
	if a.secrets == nil {
		a.secrets = EnvSecrets()
	}
	a.breaker = newBreaker(s.failures, s.cooldown, opts.Now)

	dialer := &net.Dialer{Timeout: s.timeout, KeepAlive: 30 * time.Second}
	if !s.allowPrivate {
		dialer.Control = dialControl
	}
	a.transport = &http.Transport{
		Proxy:                 nil, // a proxy would make the dial-time policy check the proxy, not the target
		DialContext:           dialer.DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          64,
		MaxIdleConnsPerHost:   32,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   s.timeout,
		ExpectContinueTimeout: time.Second,
		// No "Accept-Encoding: gzip" on every call: webhook answers are small
		// JSON, the header costs each call a header for both sides to
		// handle, and max_response_bytes then bounds the bytes received.
		// A configured Accept-Encoding header still works (readBody decodes gzip).
		DisableCompression: true,
	}
	hc := &http.Client{
		Transport: a.transport,
		Timeout:   s.timeout, // per attempt; the deadline is in the request context
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
		// No cookie jar: cookies would leak between users.
	}
	// One resty request per attempt, without resty's retries: a call makes
	// its attempts itself (exchange).
	a.client = resty.NewWithClient(hc).
		SetLogger(silentLogger{}). // resty logs errors holding URLs, which may hold secrets
		SetDisableWarn(true).
		SetDebug(false)
	return a, nil
}

// Close releases idle connections; it implements plugins.Closer.
func (a *Action) Close() error {
	a.transport.CloseIdleConnections()
	return nil
}

type silentLogger struct{}

func (silentLogger) Errorf(string, ...any) {}
func (silentLogger) Warnf(string, ...any)  {}
func (silentLogger) Debugf(string, ...any) {}

// retryWaitError is a retry the deadline leaves no time for.
type retryWaitError struct {
	wait       time.Duration
	retryAfter bool
}

func (e *retryWaitError) Error() string {
	if e.retryAfter {
		return fmt.Sprintf("the service asked to retry after %s, past the deadline", e.wait.Round(time.Millisecond))
	}
	return fmt.Sprintf("no time left before the deadline for a retry in %s", e.wait.Round(time.Millisecond))
}

// retryable reports whether an attempt that ended with resp and err may be
// retried: after a connection error or timeout (not a refusal, a bad
// certificate, a body over the limit or an invalid encoding), or a 429,
// 502, 503 or 504.
func retryable(resp *resty.Response, err error) bool {
	if err != nil {
		var pe *PolicyError
		var ce *tls.CertificateVerificationError
		switch {
		case errors.As(err, &pe), errors.As(err, &ce), errors.Is(err, errTooLarge), isEncodingError(err),
			errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded) && !isTimeout(err):
			return false
		}
		return true // connection refused or reset, EOF, a body cut short, attempt timeout
	}
	if resp == nil || resp.RawResponse == nil {
		return false
	}
	switch resp.StatusCode() {
	case http.StatusTooManyRequests, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return true
	}
	return false
}

// retryWait decides the wait after attempt (from 1) before the next one:
// Retry-After on a 429, else exponential backoff with equal jitter; never
// up to limit, the end of the call.
func (a *Action) retryWait(attempt int, resp *resty.Response, limit time.Time) (time.Duration, error) {
	d := a.s.backoff << (attempt - 1)
	if d > a.s.maxBackoff || d <= 0 {
		d = a.s.maxBackoff
	}
	wait := d/2 + mrand.N(d/2+1)
	fromHeader := false
	if resp != nil && resp.RawResponse != nil && resp.StatusCode() == http.StatusTooManyRequests {
		if ra, ok := parseRetryAfter(resp.Header().Get("Retry-After"), time.Now()); ok {
			wait, fromHeader = ra, true
		}
	}
	if time.Until(limit) <= wait {
		return 0, &retryWaitError{wait: wait, retryAfter: fromHeader}
	}
	return wait, nil
}

// parseRetryAfter reads a Retry-After value: delay seconds or an HTTP date.
func parseRetryAfter(v string, now time.Time) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		if secs < 0 {
			return 0, false
		}
		if secs > 86400 {
			secs = 86400
		}
		return time.Duration(secs) * time.Second, true
	}
	if t, err := http.ParseTime(v); err == nil {
		d := t.Sub(now)
		if d < 0 {
			d = 0
		}
		return d, true
	}
	return 0, false
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// call is the state of one Run.
type call struct {
	a      *Action
	red    redactor
	result plugins.ActionResult
	// calls is the result's Calls: one entry, the call's trace.
	calls  []plugins.Call
	trace  *plugins.Call
	start  time.Time
	inputs map[string]any
	// respJSON is set once the response body decoded as JSON.
	respJSON bool
	// deadline is when the whole call must end: the configured deadline
	// after start; limit is the same or the caller's deadline when sooner.
	// dctx, with cancel, enforces them once armDeadline made it.
	deadline, limit time.Time
	dctx            context.Context
	cancel          context.CancelFunc

	// headers and values (which backs the per-call header values) are the
	// request's headers, reused by the next call: resty copies them into
	// the request it sends.
	headers http.Header
	values  []string

	// The last answer's body, read by readBody into buf (recycled too);
	// bodyErr is why reading it failed.
	body    []byte
	bodyErr error
	buf     []byte
}

// maxKeptBuffer is the largest read buffer a recycled call keeps.
const maxKeptBuffer = 64 << 10

// calls recycles the state of calls. Nothing a call returns points into it.
var calls = sync.Pool{New: func() any { return new(call) }}

func newCall(a *Action) *call {
	c := calls.Get().(*call)
	headers, values, buf := c.headers, c.values[:0], c.buf[:0]
	cs := make([]plugins.Call, 1)
	*c = call{a: a, start: time.Now(), calls: cs, trace: &cs[0], headers: headers, values: values, buf: buf}
	if c.headers == nil {
		c.headers = make(http.Header, 8)
	}
	return c
}

// release returns c to the pool, dropping everything it refers to but its buffers.
func (c *call) release() {
	clear(c.headers)
	clear(c.values[:cap(c.values)])
	buf := c.buf[:0]
	if cap(buf) > maxKeptBuffer {
		buf = nil
	}
	*c = call{headers: c.headers, values: c.values[:0], buf: buf}
	calls.Put(c)
}

// armDeadline makes the context that ends the call at its deadline, as a child of ctx.
func (c *call) armDeadline(ctx context.Context) context.Context {
	c.dctx, c.cancel = context.WithDeadline(ctx, c.deadline)
	return c.dctx
}

// deadlinePassed reports whether the call's deadline (or the caller's) has passed.
func (c *call) deadlinePassed(parent context.Context) bool {
	return parent.Err() != nil || c.dctx != nil && c.dctx.Err() != nil
}

// fail ends the call with a failure.
func (c *call) fail(outcome, format string, args ...any) plugins.ActionResult {
	msg := c.red.string(fmt.Sprintf(format, args...))
	c.trace.Outcome = outcome
	c.trace.Error = msg
	c.result.Success = false
	c.result.Outputs = nil
	c.result.Error = msg
	return c.finish()
}

func (c *call) finish() plugins.ActionResult {
	c.trace.Duration = time.Since(c.start)
	c.result.Calls = c.calls
	return c.result
}

// Run calls the service once (with retries) and returns its outputs.
func (a *Action) Run(ctx context.Context, req plugins.ActionRequest) plugins.ActionResult {
	c := newCall(a)
	defer c.release()
	c.trace.Method = a.s.method
	c.trace.URL = a.s.url.Source

	// Secrets, then everything rendered from them.
	re := renderEnvs.Get().(*renderEnv)
	defer re.release()
	secrets := re.secrets
	for _, n := range a.s.secretNames {
		v, ok := a.secrets.Lookup(n)
		if !ok {
			return c.fail(OutcomeRequestError, "secret %s is not set (environment variable %s, or the secrets file)", n, n)
		}
		secrets[n] = v
		c.red.add(v)
	}
	vars := re.vars
	for _, n := range a.s.envNames {
		v, ok := a.env(n)
		if !ok {
			return c.fail(OutcomeRequestError, "env.%s is not set (environment variable %s)", n, n)
		}
		vars[n] = v
	}
	inputs := req.Inputs
	if inputs == nil {
		inputs = map[string]any{}
	}
	c.inputs = inputs
	env := re.env
	env["input"], env["secret"], env["env"] = inputs, secrets, vars

	rawURL, err := a.s.url.Render(env)
	c.trace.URL = c.red.string(rawURL)
	if err != nil {
		return c.fail(OutcomeRequestError, "rendering url: %v", err)
	}
	if a.s.urlTemplated {
		if _, err := checkURL(rawURL); err != nil {
			return c.fail(OutcomeRefused, "%v", err)
		}
	}

	// Header names are canonical already (config.go), so the request's
	// http.Header (the call's, recycled) is filled directly rather than
	// through resty's SetHeaders.
	n := len(a.s.headers) + 5 // User-Agent, Accept, Content-Type, Idempotency-Key, Traceparent
	if a.s.signing != nil {
		n += 2
	}
	headers := c.headers
	headers["User-Agent"] = userAgent
	headers["Accept"] = acceptJSON
	traceHeaders := make(map[string]string, n-2)
	values := c.values
	defer func() { c.values = values[:0] }() // keep a grown buffer
	value := func(v string) []string {
		values = append(values, v)
		return values[len(values)-1 : len(values) : len(values)]
	}
	for _, h := range a.s.headers {
		v, err := h.tmpl.Render(env)
		if err != nil {
			return c.fail(OutcomeRequestError, "rendering header %s: %v", h.name, err)
		}
		if strings.ContainsAny(v, "\r\n\x00") {
			return c.fail(OutcomeRequestError, "header %s renders a line break or NUL", h.name)
		}
		headers[h.name] = value(v)
		if h.sensitive {
			traceHeaders[h.name] = redactCredential(v)
		} else {
			traceHeaders[h.name] = c.red.string(v)
		}
	}

	body, err := a.requestBody(inputs, env)
	if err != nil {
		return c.fail(OutcomeRequestError, "%v", err)
	}
	if body != nil {
		if _, ok := headers["Content-Type"]; !ok {
			headers["Content-Type"] = contentJSON
			traceHeaders["Content-Type"] = "application/json"
		}
	}
	c.trace.Request = c.red.traceJSON(body, true)

	key := newIdempotencyKey()
	headers["Idempotency-Key"] = value(key)
	traceHeaders["Idempotency-Key"] = key
	if tp, ok := plugins.TraceParentFromContext(ctx); ok {
		headers["Traceparent"] = value(tp)
		traceHeaders["Traceparent"] = tp
	}
	if g := a.s.signing; g != nil {
		ts := strconv.FormatInt(time.Now().Unix(), 10)
		sig := Sign(secrets[g.secret].(string), ts, body)
		headers[g.timestampHeader], headers[g.header] = value(ts), value(sig)
		traceHeaders[g.timestampHeader], traceHeaders[g.header] = ts, sig
	}
	c.trace.Headers = traceHeaders

	ok, probe, wait := a.breaker.allow()
	if !ok {
		if wait > 0 {
			return c.fail(OutcomeBreakerOpen, "circuit breaker open after repeated failures of the service; next trial call in %s", wait.Round(time.Millisecond))
		}
		return c.fail(OutcomeBreakerOpen, "circuit breaker open after repeated failures of the service; a trial call is in flight")
	}

	c.deadline = c.start.Add(a.s.deadline)
	c.limit = c.deadline
	if dl, ok := ctx.Deadline(); ok && dl.Before(c.limit) {
		c.limit = dl
	}
	defer func() {
		if c.cancel != nil {
			c.cancel()
		}
	}()
	resp, err := c.exchange(ctx, rawURL, headers, body)
	status := 0
	if resp != nil && resp.RawResponse != nil {
		status = resp.StatusCode()
	}
	c.trace.Status = status

	res := c.classify(ctx, err, resp, status, c.body)
	res.Calls[0].Response = c.red.traceJSON(c.body, c.respJSON)
	if len(c.body) > 0 && len(res.Calls[0].Response) > 0 && &res.Calls[0].Response[0] == &c.body[0] {
		res.Calls[0].Response = bytes.Clone(res.Calls[0].Response) // c.body is recycled
	}
	a.breaker.done(probe, serviceFault(res.Calls[0].Outcome, status))
	return res
}

// exchange makes the attempts of the call and returns the last one's
// answer (its body read by readBody into c.body) or error. Each attempt is
// a resty request bounded by the attempt timeout (the client's Timeout,
// which net/http gives a context of its own) and by the end of the call,
// whose context (and timer) is only made once an attempt could reach it.
// Attempts that retryable allows are retried after retryWait, with the
// same headers, Idempotency-Key included.
func (c *call) exchange(ctx context.Context, url string, headers http.Header, body []byte) (*resty.Response, error) {
	a, actx := c.a, ctx
	for attempt := 1; ; attempt++ {
		c.trace.Attempts, c.body, c.bodyErr = attempt, nil, nil
		if c.cancel == nil && time.Until(c.limit) <= a.s.timeout {
			actx = c.armDeadline(ctx)
		}
		r := a.client.R().SetContext(actx).SetDoNotParseResponse(true)
		r.Header = headers
		if body != nil {
			// A reader per attempt: net/http may still be reading the last
			// one. resty hands a *bytes.Reader to net/http as it is.
			r.SetBody(bytes.NewReader(body))
		}
		resp, err := r.Execute(a.s.method, url)
		if err == nil && resp != nil && resp.RawResponse != nil {
			c.readBody(resp.RawResponse)
			err = c.bodyErr
		}
		if attempt >= a.s.attempts || actx.Err() != nil || !retryable(resp, err) {
			return resp, err
		}
		wait, werr := a.retryWait(attempt, resp, c.limit)
		if werr != nil {
			if err == nil {
				err = werr
			}
			return resp, err
		}
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-actx.Done():
			t.Stop()
			return resp, actx.Err()
		}
	}
}

// serviceFault reports whether a call's outcome counts against the breaker.
func serviceFault(outcome string, status int) bool {
	switch outcome {
	case OutcomeTimeout, OutcomeDeadline, OutcomeConnectionError:
		return true
	case OutcomeHTTPError, OutcomeUnsuccessful:
		return status >= 500 || status == http.StatusTooManyRequests
	}
	return false
}

func attempts(n int) string {
	if n == 1 {
		return "1 attempt"
	}
	return strconv.Itoa(n) + " attempts"
}

// classify turns the outcome of the exchange into the action's result.
func (c *call) classify(parent context.Context, err error, resp *resty.Response, status int, body []byte) plugins.ActionResult {
	a, n := c.a, c.trace.Attempts
	if err != nil {
		var pe *PolicyError
		var rw *retryWaitError
		switch {
		case errors.As(err, &pe):
			return c.fail(OutcomeRefused, "%v", pe)
		case errors.Is(err, errTooLarge):
			return c.fail(OutcomeTooLarge, "the response body is larger than the %d-byte limit (max_response_bytes)", a.s.maxBytes)
		case isEncodingError(err):
			return c.fail(OutcomeInvalidResponse, "the service answered %s with a body that is not valid gzip: %v", statusText(resp), err)
		case errors.As(err, &rw):
			return c.fail(OutcomeHTTPError, "the service answered %s (%s); %v", statusText(resp), attempts(n), rw)
		case errors.Is(parent.Err(), context.Canceled):
			return c.fail(OutcomeCanceled, "the call was canceled after %s", attempts(n))
		case c.deadlinePassed(parent):
			return c.fail(OutcomeDeadline, "no answer within the %s deadline (%s)", deadlineOf(parent, c.deadline, a.s.deadline), attempts(n))
		case isTimeout(err):
			return c.fail(OutcomeTimeout, "no answer within the %s timeout (%s)", a.s.timeout, attempts(n))
		}
		if status != 0 && errors.Is(err, io.ErrUnexpectedEOF) {
			return c.fail(OutcomeConnectionError, "the connection closed before the end of the answer's body (%s)", attempts(n))
		}
		return c.fail(OutcomeConnectionError, "connection failed (%s): %v", attempts(n), errorText(err))
	}
	if status >= 300 && status < 400 {
		loc := c.red.string(resp.Header().Get("Location"))
		return c.fail(OutcomeRedirect, "the service answered %s redirecting to %q; redirects are not followed", statusText(resp), loc)
	}
	if a.s.protocol == ProtocolHTTP {
		return c.httpResult(resp, status, body)
	}
	return c.openDialogResult(resp, status, body)
}

// deadlineOf names the deadline that passed: ours (ending at mine), or the caller's when shorter.
func deadlineOf(parent context.Context, mine time.Time, ours time.Duration) string {
	if dl, ok := parent.Deadline(); ok && parent.Err() != nil && !dl.After(mine) {
		return "caller's"
	}
	return ours.String()
}

func statusText(resp *resty.Response) string {
	if resp == nil || resp.RawResponse == nil {
		return "nothing"
	}
	if s := resp.Status(); s != "" {
		return s
	}
	return strconv.Itoa(resp.StatusCode())
}

// errorText is a transport error without Go's "Post \"URL\": " prefix.
func errorText(err error) string {
	msg := err.Error()
	var ue interface{ Unwrap() error }
	if errors.As(err, &ue) {
		if inner := ue.Unwrap(); inner != nil {
			if s := inner.Error(); strings.HasSuffix(msg, s) {
				msg = s
			}
		}
	}
	return msg
}

// redactCredential hides a credential header value, keeping an auth scheme word.
func redactCredential(v string) string {
	if scheme, _, ok := strings.Cut(v, " "); ok && scheme != "" && len(scheme) <= 16 && !strings.ContainsAny(scheme, "=:") {
		if scheme == "Bearer" {
			return "Bearer " + Redacted // a constant: the usual case allocates nothing
		}
		return scheme + " " + Redacted
	}
	return Redacted
}

// requestBody builds the JSON body to send, or nil.
func (a *Action) requestBody(inputs map[string]any, env map[string]any) ([]byte, error) {
	var v any
	switch {
	case a.s.protocol == ProtocolOpenDialog:
		if b, ok := appendOpenDialogRequest(make([]byte, 0, openDialogRequestSize(inputs)), inputs); ok {
			return b, nil
		}
		v = openDialogRequest{InputData: openDialogData{Attributes: inputs}}
	case a.s.body != nil:
		bv, err := a.s.body.eval(env)
		if err != nil {
			return nil, fmt.Errorf("building the body: %w", err)
		}
		v = bv
	case a.s.bodyInputs:
		v = inputs
	default:
		return nil, nil
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, fmt.Errorf("encoding the request body as JSON: %w", err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// openDialogRequestSize guesses the length of an OpenDialog request body.
func openDialogRequestSize(inputs map[string]any) int {
	n := len(`{"input_data":{"attributes":{}}}`)
	for k, v := range inputs {
		n += len(k) + 4
		if s, ok := v.(string); ok {
			n += len(s) + 2
		} else {
			n += 24
		}
	}
	return n
}

// Sign returns the signature header value for a request: "sha256=" and the
// hex HMAC-SHA256 of timestamp + "." + body keyed with secret. A receiving
// service computes the same over the timestamp header and the raw body and
// compares with hmac.Equal.
func Sign(secret, timestamp string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(timestamp))
	m.Write([]byte{'.'})
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// Verify checks a signature as a receiving service would: it recomputes the
// signature of timestamp and body and compares in constant time, and refuses
// a timestamp further than maxAge from now.
func Verify(secret, timestamp, signature string, body []byte, maxAge time.Duration, now time.Time) error {
	ts, err := strconv.ParseInt(timestamp, 10, 64)
	if err != nil {
		return errors.New("verifying a webhook signature: the timestamp is not Unix seconds")
	}
	if age := now.Sub(time.Unix(ts, 0)); age > maxAge || age < -maxAge {
		return fmt.Errorf("verifying a webhook signature: the timestamp is %s away from now", age.Round(time.Second))
	}
	if !hmac.Equal([]byte(Sign(secret, timestamp, body)), []byte(signature)) {
		return errors.New("verifying a webhook signature: the signature does not match")
	}
	return nil
}

// responseHeaders flattens headers for expressions: lower-case names, first value.
func responseHeaders(h http.Header) map[string]any {
	m := make(map[string]any, len(h))
	for k, v := range h {
		if len(v) > 0 {
			m[strings.ToLower(k)] = v[0]
		}
	}
	return m
}
