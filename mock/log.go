package mock

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
)

// Redacted replaces secret-looking header, query and body values in the request log.
const Redacted = "[REDACTED]"

// maxRecordBody is how much of a request body the log keeps.
const maxRecordBody = 16 << 10

// maxSummary is how much of a body a printed line shows.
const maxSummary = 200

// Request is one request the mock received, as listed by GET /_requests.
// Secret-looking headers, query parameters and JSON body fields are redacted.
type Request struct {
	ID         int64             `json:"id"`
	Time       time.Time         `json:"time"`
	Method     string            `json:"method"`
	Path       string            `json:"path"`
	Query      map[string]string `json:"query,omitempty"`
	Headers    map[string]string `json:"headers"`
	Body       json.RawMessage   `json:"body,omitempty"` // the JSON body; other bodies as a JSON string
	Route      string            `json:"route,omitempty"`
	Status     int               `json:"status"` // 0 while pending or when no answer was sent
	Fail       string            `json:"fail,omitempty"`
	Error      string            `json:"error,omitempty"`
	Pending    bool              `json:"pending,omitempty"`
	DurationMS float64           `json:"duration_ms"`
}

// requestLog is a bounded ring of the most recent requests.
type requestLog struct {
	mu    sync.Mutex
	buf   []*Request
	next  int // where the next request goes
	n     int // how many are held
	seq   int64
	total int64 // received since the last clear
}

func newRequestLog(capacity int) *requestLog {
	return &requestLog{buf: make([]*Request, capacity)}
}

func (l *requestLog) add(r *Request) *Request {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.seq++
	l.total++
	r.ID = l.seq
	l.buf[l.next] = r
	l.next = (l.next + 1) % len(l.buf)
	l.n = min(l.n+1, len(l.buf))
	return r
}

// finish records the outcome of r and returns its printed line.
func (l *requestLog) finish(r *Request, route string, out outcome, d time.Duration) string {
	l.mu.Lock()
	r.Route, r.Status, r.Fail, r.Error = route, out.status, out.fail, out.err
	r.Pending = false
	r.DurationMS = float64(d.Microseconds()) / 1000
	line := r.line()
	l.mu.Unlock()
	return line
}

func (l *requestLog) list() []Request {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]Request, 0, l.n)
	start := (l.next - l.n + len(l.buf)) % len(l.buf)
	for i := range l.n {
		out = append(out, *l.buf[(start+i)%len(l.buf)])
	}
	return out
}

func (l *requestLog) clear() {
	l.mu.Lock()
	defer l.mu.Unlock()
	clear(l.buf)
	l.next, l.n, l.total = 0, 0, 0
}

// newRecord builds the log entry of a request, redacted.
func newRecord(r *http.Request, body []byte, t time.Time) *Request {
	rec := &Request{
		Time:    t.UTC(),
		Method:  r.Method,
		Path:    r.URL.Path,
		Headers: redactHeaders(r.Header),
		Body:    recordBody(body),
		Pending: true,
	}
	if q := r.URL.Query(); len(q) > 0 {
		rec.Query = redactQuery(q)
	}
	return rec
}

// line renders the record as one printed line.
func (r *Request) line() string {
	var b strings.Builder
	b.WriteString(r.Time.Local().Format("15:04:05.000"))
	b.WriteByte(' ')
	b.WriteString(r.Method)
	b.WriteByte(' ')
	b.WriteString(r.Path)
	if len(r.Query) > 0 {
		q := url.Values{}
		for k, v := range r.Query {
			q.Set(k, v)
		}
		b.WriteString("?" + q.Encode())
	}
	if r.Status > 0 {
		fmt.Fprintf(&b, " -> %d", r.Status)
	} else {
		b.WriteString(" -> no answer")
	}
	if r.Route != "" {
		fmt.Fprintf(&b, " [%s]", r.Route)
	}
	if r.Fail != "" {
		fmt.Fprintf(&b, " fail=%s", r.Fail)
	}
	fmt.Fprintf(&b, " %.1fms", r.DurationMS)
	if len(r.Body) > 0 {
		b.WriteString(" body=")
		b.WriteString(summary(r.Body))
	}
	if r.Error != "" {
		b.WriteString(" error=")
		b.WriteString(summary([]byte(r.Error)))
	}
	b.WriteByte('\n')
	return b.String()
}

// summary shortens text to one line of at most maxSummary bytes.
func summary(b []byte) string {
	s := strings.Join(strings.Fields(string(b)), " ")
	if len(s) > maxSummary {
		cut := maxSummary
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut] + "…"
	}
	return s
}

// secretName matches names of headers, query parameters and JSON fields whose
// values are redacted.
var secretName = regexp.MustCompile(`(?i)(auth|passw|secret|token|api[-_]?key|access[-_]?key|private[-_]?key|credential|cookie|session)`)

func redactHeaders(h http.Header) map[string]string {
	out := make(map[string]string, len(h))
	for k, v := range h {
		val := strings.Join(v, ", ")
		if secretName.MatchString(k) {
			// Keep an authorization scheme ("Bearer"): it is not secret and often what is being checked.
			if scheme, _, ok := strings.Cut(val, " "); ok && strings.Contains(strings.ToLower(k), "authorization") && isToken(scheme) {
				val = scheme + " " + Redacted
			} else {
				val = Redacted
			}
		}
		out[k] = val
	}
	return out
}

func isToken(s string) bool {
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-') {
			return false
		}
	}
	return s != ""
}

func redactQuery(q url.Values) map[string]string {
	out := make(map[string]string, len(q))
	for k, v := range q {
		if secretName.MatchString(k) {
			out[k] = Redacted
		} else {
			out[k] = strings.Join(v, ",")
		}
	}
	return out
}

// recordBody returns a body for the log: JSON with secret-looking fields
// redacted, or else a JSON string, cut at maxRecordBody.
func recordBody(body []byte) json.RawMessage {
	if len(bytes.TrimSpace(body)) == 0 {
		return nil
	}
	if len(body) <= maxRecordBody {
		if v, err := decodeJSON(body); err == nil {
			if redactJSON(v) {
				b, err := json.Marshal(v)
				if err == nil {
					return b
				}
			}
			var buf bytes.Buffer
			if json.Compact(&buf, body) == nil {
				return buf.Bytes()
			}
		}
	}
	s := string(body)
	if len(s) > maxRecordBody {
		s = s[:maxRecordBody] + "…(truncated)"
	}
	b, _ := json.Marshal(strings.ToValidUTF8(s, "\uFFFD"))
	return b
}

// redactJSON replaces the values of secret-looking fields, recursively, and
// reports whether it replaced any.
func redactJSON(v any) bool {
	changed := false
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			if secretName.MatchString(k) && e != nil {
				x[k] = Redacted
				changed = true
			} else if redactJSON(e) {
				changed = true
			}
		}
	case []any:
		for _, e := range x {
			if redactJSON(e) {
				changed = true
			}
		}
	}
	return changed
}

// serveRequests lists (GET) or clears (DELETE) the request log. GET takes
// optional route and path filters.
func (s *Server) serveRequests(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		list := s.log.list()
		route, path := r.URL.Query().Get("route"), r.URL.Query().Get("path")
		out := list[:0]
		for _, rec := range list {
			if (route == "" || rec.Route == route) && (path == "" || rec.Path == path) {
				out = append(out, rec)
			}
		}
		s.log.mu.Lock()
		total := s.log.total
		s.log.mu.Unlock()
		_ = writeJSON(w, http.StatusOK, nil, map[string]any{"requests": out, "total": total, "capacity": len(s.log.buf)})
	case http.MethodDelete:
		s.Reset()
		w.WriteHeader(http.StatusNoContent)
	default:
		_ = writeJSON(w, http.StatusMethodNotAllowed, http.Header{"Allow": {"GET, HEAD, DELETE"}},
			map[string]string{"error": "use GET to list the requests or DELETE to clear them"})
	}
}

// routeInfo describes a route in GET /_routes.
type routeInfo struct {
	Name      string `json:"name"`
	Method    string `json:"method"`
	Path      string `json:"path"`
	Protocol  string `json:"protocol"`
	Delay     string `json:"delay,omitempty"`
	Fail      string `json:"fail,omitempty"`
	FailTimes int    `json:"fail_times,omitempty"`
	Calls     int64  `json:"calls"`
	Pos       string `json:"declared_at"`
}

// serveRoutes lists the declared routes with their call counts.
func (s *Server) serveRoutes(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		_ = writeJSON(w, http.StatusMethodNotAllowed, http.Header{"Allow": {"GET, HEAD"}}, map[string]string{"error": "use GET to list the routes"})
		return
	}
	out := make([]routeInfo, 0, len(s.cfg.Routes))
	for _, rt := range s.cfg.Routes {
		ri := routeInfo{Name: rt.Name, Method: rt.Method, Path: rt.Path, Protocol: rt.Protocol, Fail: rt.Fail,
			FailTimes: rt.FailTimes, Calls: s.calls[rt].Load(), Pos: rt.Pos}
		if rt.Delay > 0 {
			ri.Delay = rt.Delay.String()
		}
		out = append(out, ri)
	}
	_ = writeJSON(w, http.StatusOK, nil, map[string]any{"routes": out})
}
