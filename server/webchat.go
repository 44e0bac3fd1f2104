package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/parleyhq/parley/engine"
	"github.com/parleyhq/parley/plugins"
)

// WebchatRequest is the body of POST /incoming/webchat, as OpenDialog's webchat sends it.
type WebchatRequest struct {
	// Notification is "message" (or empty).
	Notification string `json:"notification"`
	// UserID identifies the user; required.
	UserID  string         `json:"user_id"`
	Author  string         `json:"author"`
	Content WebchatContent `json:"content"`
}

// WebchatContent is the utterance of a webchat request.
type WebchatContent struct {
	// Type is chat_open, text, button_response or trigger.
	Type   string `json:"type"`
	Author string `json:"author"`
	// CallbackID is the callback of the button pressed (button_response) or
	// the intent to trigger (trigger).
	CallbackID string      `json:"callback_id"`
	Data       WebchatData `json:"data"`
	// User holds the client's optional user details; it is accepted and ignored.
	User json.RawMessage `json:"user,omitempty"`
}

// WebchatData holds the text and value of an utterance.
type WebchatData struct {
	Text  string `json:"text"`
	Value string `json:"value"`
	// CallbackID is accepted here too, as some webchat clients put it in data.
	CallbackID string `json:"callback_id"`
}

// WebchatMessage is one message of the response of POST /incoming/webchat.
type WebchatMessage struct {
	Author string             `json:"author"`
	Type   string             `json:"type"`
	Intent string             `json:"intent"`
	Data   WebchatMessageData `json:"data"`
}

// WebchatMessageData is the content of a WebchatMessage.
type WebchatMessageData struct {
	Text    string          `json:"text"`
	Time    string          `json:"time"`
	Date    string          `json:"date"`
	Buttons []WebchatButton `json:"buttons,omitempty"`
}

// WebchatButton is a button of a message; pressing it sends a button_response with CallbackID.
type WebchatButton struct {
	Text       string `json:"text"`
	CallbackID string `json:"callback_id"`
	Value      string `json:"value"`
}

// Formats of the time and date of webchat messages.
const (
	webchatTime = "03:04 PM"
	webchatDate = "Jan 02, 2006"
)

// scratch holds the request and response buffers of one webchat request.
type scratch struct {
	in  bytes.Buffer
	out []byte
}

// scratchPool recycles the buffers of the webchat endpoint.
var scratchPool = sync.Pool{New: func() any { return &scratch{out: make([]byte, 0, 1024)} }}

// maxPooledBuffer keeps buffers grown by unusual requests out of the pool.
const maxPooledBuffer = 64 << 10

func putScratch(sc *scratch) {
	if sc.in.Cap() <= maxPooledBuffer && cap(sc.out) <= maxPooledBuffer {
		sc.in.Reset()
		sc.out = sc.out[:0]
		scratchPool.Put(sc)
	}
}

// readJSONBody checks the content type and reads the body within the size
// limit into buf. On failure it has answered the request and returns false.
func (s *Server) readJSONBody(w http.ResponseWriter, r *http.Request, buf *bytes.Buffer) bool {
	if !isJSON(r.Header.Get("Content-Type")) {
		ct := r.Header.Get("Content-Type")
		msg := "missing Content-Type: send application/json"
		if ct != "" {
			msg = fmt.Sprintf("unsupported Content-Type %q: send application/json", truncate(ct, 100))
		}
		s.reject(w, http.StatusUnsupportedMediaType, CodeUnsupportedMediaType, msg)
		return false
	}
	if r.ContentLength > s.opts.MaxBodyBytes {
		s.reject(w, http.StatusRequestEntityTooLarge, CodeTooLarge,
			fmt.Sprintf("request body of %d bytes is over the limit of %d bytes", r.ContentLength, s.opts.MaxBodyBytes))
		return false
	}
	_, err := buf.ReadFrom(http.MaxBytesReader(w, r.Body, s.opts.MaxBodyBytes))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			s.reject(w, http.StatusRequestEntityTooLarge, CodeTooLarge,
				fmt.Sprintf("request body is over the limit of %d bytes", s.opts.MaxBodyBytes))
			return false
		}
		s.reject(w, http.StatusBadRequest, CodeBadRequest, "reading the request body: "+err.Error())
		return false
	}
	if len(bytes.TrimSpace(buf.Bytes())) == 0 {
		s.reject(w, http.StatusBadRequest, CodeBadRequest, "empty request body: send a JSON object")
		return false
	}
	return true
}

// isJSON reports whether a Content-Type is application/json or application/*+json.
func isJSON(ct string) bool {
	if ct == "application/json" || ct == "application/json; charset=utf-8" {
		return true // the common cases, without parsing
	}
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil {
		return false
	}
	if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") {
		return false
	}
	return mt == "application/json" || (strings.HasPrefix(mt, "application/") && strings.HasSuffix(mt, "+json"))
}

// jsonError describes a decoding error of a request body.
func jsonError(err error) string {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		return fmt.Sprintf("invalid JSON at byte %d: %v", se.Offset, se)
	case errors.As(err, &te):
		field := te.Field
		if field == "" {
			return fmt.Sprintf("the body must be a JSON object, not %s", te.Value)
		}
		return fmt.Sprintf("field %s must be %s, not %s", field, jsonKind(te.Type.Kind().String()), te.Value)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return "invalid JSON: unexpected end of the body"
	}
	return "invalid JSON: " + err.Error()
}

func jsonKind(k string) string {
	switch k {
	case "string":
		return "a string"
	case "struct", "map":
		return "an object"
	case "slice", "array":
		return "an array"
	case "bool":
		return "a boolean"
	}
	return "a " + k
}

// truncate shortens s for an error message.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

// checkUserID says what is wrong with a user id, or returns "".
func checkUserID(id string) string {
	switch {
	case id == "":
		return "user_id is missing or empty"
	case len(id) > maxUserIDBytes:
		return fmt.Sprintf("user_id is %d bytes long; the limit is %d", len(id), maxUserIDBytes)
	case !utf8.ValidString(id):
		return "user_id is not valid UTF-8"
	}
	for _, r := range id {
		if r < 0x20 || r == 0x7f {
			return "user_id contains a control character"
		}
	}
	return ""
}

// webchat handles POST /incoming/webchat: one turn.
func (s *Server) webchat(w http.ResponseWriter, r *http.Request) {
	sc := scratchPool.Get().(*scratch)
	defer putScratch(sc)
	if !s.readJSONBody(w, r, &sc.in) {
		return
	}
	var req WebchatRequest
	if err := json.Unmarshal(sc.in.Bytes(), &req); err != nil {
		s.reject(w, http.StatusBadRequest, CodeBadRequest, jsonError(err))
		return
	}
	u, status, code, msg := s.utterance(&req)
	if status != 0 {
		s.reject(w, status, code, msg)
		return
	}
	if s.limits != nil {
		if ok, wait := s.limits.allow(req.UserID, s.opts.Now()); !ok {
			secs := int((wait + time.Second - 1) / time.Second)
			w.Header().Set("Retry-After", strconv.Itoa(secs))
			s.metrics.rateLimitHit.Inc()
			s.reject(w, http.StatusTooManyRequests, CodeRateLimited,
				fmt.Sprintf("too many turns for this user: at most %g per second (bursts of %d); retry in %d s",
					s.opts.RateLimit, s.opts.RateBurst, secs))
			return
		}
	}
	// The turn runs to its end even if the client goes away, so a
	// conversation never stops half-way through its actions; actions have
	// their own deadlines. A W3C trace context of the request is passed
	// on to the turn's actions.
	ctx := plugins.ContextWithTraceParent(context.WithoutCancel(r.Context()), r.Header.Get("Traceparent"))
	ctx = s.newUserContext(ctx, r)
	reply, err := s.eng.Handle(ctx, req.UserID, u)
	if err != nil {
		if s.rejectNewUser(w, err) {
			return
		}
		s.metrics.turnError.Inc()
		if errors.Is(err, engine.ErrClosed) {
			s.reject(w, http.StatusServiceUnavailable, CodeUnavailable, "the engine is shutting down")
			return
		}
		if s.rejectStore(w, "turn", err) { // the error names the user
			return
		}
		s.log.Error("turn failed", slog.String("user", req.UserID), slog.Any("error", err))
		s.reject(w, http.StatusInternalServerError, CodeInternal, "the turn failed: "+err.Error())
		return
	}
	tr := reply.Trace
	s.metrics.observeTurn(tr)
	if s.traces != nil {
		s.traces.add(req.UserID, tr)
	}
	sc.out = appendMessages(sc.out[:0], reply.Messages, tr.Time.In(s.opts.Location))
	writeJSONBytes(w, http.StatusOK, sc.out)
}

// utterance checks a webchat request and returns its utterance, or the
// status, code and message of the error.
func (s *Server) utterance(req *WebchatRequest) (plugins.Utterance, int, string, string) {
	if req.Notification != "" && req.Notification != "message" {
		return plugins.Utterance{}, http.StatusBadRequest, CodeBadRequest,
			fmt.Sprintf("notification %q is not supported: want \"message\"", truncate(req.Notification, 50))
	}
	if msg := checkUserID(req.UserID); msg != "" {
		return plugins.Utterance{}, http.StatusBadRequest, CodeBadRequest, msg
	}
	c := &req.Content
	u := plugins.Utterance{Type: c.Type, Text: c.Data.Text, CallbackID: c.CallbackID, Value: c.Data.Value, Platform: "webchat"}
	if u.CallbackID == "" {
		u.CallbackID = c.Data.CallbackID
	}
	switch c.Type {
	case plugins.ChatOpen:
	case plugins.Text:
		if strings.TrimSpace(u.Text) == "" {
			return u, http.StatusBadRequest, CodeBadRequest, "content.data.text is empty: a text utterance needs text"
		}
	case plugins.ButtonResponse, plugins.Trigger:
		if u.CallbackID == "" {
			return u, http.StatusBadRequest, CodeBadRequest,
				fmt.Sprintf("content.callback_id is missing: a %s needs the callback id", c.Type)
		}
	case "":
		return u, http.StatusBadRequest, CodeBadRequest,
			"content.type is missing: want chat_open, text, button_response or trigger"
	default:
		return u, http.StatusBadRequest, CodeBadRequest,
			fmt.Sprintf("content.type %q is unknown: want chat_open, text, button_response or trigger", truncate(c.Type, 50))
	}
	if n := utf8.RuneCountInString(u.Text); n > s.opts.MaxTextLength {
		return u, http.StatusUnprocessableEntity, CodeUnprocessable,
			fmt.Sprintf("content.data.text is %d characters long; the limit is %d", n, s.opts.MaxTextLength)
	}
	if len(u.CallbackID) > maxUserIDBytes || len(u.Value) > s.opts.MaxTextLength*4 {
		return u, http.StatusUnprocessableEntity, CodeUnprocessable, "content.callback_id or content.data.value is too long"
	}
	return u, 0, "", ""
}

// appendMessages appends the JSON array of the webchat messages to b. It
// writes the JSON by hand: this is the hot path of the server.
func appendMessages(b []byte, msgs []engine.Message, t time.Time) []byte {
	var tb [32]byte
	tm := t.AppendFormat(tb[:0], webchatTime)
	var db [32]byte
	dt := t.AppendFormat(db[:0], webchatDate)
	b = append(b, '[')
	for i := range msgs {
		m := &msgs[i]
		if i > 0 {
			b = append(b, ',')
		}
		typ := "text"
		if len(m.Buttons) > 0 {
			typ = "button"
		}
		b = append(b, `{"author":"them","type":"`...)
		b = append(b, typ...)
		b = append(b, `","intent":`...)
		b = appendString(b, m.Intent)
		b = append(b, `,"data":{"text":`...)
		b = appendString(b, m.Text)
		b = append(b, `,"time":"`...)
		b = append(b, tm...)
		b = append(b, `","date":"`...)
		b = append(b, dt...)
		b = append(b, '"')
		if len(m.Buttons) > 0 {
			b = append(b, `,"buttons":[`...)
			for j, bt := range m.Buttons {
				if j > 0 {
					b = append(b, ',')
				}
				b = append(b, `{"text":`...)
				b = appendString(b, bt.Text)
				b = append(b, `,"callback_id":`...)
				b = appendString(b, bt.Callback)
				b = append(b, `,"value":`...)
				b = appendString(b, bt.Value)
				b = append(b, '}')
			}
			b = append(b, ']')
		}
		b = append(b, "}}"...)
	}
	return append(b, "]\n"...)
}

const hexDigits = "0123456789abcdef"

// appendString appends s as a JSON string, escaping as encoding/json does
// (HTML characters and U+2028/U+2029 included; invalid UTF-8 becomes U+FFFD).
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
