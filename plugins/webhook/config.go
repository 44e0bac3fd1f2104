package webhook

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/parleyhq/parley/expression"
	"github.com/parleyhq/parley/plugins"
)

// Defaults of the webhook configuration, also declared in schema.cue.
const (
	DefaultTimeout          = 5 * time.Second
	DefaultDeadline         = 10 * time.Second
	DefaultAttempts         = 3
	DefaultBackoff          = 100 * time.Millisecond
	DefaultMaxBackoff       = 2 * time.Second
	DefaultBreakerFailures  = 5
	DefaultBreakerCooldown  = 30 * time.Second
	DefaultMaxResponseBytes = 1 << 20
	DefaultSignatureHeader  = "X-Parley-Signature"
	DefaultTimestampHeader  = "X-Parley-Timestamp"
)

// Protocols of the webhook action.
const (
	ProtocolOpenDialog = "opendialog"
	ProtocolHTTP       = "http"
)

// config is the JSON form of a webhook block, as the loader hands it over.
type config struct {
	Protocol         string            `json:"protocol"`
	URL              string            `json:"url"`
	Method           string            `json:"method"`
	Headers          map[string]string `json:"headers"`
	Body             json.RawMessage   `json:"body"`
	Success          string            `json:"success"`
	Outputs          map[string]string `json:"outputs"`
	Timeout          string            `json:"timeout"`
	Deadline         string            `json:"deadline"`
	Retry            *retryConfig      `json:"retry"`
	Signing          *signingConfig    `json:"signing"`
	Breaker          *breakerConfig    `json:"breaker"`
	MaxResponseBytes *int64            `json:"max_response_bytes"`
	AllowPrivate     bool              `json:"allow_private"`
}

type retryConfig struct {
	Attempts   *int   `json:"attempts"`
	Backoff    string `json:"backoff"`
	MaxBackoff string `json:"max_backoff"`
}

type signingConfig struct {
	Secret          string `json:"secret"`
	Header          string `json:"header"`
	TimestampHeader string `json:"timestamp_header"`
}

type breakerConfig struct {
	Failures *int   `json:"failures"`
	Cooldown string `json:"cooldown"`
}

// settings is a compiled webhook configuration.
type settings struct {
	protocol     string
	method       string
	url          *expression.Template
	urlTemplated bool // a literal URL is checked once, at load time
	headers      []header
	body         *bodyNode // http protocol; nil sends no body (or the inputs, see bodyFromInputs)
	bodyInputs   bool      // http protocol without body on POST/PUT/PATCH: send the inputs object
	success      *expression.Program
	outputs      []outputMapping
	declared     []string // declared outputs (http protocol defaults)
	timeout      time.Duration
	deadline     time.Duration
	attempts     int
	backoff      time.Duration
	maxBackoff   time.Duration
	failures     int
	cooldown     time.Duration
	maxBytes     int64
	allowPrivate bool
	signing      *signing
	secretNames  []string // every secret the templates and expressions name
	envNames     []string // every env.NAME the templates and expressions name
}

type header struct {
	key       string // as configured, for FieldError paths
	name      string
	tmpl      *expression.Template
	sensitive bool
}

type outputMapping struct {
	name string
	prog *expression.Program
}

type signing struct {
	secret          string
	header          string
	timestampHeader string
}

// bodyNode is a JSON body template: a literal, an expression, or an object or list of nodes.
type bodyNode struct {
	literal any
	prog    *expression.Program
	object  []bodyField
	list    []*bodyNode
	kind    byte // 'l' literal, 'e' expression, 'o' object, 'a' array
}

type bodyField struct {
	key  string
	node *bodyNode
}

// Expression environments.
func requestEnv(inputs []string) expression.Env {
	in := expression.Open(nil)
	if len(inputs) > 0 {
		in = expression.Env{}
		for _, n := range inputs {
			in[n] = expression.Any
		}
	}
	return expression.Env{"input": in, "secret": expression.Open(nil), "env": expression.Open(nil)}
}

func responseEnv(inputs []string) expression.Env {
	env := requestEnv(inputs)
	delete(env, "secret") // a secret has no business in outputs
	delete(env, "env")
	env["response"] = expression.Env{
		"status":  expression.Int,
		"headers": expression.Env{"[[__extra_keys__]]": expression.String},
		"body":    expression.Any,
	}
	return env
}

// reserved are headers the action sets itself.
var reserved = map[string]bool{
	"Idempotency-Key": true, "Traceparent": true, "Tracestate": true,
	"Content-Length": true, "Host": true, "Transfer-Encoding": true, "Connection": true,
}

// sensitiveHeaders are shown in traces with their values redacted even when
// they hold no secret reference, since a literal credential is still a credential.
var sensitiveHeaders = map[string]bool{
	"Authorization": true, "Proxy-Authorization": true, "Cookie": true,
	"X-Api-Key": true, "Api-Key": true, "X-Auth-Token": true,
}

var headerName = regexp.MustCompile("^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")

// compile parses and compiles a webhook configuration. Problems are
// *plugins.FieldError values joined with errors.Join.
func compile(cfg plugins.ActionConfig) (*settings, error) {
	var c config
	dec := json.NewDecoder(bytes.NewReader(cfg.Config))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return nil, fmt.Errorf("decoding the webhook configuration of action %q: %w", cfg.Name, err)
	}
	s := &settings{
		protocol:     c.Protocol,
		timeout:      DefaultTimeout,
		deadline:     DefaultDeadline,
		attempts:     DefaultAttempts,
		backoff:      DefaultBackoff,
		maxBackoff:   DefaultMaxBackoff,
		failures:     DefaultBreakerFailures,
		cooldown:     DefaultBreakerCooldown,
		maxBytes:     DefaultMaxResponseBytes,
		allowPrivate: c.AllowPrivate,
		declared:     cfg.Outputs,
	}
	var errs []error
	fail := func(field, format string, args ...any) {
		errs = append(errs, &plugins.FieldError{Field: field, Err: fmt.Errorf(format, args...)})
	}
	exprErrs := func(field string, es ...*expression.Error) {
		for _, e := range es {
			errs = append(errs, &plugins.FieldError{Field: field, Code: e.Code, Err: e})
		}
	}
	var sources []string

	if s.protocol == "" {
		s.protocol = ProtocolOpenDialog
	}
	if s.protocol != ProtocolOpenDialog && s.protocol != ProtocolHTTP {
		fail("protocol", "unknown protocol %q: use %q or %q", s.protocol, ProtocolOpenDialog, ProtocolHTTP)
	}
	reqEnv := requestEnv(cfg.Inputs)

	// URL: a template; a literal URL is checked now, a templated one at each call.
	if strings.TrimSpace(c.URL) == "" {
		fail("url", "a webhook needs a url")
	} else {
		t, es := expression.ParseTemplate(c.URL, reqEnv)
		exprErrs("url", es...)
		s.url = t
		s.urlTemplated = expression.IsTemplate(c.URL)
		sources = append(sources, c.URL)
		if !expression.IsTemplate(c.URL) {
			if _, err := checkURL(c.URL); err != nil {
				fail("url", "%v", err)
			}
		}
	}

	// Method.
	s.method = strings.ToUpper(c.Method)
	switch s.protocol {
	case ProtocolOpenDialog:
		if s.method != "" && s.method != http.MethodPost {
			fail("method", "the opendialog protocol always POSTs; remove method or use protocol \"http\"")
		}
		s.method = http.MethodPost
		for field, set := range map[string]bool{"body": len(c.Body) > 0 && string(c.Body) != "null", "success": c.Success != "", "outputs": c.Outputs != nil} {
			if set {
				fail(field, "%s is for protocol \"http\"; the opendialog protocol has a fixed shape", field)
			}
		}
	case ProtocolHTTP:
		switch s.method {
		case "":
			s.method = http.MethodGet
			if len(c.Body) > 0 && string(c.Body) != "null" {
				s.method = http.MethodPost
			}
		case http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete:
		default:
			fail("method", "unknown method %q: use GET, POST, PUT, PATCH or DELETE", c.Method)
		}
	}

	// Headers, in a stable order.
	names := slices.Sorted(maps.Keys(c.Headers))
	for _, k := range names {
		field := "headers." + k
		canon := http.CanonicalHeaderKey(k)
		switch {
		case !headerName.MatchString(k):
			fail(field, "%q is not a valid header name", k)
			continue
		case reserved[canon]:
			fail(field, "%s is set by the webhook action itself", canon)
			continue
		case canon == "Content-Type" && s.protocol == ProtocolOpenDialog:
			fail(field, "the opendialog protocol always sends Content-Type application/json")
			continue
		}
		v := c.Headers[k]
		if strings.ContainsAny(v, "\r\n") {
			fail(field, "a header value cannot hold a line break")
			continue
		}
		t, es := expression.ParseTemplate(v, reqEnv)
		exprErrs(field, es...)
		s.headers = append(s.headers, header{key: k, name: canon, tmpl: t, sensitive: sensitiveHeaders[canon]})
		sources = append(sources, v)
	}

	// http protocol: body, success, outputs.
	if s.protocol == ProtocolHTTP {
		if len(c.Body) > 0 && string(c.Body) != "null" {
			var raw any
			d := json.NewDecoder(bytes.NewReader(c.Body))
			d.UseNumber()
			if err := d.Decode(&raw); err != nil {
				fail("body", "decoding body: %v", err)
			} else {
				s.body = compileBody("body", raw, reqEnv, &errs, &sources)
			}
			if s.method == http.MethodGet {
				fail("body", "a GET request has no body; use POST, PUT or PATCH")
			}
		} else if s.method == http.MethodPost || s.method == http.MethodPut || s.method == http.MethodPatch {
			s.bodyInputs = true
		}
		respEnv := responseEnv(cfg.Inputs)
		if c.Success != "" {
			p, err := expression.Compile(c.Success, respEnv, expression.Bool)
			if err != nil {
				exprErrs("success", err.(*expression.Error))
			}
			s.success = p
		}
		onames := slices.Sorted(maps.Keys(c.Outputs))
		for _, k := range onames {
			field := "outputs." + k
			if len(cfg.Outputs) > 0 && !contains(cfg.Outputs, k) {
				fail(field, "action %q declares no output %q (outputs: %s)", cfg.Name, k, strings.Join(cfg.Outputs, ", "))
				continue
			}
			p, err := expression.Compile(c.Outputs[k], respEnv, expression.Value)
			if err != nil {
				exprErrs(field, err.(*expression.Error))
				continue
			}
			s.outputs = append(s.outputs, outputMapping{name: k, prog: p})
		}
	}

	// Durations and limits.
	dur := func(field, v string, dst *time.Duration) {
		if v == "" {
			return
		}
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			fail(field, "%q is not a positive duration such as \"500ms\" or \"5s\"", v)
			return
		}
		*dst = d
	}
	dur("timeout", c.Timeout, &s.timeout)
	dur("deadline", c.Deadline, &s.deadline)
	if r := c.Retry; r != nil {
		if r.Attempts != nil {
			if *r.Attempts < 1 || *r.Attempts > 10 {
				fail("retry.attempts", "attempts must be between 1 and 10, not %d", *r.Attempts)
			} else {
				s.attempts = *r.Attempts
			}
		}
		dur("retry.backoff", r.Backoff, &s.backoff)
		dur("retry.max_backoff", r.MaxBackoff, &s.maxBackoff)
	}
	if b := c.Breaker; b != nil {
		if b.Failures != nil {
			if *b.Failures < 1 {
				fail("breaker.failures", "failures must be at least 1, not %d", *b.Failures)
			} else {
				s.failures = *b.Failures
			}
		}
		dur("breaker.cooldown", b.Cooldown, &s.cooldown)
	}
	if c.MaxResponseBytes != nil {
		if *c.MaxResponseBytes < 1 {
			fail("max_response_bytes", "max_response_bytes must be positive, not %d", *c.MaxResponseBytes)
		} else {
			s.maxBytes = *c.MaxResponseBytes
		}
	}

	// Signing.
	if g := c.Signing; g != nil {
		name := strings.TrimPrefix(g.Secret, "secret.")
		if !secretName.MatchString(name) {
			fail("signing.secret", "%q is not a secret reference: write \"secret.NAME\" or \"NAME\"", g.Secret)
		}
		sg := &signing{secret: name, header: DefaultSignatureHeader, timestampHeader: DefaultTimestampHeader}
		if g.Header != "" {
			sg.header = http.CanonicalHeaderKey(g.Header)
		}
		if g.TimestampHeader != "" {
			sg.timestampHeader = http.CanonicalHeaderKey(g.TimestampHeader)
		}
		for field, h := range map[string]string{"signing.header": sg.header, "signing.timestamp_header": sg.timestampHeader} {
			if !headerName.MatchString(h) {
				fail(field, "%q is not a valid header name", h)
			}
			if reserved[h] {
				fail(field, "%s is set by the webhook action itself", h)
			}
		}
		for _, h := range s.headers {
			if h.name == sg.header || h.name == sg.timestampHeader {
				fail("headers."+h.key, "%s carries the request signature", h.name)
			}
		}
		s.signing = sg
		s.secretNames = append(s.secretNames, name)
	}

	s.secretNames = appendSecretNames(s.secretNames, sources)
	s.envNames = appendRefNames(nil, envRef, sources)
	for _, n := range s.envNames {
		if looksSecret.MatchString(n) {
			fail("env."+n, "env.%s looks like a secret, and env values are shown in traces: read it as secret.%s, which is redacted", n, n)
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return s, nil
}

// compileBody compiles a body template: every string leaf is an expression.
func compileBody(field string, v any, env expression.Env, errs *[]error, sources *[]string) *bodyNode {
	switch x := v.(type) {
	case string:
		p, err := expression.Compile(x, env, expression.Value)
		if err != nil {
			e := err.(*expression.Error)
			*errs = append(*errs, &plugins.FieldError{Field: field, Code: e.Code, Err: e})
			return nil
		}
		*sources = append(*sources, x)
		return &bodyNode{kind: 'e', prog: p}
	case map[string]any:
		n := &bodyNode{kind: 'o'}
		keys := slices.Sorted(maps.Keys(x))
		for _, k := range keys {
			n.object = append(n.object, bodyField{key: k, node: compileBody(field+"."+k, x[k], env, errs, sources)})
		}
		return n
	case []any:
		n := &bodyNode{kind: 'a'}
		for i, e := range x {
			n.list = append(n.list, compileBody(fmt.Sprintf("%s.%d", field, i), e, env, errs, sources))
		}
		return n
	default:
		return &bodyNode{kind: 'l', literal: normalize(x)}
	}
}

// eval builds the body value.
func (n *bodyNode) eval(env map[string]any) (any, error) {
	switch n.kind {
	case 'e':
		return n.prog.Run(env)
	case 'o':
		m := make(map[string]any, len(n.object))
		for _, f := range n.object {
			v, err := f.node.eval(env)
			if err != nil {
				return nil, err
			}
			m[f.key] = v
		}
		return m, nil
	case 'a':
		l := make([]any, len(n.list))
		for i, e := range n.list {
			v, err := e.eval(env)
			if err != nil {
				return nil, err
			}
			l[i] = v
		}
		return l, nil
	default:
		return n.literal, nil
	}
}

var (
	secretName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	// secretRef and envRef match secret.NAME, secret?.NAME and
	// secret["NAME"] (env alike), not a field of that name (input.secret.NAME).
	secretRef = namespaceRef("secret")
	envRef    = namespaceRef("env")
	// looksSecret matches environment variable names that hold credentials.
	looksSecret = regexp.MustCompile(`(?i)secret|token|passw|api_?key|private_?key|credential`)
)

// namespaceRef matches literal references into the namespace ns.
func namespaceRef(ns string) *regexp.Regexp {
	return regexp.MustCompile(`(?:^|[^.\w$])` + ns + `\s*(?:\?\.|\.)\s*([A-Za-z_][A-Za-z0-9_]*)|(?:^|[^.\w$])` + ns + `\s*\[\s*["'\x60]([^"'\x60]+)["'\x60]\s*\]`)
}

// appendSecretNames adds the secrets that sources name literally
// (secret.NAME or secret["NAME"]); only those are looked up and passed to expressions.
func appendSecretNames(names []string, sources []string) []string {
	return appendRefNames(names, secretRef, sources)
}

// appendRefNames adds the names that sources reference with re, once each.
func appendRefNames(names []string, re *regexp.Regexp, sources []string) []string {
	seen := map[string]bool{}
	for _, n := range names {
		seen[n] = true
	}
	for _, src := range sources {
		for _, m := range re.FindAllStringSubmatch(src, -1) {
			n := m[1]
			if n == "" {
				n = m[2]
			}
			if !seen[n] {
				seen[n] = true
				names = append(names, n)
			}
		}
	}
	return names
}

// checkURL parses a rendered URL and applies the scheme policy.
func checkURL(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("invalid URL: %w", unwrapURLError(err))
	}
	switch strings.ToLower(u.Scheme) {
	case "http", "https":
	default:
		return nil, fmt.Errorf("URL scheme %q is not allowed: use http or https", u.Scheme)
	}
	if u.Host == "" || u.Hostname() == "" {
		return nil, errors.New("URL has no host")
	}
	if u.User != nil {
		return nil, errors.New("URL holds credentials: put them in a header such as Authorization with {{ secret.NAME }}")
	}
	return u, nil
}

func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
