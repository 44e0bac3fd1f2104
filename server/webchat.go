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
	"reflect"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/parleyhq/parley/dsl"
	"github.com/parleyhq/parley/engine"
	"github.com/parleyhq/parley/jsonenc"
	"github.com/parleyhq/parley/plugins"
)

// WebchatRequest is the body of POST /incoming/webchat, as OpenDialog's
// webchat widget sends it (webchat 1.0.0 resources/assets/js/services/ChatServices/WebChatMode.js:
// {notification, user_id, author, message_id, content}).
type WebchatRequest struct {
	// Notification is "message" (or empty).
	Notification string `json:"notification"`
	// UserID identifies the user; required.
	UserID    string         `json:"user_id"`
	Author    string         `json:"author"`
	MessageID string         `json:"message_id,omitempty"`
	Content   WebchatContent `json:"content"`
}

// WebchatContent is the utterance of a webchat request: the widget's own
// message object (WebChat.vue sendMessage), of which Parley reads type,
// callback_id, data and user.
type WebchatContent struct {
	// Type is chat_open, text, button_response, trigger, url_click,
	// form_response or longtext_response.
	Type   string `json:"type"`
	Author string `json:"author,omitempty"`
	// CallbackID is the callback of the button pressed (button_response),
	// the form submitted (form_response), the chat opening (chat_open) or
	// the trigger; the scenario's callbacks map it to an intent.
	CallbackID string      `json:"callback_id,omitempty"`
	Data       WebchatData `json:"data"`
	// User holds the client's user details (first_name, last_name, email,
	// external_id, custom); they go into the user context. The client chooses
	// them: never trust them for authorisation.
	User json.RawMessage `json:"user,omitempty"`
}

// WebchatData holds the text and value of an utterance, and the fields of a form.
type WebchatData struct {
	Text string `json:"text,omitempty"`
	// Value is a button's value: a string, a number, a boolean or null.
	Value any `json:"value,omitempty"`
	// CallbackID is accepted here too, as some webchat clients put it in data.
	CallbackID string `json:"callback_id,omitempty"`
	// URL is the link of a url_click.
	URL string `json:"url,omitempty"`
}

// WebchatUser is content.user, as WebchatSensor::createUser (core 1.x) reads it.
type WebchatUser struct {
	FirstName  any            `json:"first_name"`
	LastName   any            `json:"last_name"`
	Email      any            `json:"email"`
	ExternalID any            `json:"external_id"`
	Custom     map[string]any `json:"custom"`
}

// WebchatMessage is one message of the answer of POST /incoming/webchat,
// as core 1.x WebchatMessage::getMessageToPost shapes it.
type WebchatMessage struct {
	Author string             `json:"author"`
	Type   string             `json:"type"`
	Intent string             `json:"intent"`
	Data   WebchatMessageData `json:"data"`
}

// WebchatMessageData is the data of a WebchatMessage; which fields are
// present depends on the type (see appendMessage).
type WebchatMessageData struct {
	Text                  *string         `json:"text"`
	DisableText           bool            `json:"disable_text"`
	Internal              bool            `json:"internal"`
	Hidetime              bool            `json:"hidetime"`
	Hideavatar            bool            `json:"hideavatar"`
	Time                  string          `json:"time"`
	Date                  string          `json:"date"`
	Buttons               []WebchatButton `json:"buttons,omitempty"`
	External              bool            `json:"external,omitempty"`
	ClearAfterInteraction bool            `json:"clear_after_interaction,omitempty"`
	// Other fields of rich, image, list, form and long text messages.
	Title      *string          `json:"title,omitempty"`
	ImgSrc     string           `json:"img_src,omitempty"`
	CallbackID *string          `json:"callback_id,omitempty"`
	Elements   []map[string]any `json:"elements,omitempty"`
	Items      []map[string]any `json:"items,omitempty"`
}

// WebchatButton is a button of a message (core 1.x Button/*Button.php).
type WebchatButton struct {
	Text       string  `json:"text"`
	Display    bool    `json:"display"`
	Type       string  `json:"type"`
	CallbackID string  `json:"callback_id,omitempty"`
	Value      *string `json:"value,omitempty"`
	Link       string  `json:"link,omitempty"`
	LinkNewTab bool    `json:"link_new_tab,omitempty"`
	Download   bool    `json:"download,omitempty"`
}

// Formats of the time and date of webchat messages: PHP's date('h:i A') and
// date('D j M') in core 1.x WebchatMessage ("07:45 AM", "Tue 1 Dec").
const (
	webchatTime = "03:04 PM"
	webchatDate = "Mon 2 Jan"
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
	// JSON decoding replaces invalid UTF-8 with U+FFFD, which would make
	// distinct ids ("a\xff", "a\xfe") equal: refuse such a body before
	// anything is decoded.
	if b := buf.Bytes(); !utf8.Valid(b) {
		s.reject(w, http.StatusBadRequest, CodeBadRequest,
			fmt.Sprintf("the request body is not valid UTF-8 (at byte %d): JSON text must be UTF-8", invalidUTF8At(b)))
		return false
	}
	return true
}

// invalidUTF8At returns the offset of the first byte of b that is not valid UTF-8.
func invalidUTF8At(b []byte) int {
	for i := 0; i < len(b); {
		r, size := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && size == 1 {
			return i
		}
		i += size
	}
	return len(b)
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
func jsonError(err error) string { return jsonErrorIn("", err) }

// jsonErrorIn describes a decoding error of the JSON value of field (the
// whole body when field is "").
func jsonErrorIn(field string, err error) string {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		return fmt.Sprintf("invalid JSON at byte %d: %v", se.Offset, se)
	case errors.As(err, &te):
		if te.Field != "" {
			if field != "" {
				field += "."
			}
			field += te.Field
		}
		if num, ok := strings.CutPrefix(te.Value, "number "); ok && isNumberKind(te.Type.Kind()) {
			// A number decoding refuses into a number type is out of its range
			// (1e999 for a float64, 1.5 or 1e20 for an int).
			where := "the body"
			if field != "" {
				where = "field " + field
			}
			switch te.Type.Kind() {
			case reflect.Float32, reflect.Float64, reflect.Interface:
				return fmt.Sprintf("%s: the number %s is out of range: numbers must fit a 64-bit float (at most about 1.8e308)", where, truncate(num, 40))
			}
			return fmt.Sprintf("%s: the number %s is not a whole number in the range of %s", where, truncate(num, 40), te.Type.Kind())
		}
		if field == "" {
			return fmt.Sprintf("the body must be a JSON object, not %s", te.Value)
		}
		return fmt.Sprintf("field %s must be %s, not %s", field, jsonKind(te.Type.Kind().String()), te.Value)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return "invalid JSON: unexpected end of the body"
	}
	return "invalid JSON: " + err.Error()
}

// isNumberKind reports whether k is a kind JSON numbers decode into.
func isNumberKind(k reflect.Kind) bool {
	switch k {
	case reflect.Float32, reflect.Float64, reflect.Interface,
		reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return true
	}
	return false
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
	case strings.ContainsRune(id, utf8.RuneError):
		// What decoding makes of invalid UTF-8 and of unpaired surrogate
		// escapes ("\ud800"): two such ids would be the same user.
		return "user_id contains U+FFFD, the replacement character (from invalid UTF-8 or an unpaired surrogate escape such as \\ud800)"
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
	u, status, code, msg := s.utterance(&req, sc.in.Bytes())
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
	if req.Content.Type == webchatURLClick {
		// As core's WebchatIncomingController: the click is recorded (here:
		// logged), answered 200 with an empty body, and the conversation does not move.
		s.log.Info("webchat link clicked", slog.String("user", req.UserID), slog.String("url", truncate(req.Content.Data.URL, 500)))
		w.WriteHeader(http.StatusOK)
		return
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
		if errors.Is(err, engine.ErrInvalidAttribute) {
			// The client's fault, not a failed turn: nothing was written.
			s.reject(w, http.StatusUnprocessableEntity, CodeUnprocessable, "content.user: "+errorTail(err))
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
	s.notifyUser(req.UserID)
	sc.out = appendAnswer(sc.out[:0], reply.Messages, tr.Time.In(s.opts.Location))
	writeJSONBytes(w, http.StatusOK, sc.out)
}

// webchatURLClick is the content type of a link click, which is logged and does not make a turn.
const webchatURLClick = "url_click"

// contentTypes lists the content types the widget sends (core 1.x IncomingWebchatMessage rules).
const contentTypes = "chat_open, text, button_response, trigger, url_click, form_response or longtext_response"

// utterance checks a webchat request and returns its utterance, or the
// status, code and message of the error. It reads the content as core 1.x
// WebchatSensor::interpret does.
func (s *Server) utterance(req *WebchatRequest, body []byte) (plugins.Utterance, int, string, string) {
	if req.Notification != "" && req.Notification != "message" {
		return plugins.Utterance{}, http.StatusBadRequest, CodeBadRequest,
			fmt.Sprintf("notification %q is not supported: want \"message\"", truncate(req.Notification, 50))
	}
	if msg := checkUserID(req.UserID); msg != "" {
		return plugins.Utterance{}, http.StatusBadRequest, CodeBadRequest, msg
	}
	c := &req.Content
	u := plugins.Utterance{Type: c.Type, Text: c.Data.Text, CallbackID: c.CallbackID, Platform: "webchat"}
	if u.CallbackID == "" {
		u.CallbackID = c.Data.CallbackID
	}
	// As WebchatSensor: only chat openings, triggers and button responses carry a value.
	hasValue := c.Type == plugins.ChatOpen || c.Type == plugins.Trigger || c.Type == plugins.ButtonResponse
	switch v := c.Data.Value.(type) {
	case nil:
	case string:
		if hasValue {
			u.Value = v
		}
	case float64:
		u.Value = strconv.FormatFloat(v, 'f', -1, 64)
	case bool:
		u.Value = strconv.FormatBool(v)
	default:
		if hasValue {
			return u, http.StatusBadRequest, CodeBadRequest, "content.data.value must be a string, a number, a boolean or null"
		}
	}
	if !hasValue {
		u.Value = ""
	}
	switch c.Type {
	case plugins.ChatOpen, webchatURLClick, plugins.LongTextResponse:
	case plugins.Text:
		if strings.TrimSpace(u.Text) == "" {
			return u, http.StatusBadRequest, CodeBadRequest, "content.data.text is empty: a text utterance needs text"
		}
	case plugins.ButtonResponse, plugins.Trigger, plugins.FormResponse:
		if u.CallbackID == "" {
			return u, http.StatusBadRequest, CodeBadRequest,
				fmt.Sprintf("content.callback_id is missing: a %s needs the callback id", c.Type)
		}
	case "":
		return u, http.StatusBadRequest, CodeBadRequest, "content.type is missing: want " + contentTypes
	default:
		return u, http.StatusBadRequest, CodeBadRequest,
			fmt.Sprintf("content.type %q is unknown: want %s", truncate(c.Type, 50), contentTypes)
	}
	if n := utf8.RuneCountInString(u.Text); n > s.opts.MaxTextLength {
		return u, http.StatusUnprocessableEntity, CodeUnprocessable,
			fmt.Sprintf("content.data.text is %d characters long; the limit is %d", n, s.opts.MaxTextLength)
	}
	if len(u.CallbackID) > maxUserIDBytes || len(u.Value) > s.opts.MaxTextLength*4 {
		return u, http.StatusUnprocessableEntity, CodeUnprocessable, "content.callback_id or content.data.value is too long"
	}
	if c.Type == plugins.FormResponse {
		// The form's fields are read again from the body: only forms pay for a map.
		var form struct {
			Content struct {
				Data map[string]any `json:"data"`
			} `json:"content"`
		}
		if err := json.Unmarshal(body, &form); err != nil {
			return u, http.StatusBadRequest, CodeBadRequest, jsonError(err)
		}
		fields := form.Content.Data
		// As UtteranceAttribute::setFormValues: every field but the widget's text, time and date.
		for _, k := range []string{"text", "time", "date"} {
			delete(fields, k)
		}
		if len(fields) > 0 {
			u.Data = fields
		}
	}
	if len(c.User) > 0 && !bytes.Equal(c.User, []byte("null")) {
		user, msg := clientUser(c.User)
		if msg != "" {
			return u, http.StatusBadRequest, CodeBadRequest, msg
		}
		u.User = user
	}
	return u, 0, "", ""
}

// clientUser flattens content.user into user attributes, as core 0.7.7
// UserService::updateFromUtteranceUserObject does: first_name, last_name,
// email, external_id, then every key of custom. Null values are not set
// (PHP's isset).
func clientUser(raw json.RawMessage) (map[string]any, string) {
	var cu WebchatUser
	if err := json.Unmarshal(raw, &cu); err != nil {
		return nil, "content.user: " + jsonError(err)
	}
	out := make(map[string]any, 4+len(cu.Custom))
	for _, f := range [...]struct {
		name string
		v    any
	}{{"first_name", cu.FirstName}, {"last_name", cu.LastName}, {"email", cu.Email}, {"external_id", cu.ExternalID}} {
		if f.v != nil {
			out[f.name] = f.v
		}
	}
	for k, v := range cu.Custom {
		if v != nil {
			out[k] = v
		}
	}
	if len(out) == 0 {
		return nil, ""
	}
	return out, ""
}

// errorTail is the message of the innermost of a chain of wrapped errors
// after the engine's "handling utterance of user ...: " prefix.
func errorTail(err error) string {
	msg := err.Error()
	if i := strings.Index(msg, engine.ErrInvalidAttribute.Error()); i >= 0 {
		return msg[i:]
	}
	return msg
}

// appendAnswer appends the answer to a turn, as core 1.x
// WebchatIncomingController::receive shapes it: one message as a bare
// object, several as an array. A reply that says nothing is OpenDialog's
// empty message, which WebChatMessages::getMessageToPost posts as false in an
// array: [false] (the widget re-enables its input on it; [] would leave it
// waiting). All messages but the last are internal and hidetime
// (OpenDialogController::processInternalMessages). It writes the JSON by
// hand: this is the hot path of the server.
func appendAnswer(b []byte, msgs []engine.Message, t time.Time) []byte {
	var tb, db [32]byte
	tm := t.AppendFormat(tb[:0], webchatTime)
	dt := t.AppendFormat(db[:0], webchatDate)
	if len(msgs) == 0 {
		return append(b, "[false]\n"...)
	}
	if len(msgs) == 1 && msgs[0].Kind() != dsl.MessageEmpty {
		b = appendMessage(b, &msgs[0], false, tm, dt)
		return append(b, '\n')
	}
	b = append(b, '[')
	for i := range msgs {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendMessage(b, &msgs[i], i < len(msgs)-1, tm, dt)
	}
	return append(b, "]\n"...)
}

// appendMessage appends one message: {author, type, intent, data}, with the
// data of its type as core 1.x src/ResponseEngine/Message/Webchat/Webchat*Message.php
// getData builds it, fields in the same order.
func appendMessage(b []byte, m *engine.Message, internal bool, tm, dt []byte) []byte {
	kind := m.Kind()
	if kind == dsl.MessageEmpty {
		return append(b, "false"...)
	}
	b = append(b, `{"author":"them","type":"`...)
	b = append(b, kind...)
	b = append(b, `","intent":`...)
	b = jsonenc.AppendString(b, m.Intent)
	b = append(b, `,"data":`...)
	b = appendData(b, m, kind, internal, tm, dt)
	return append(b, '}')
}

// appendFlags appends the disable_text, internal, hidetime (and, when
// avatar, hideavatar) fields.
func appendFlags(b []byte, m *engine.Message, internal, avatar bool) []byte {
	b = append(b, `,"disable_text":`...)
	b = strconv.AppendBool(b, m.DisableText)
	b = append(b, `,"internal":`...)
	b = strconv.AppendBool(b, internal)
	b = append(b, `,"hidetime":`...)
	b = strconv.AppendBool(b, internal)
	if avatar {
		b = append(b, `,"hideavatar":`...)
		b = strconv.AppendBool(b, m.HideAvatar)
	}
	return b
}

// appendTime appends the time and date fields.
func appendTime(b, tm, dt []byte) []byte {
	b = append(b, `,"time":"`...)
	b = append(b, tm...)
	b = append(b, `","date":"`...)
	b = append(b, dt...)
	return append(b, '"')
}

// appendData appends the data object of a message of the given kind.
func appendData(b []byte, m *engine.Message, kind string, internal bool, tm, dt []byte) []byte {
	switch kind {
	case dsl.MessageImage:
		var im dsl.Image
		if m.Image != nil {
			im = *m.Image
		}
		b = append(b, `{"img_src":`...)
		b = appendNullable(b, im.Src)
		b = append(b, `,"img_link":`...)
		b = appendNullable(b, im.Link)
		b = append(b, `,"link_new_tab":`...)
		b = strconv.AppendBool(b, im.LinkNewTab)
		b = appendFlags(b, m, internal, false)
		b = appendTime(b, tm, dt)
		return append(b, '}')
	case dsl.MessageList:
		b = append(b, `{"title":`...)
		b = appendNullable(b, m.Title)
		b = append(b, `,"items":[`...)
		for i := range m.Items {
			if i > 0 {
				b = append(b, ',')
			}
			it := &m.Items[i]
			ik := it.Kind()
			b = appendData(b, it, ik, false, tm, dt)
			// getItemsArray: the item's data plus its message_type.
			b = append(b[:len(b)-1], `,"message_type":"`...)
			b = append(b, ik...)
			b = append(b, `"}`...)
		}
		b = append(b, `],"view_type":`...)
		vt := m.ViewType
		if vt == "" {
			vt = "horizontal"
		}
		b = jsonenc.AppendString(b, vt)
		b = appendFlags(b, m, internal, true)
		b = appendTime(b, tm, dt)
		return append(b, '}')
	}
	// WebchatMessage::getData, then the fields of the type.
	b = append(b, `{"text":`...)
	switch kind {
	case dsl.MessageRich, dsl.MessageForm, dsl.MessageLongText:
		// setText without noSpecialChars escapes &, < and > (htmlspecialchars ENT_NOQUOTES).
		b = appendNullable(b, htmlEscaper.Replace(m.Text))
	default:
		b = appendNullable(b, m.Text)
	}
	b = appendFlags(b, m, internal, true)
	b = appendTime(b, tm, dt)
	switch kind {
	case dsl.MessageButton:
		b = append(b, `,"buttons":`...)
		b = appendButtons(b, m.Buttons)
		b = append(b, `,"external":`...)
		b = strconv.AppendBool(b, m.External)
		b = append(b, `,"clear_after_interaction":`...)
		b = strconv.AppendBool(b, !m.KeepButtons)
	case dsl.MessageRich:
		b = append(b, `,"title":`...)
		b = appendNullable(b, m.Title)
		b = append(b, `,"subtitle":`...)
		b = appendNullable(b, m.Subtitle)
		b = append(b, `,"callback":`...)
		b = appendNullable(b, m.Callback)
		b = append(b, `,"callback_value":`...)
		b = appendNullable(b, m.CallbackValue)
		b = append(b, `,"link":`...)
		b = appendNullable(b, m.Link)
		b = append(b, `,"buttons":`...)
		b = appendButtons(b, m.Buttons)
		if m.Image != nil && m.Image.Src != "" {
			b = append(b, `,"image":{"src":`...)
			b = jsonenc.AppendString(b, m.Image.Src)
			b = append(b, `,"url":`...)
			b = appendNullable(b, m.Image.Link)
			b = append(b, `,"link_new_tab":`...)
			b = strconv.AppendBool(b, m.Image.LinkNewTab)
			b = append(b, '}')
		}
	case dsl.MessageForm:
		f := m.Form
		if f == nil {
			f = &dsl.Form{}
		}
		b = append(b, `,"callback_id":`...)
		b = appendNullable(b, f.Callback)
		b = append(b, `,"elements":[`...)
		for i := range f.Fields {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendField(b, &f.Fields[i])
		}
		b = append(b, `],"auto_submit":`...)
		b = strconv.AppendBool(b, f.AutoSubmit)
		b = append(b, `,"submit_text":`...)
		st := f.SubmitText
		if st == "" {
			st = "Submit"
		}
		b = jsonenc.AppendString(b, st)
		b = append(b, `,"cancel_text":`...)
		b = appendNullable(b, f.CancelText)
		b = append(b, `,"cancel_callback":`...)
		b = appendNullable(b, f.CancelCallback)
	case dsl.MessageLongText:
		lt := m.LongText
		if lt == nil {
			lt = &dsl.LongText{}
		}
		b = append(b, `,"character_limit":`...)
		if lt.CharacterLimit > 0 {
			b = strconv.AppendInt(b, int64(lt.CharacterLimit), 10)
		} else {
			b = append(b, "null"...)
		}
		b = append(b, `,"submit_text":`...)
		b = appendNullable(b, lt.SubmitText)
		b = append(b, `,"callback_id":`...)
		b = appendNullable(b, lt.Callback)
		b = append(b, `,"initial_text":`...)
		b = appendNullable(b, lt.InitialText)
		b = append(b, `,"placeholder":`...)
		b = appendNullable(b, lt.Placeholder)
		b = append(b, `,"confirmation_text":`...)
		b = appendNullable(b, lt.ConfirmationText)
	}
	return append(b, '}')
}

// appendButtons appends buttons as core 1.x Button/*Button.php getData
// builds them: {text, display, type} and then {callback_id, value} for a
// callback button, {link, link_new_tab} for a link, {download: true} for a
// transcript download.
func appendButtons(b []byte, buttons []engine.Button) []byte {
	b = append(b, '[')
	for j := range buttons {
		bt := &buttons[j]
		if j > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"text":`...)
		b = appendNullable(b, bt.Text)
		b = append(b, `,"display":`...)
		b = strconv.AppendBool(b, !bt.Hidden)
		b = append(b, `,"type":`...)
		b = jsonenc.AppendString(b, bt.Type)
		switch {
		case bt.Download:
			b = append(b, `,"download":true`...)
		case bt.Link != "":
			b = append(b, `,"link":`...)
			b = jsonenc.AppendString(b, bt.Link)
			b = append(b, `,"link_new_tab":`...)
			b = strconv.AppendBool(b, bt.LinkNewTab)
		default:
			b = append(b, `,"callback_id":`...)
			b = appendNullable(b, bt.Callback)
			b = append(b, `,"value":`...)
			b = appendNullable(b, bt.Value)
		}
		b = append(b, '}')
	}
	return append(b, ']')
}

// appendField appends a form element as core 1.x Form/Form*Element.php
// getData builds it: {name, display, required, min, max, [default_value],
// element_type, [options]}. Options of select, radio and checkbox fields are
// an object of value to label; those of auto-select a list of {key, value}.
func appendField(b []byte, f *dsl.FormField) []byte {
	b = append(b, `{"name":`...)
	b = jsonenc.AppendString(b, f.Name)
	b = append(b, `,"display":`...)
	b = appendNullable(b, f.Display)
	b = append(b, `,"required":`...)
	b = strconv.AppendBool(b, f.Required)
	b = append(b, `,"min":`...)
	b = appendIntPtr(b, f.Min)
	b = append(b, `,"max":`...)
	b = appendIntPtr(b, f.Max)
	if f.Default != "" {
		b = append(b, `,"default_value":`...)
		b = jsonenc.AppendString(b, f.Default)
	}
	b = append(b, `,"element_type":`...)
	b = jsonenc.AppendString(b, f.Type)
	switch f.Type {
	case "select", "radio", "checkbox":
		b = append(b, `,"options":{`...)
		for i, o := range f.Options {
			if i > 0 {
				b = append(b, ',')
			}
			b = jsonenc.AppendString(b, o.Value)
			b = append(b, ':')
			b = jsonenc.AppendString(b, o.Label)
		}
		b = append(b, '}')
	case "auto-select":
		b = append(b, `,"options":[`...)
		for i, o := range f.Options {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"key":`...)
			b = jsonenc.AppendString(b, o.Value)
			b = append(b, `,"value":`...)
			b = jsonenc.AppendString(b, o.Label)
			b = append(b, '}')
		}
		b = append(b, ']')
	}
	return append(b, '}')
}

func appendIntPtr(b []byte, p *int) []byte {
	if p == nil {
		return append(b, "null"...)
	}
	return strconv.AppendInt(b, int64(*p), 10)
}

// appendNullable appends s as a JSON string, or null when it is empty (PHP's unset properties).
func appendNullable(b []byte, s string) []byte {
	if s == "" {
		return append(b, "null"...)
	}
	return jsonenc.AppendString(b, s)
}

// htmlEscaper escapes as PHP's htmlspecialchars(..., ENT_NOQUOTES).
var htmlEscaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;")

// DecodeAnswer decodes the answer of POST /incoming/webchat: a bare message
// object, or an array of messages in which the empty message is false (left
// out of the result).
func DecodeAnswer(b []byte) ([]WebchatMessage, error) {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '{' {
		var m WebchatMessage
		if err := json.Unmarshal(b, &m); err != nil {
			return nil, fmt.Errorf("decoding a webchat answer: %w", err)
		}
		return []WebchatMessage{m}, nil
	}
	var raw []json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return nil, fmt.Errorf("decoding a webchat answer: %w", err)
	}
	out := make([]WebchatMessage, 0, len(raw))
	for _, r := range raw {
		if bytes.Equal(bytes.TrimSpace(r), []byte("false")) {
			continue
		}
		var m WebchatMessage
		if err := json.Unmarshal(r, &m); err != nil {
			return nil, fmt.Errorf("decoding a webchat answer: %w", err)
		}
		out = append(out, m)
	}
	return out, nil
}
