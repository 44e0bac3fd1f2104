package server

import (
	"encoding/json"
	"fmt"
	"html"
	"io"
	"maps"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/parleyhq/parley/engine"
	"github.com/parleyhq/parley/plugins/store"
)

// This file serves the OpenDialog webchat widget's other endpoints, as the
// widget (opendialogai/webchat 1.0.0) and core (1.x) define them:
//
//	GET, POST /webchat-config       webchat src/Http/Controllers/WebchatSettings.php
//	GET  /user/{id}/history         core src/ConversationLog/Http/Controllers/WebchatInitController.php
//	GET  /user/{id}/history/file    webchat src/Http/Controllers/HistoryController.php (export)
//	GET  /web-chat-iframe, /vendor/webchat/...  a built widget (Options.WebchatDir)
//
// and CORS for the origins of Options.CORSOrigins.

// DefaultWebchatSettings returns OpenDialog's default widget settings
// (webchat 1.0.0 resources/assets/js/default-webchat-settings.js), with the
// open callbacks of docs developing-with-opendialog/webchat/webchat-authentication.md:
// new and returning users open the chat with WELCOME, ongoing users send no
// chat opening.
func DefaultWebchatSettings() map[string]any {
	return map[string]any{
		"url":             "",
		"mobileWidth":     "1",
		"sessionDuration": 120,
		"general": map[string]any{
			"url": "/web-chat", "teamName": "Webchat", "chatbotCssPath": "", "chatbotFullpageCssPath": "",
			"chatbotName": "Bot", "chatbotAvatarPath": "/images/avatar.svg", "restartButtonCallback": "WELCOME",
			"open": true, "hideDatetimeMessage": true, "hideMessageTime": true, "disableCloseChat": false,
			"useBotAvatar": true, "useHumanAvatar": false, "useBotName": false, "useHumanName": false,
			"collectUserIp": false, "showRestartButton": false, "showDownloadButton": true,
			"showEndChatButton": false, "showHeaderCloseButton": false, "showHeaderButtonsOnFullPageMessages": false,
			"messageAnimation": false, "hideTypingIndicatorOnInternalMessages": false, "scrollToFirstNewMessage": false,
			"messageDelay": 500, "logo": "/images/logo.svg", "showTextInputWithExternalButtons": false,
			"formResponseText":      nil,
			"newUserStartMinimized": false, "newUserOpenCallback": "WELCOME",
			"returningUserStartMinimized": false, "returningUserOpenCallback": "WELCOME",
			"ongoingUserStartMinimized": false,
		},
		"comments":       map[string]any{"commentsEnabled": false},
		"webchatHistory": map[string]any{"showHistory": true, "numberOfMessages": 10},
		"colours": map[string]any{
			"headerBackground": "#1b212a", "headerText": "#ffffff", "launcherBackground": "#1b212a",
			"messageListBackground": "#1b212a", "sentMessageBackground": "#0000ff", "sentMessageText": "#ffffff",
			"receivedMessageBackground": "#ffffff", "receivedMessageText": "#1b212a", "userInputBackground": "#ffffff",
			"userInputText": "#1b212a", "buttonBackground": "#0000ff", "buttonHoverBackground": "transparent",
			"buttonText": "#ffffff", "externalButtonBackground": "#0000ff", "externalButtonHoverBackground": "#ffffff",
			"externalButtonText": "#ffffff", "iconBackground": "#ffffff", "iconHoverBackground": "#1b212a",
		},
	}
}

// mergeSettings returns base with over merged in, recursively for objects.
func mergeSettings(base, over map[string]any) map[string]any {
	out := maps.Clone(base)
	for k, v := range over {
		if vm, ok := v.(map[string]any); ok {
			if bm, ok := out[k].(map[string]any); ok {
				out[k] = mergeSettings(bm, vm)
				continue
			}
		}
		out[k] = v
	}
	return out
}

// User types of the webchat configuration (WebchatSettings::NEW_USER, ...).
const (
	userNew       = "new"
	userReturning = "returning"
	userOngoing   = "ongoing"
)

// webchatConfig handles GET and POST /webchat-config: the widget's settings
// with the user's type and, by it, showMinimized and openIntent, as
// WebchatSettings::__invoke computes them. The embed script posts
// {custom_settings, tags} as text; Parley reads only the query (url,
// user_id, width, callback_id). The settings hold no secret: no key is needed.
func (s *Server) webchatConfig(w http.ResponseWriter, r *http.Request) {
	if r.Body != nil {
		_, _ = io.Copy(io.Discard, http.MaxBytesReader(w, r.Body, s.opts.MaxBodyBytes))
	}
	q := r.URL.Query()
	if wd := q.Get("width"); wd != "" {
		if _, err := strconv.ParseFloat(wd, 64); err != nil {
			s.reject(w, http.StatusBadRequest, CodeBadRequest, "Width parameter must be an integer.")
			return
		}
	}
	if u := q.Get("url"); u != "" {
		if pu, err := url.Parse(u); err != nil || pu.Scheme == "" || pu.Host == "" {
			s.reject(w, http.StatusBadRequest, CodeBadRequest, "Url parameter is not a valid URL.")
			return
		}
	}
	settings := s.settings()
	general, _ := settings["general"].(map[string]any)
	if general == nil {
		general = map[string]any{}
	}
	userType := userNew
	if id := q.Get("user_id"); id != "" && checkUserID(id) == "" {
		t, err := s.userType(r, id)
		if err != nil {
			s.contextError(w, err)
			return
		}
		userType = t
	}
	settings["userType"] = userType
	minimized, _ := general[userType+"UserStartMinimized"].(bool)
	settings["showMinimized"] = minimized
	settings["openIntent"] = general[userType+"UserOpenCallback"] // nil (null) when not set
	writeJSON(w, settings)
}

// settings returns a fresh copy of the configured widget settings.
func (s *Server) settings() map[string]any {
	b, err := json.Marshal(mergeSettings(DefaultWebchatSettings(), s.opts.WebchatSettings))
	if err != nil {
		return DefaultWebchatSettings()
	}
	var out map[string]any
	if json.Unmarshal(b, &out) != nil {
		return DefaultWebchatSettings()
	}
	return out
}

// userType is new (never seen), ongoing (in a conversation) or returning.
func (s *Server) userType(r *http.Request, id string) (string, error) {
	h, err := s.eng.History(r.Context(), id, 1)
	if err != nil {
		return "", err
	}
	c, err := s.eng.Context(r.Context(), id)
	if err != nil {
		return "", err
	}
	if len(h) == 0 && !known(c) {
		return userNew, nil
	}
	if conv, _ := c.Conversation["current_conversation"].(string); conv != "" {
		return userOngoing, nil
	}
	return userReturning, nil
}

// HistoryMessage is one message of GET /user/{id}/history: a row of core's
// ConversationLog Message model (src/ConversationLog/Message.php) as Laravel
// serialises it. The widget reads author (the user's id for the user's own
// messages, "them" for the bot's), type and data.
type HistoryMessage struct {
	ID           int            `json:"id"`
	UserID       string         `json:"user_id"`
	Author       string         `json:"author"`
	Message      string         `json:"message"`
	MessageID    string         `json:"message_id"`
	Type         string         `json:"type"`
	Data         map[string]any `json:"data"`
	Microtime    string         `json:"microtime"`
	User         any            `json:"user"`
	Intents      []string       `json:"intents"`
	Conversation any            `json:"conversation"`
	Scene        any            `json:"scene"`
	CreatedAt    string         `json:"created_at"`
	UpdatedAt    string         `json:"updated_at"`
}

// historyLog turns a user's turns into the conversation log, oldest first:
// for each turn the user's message, then the bot's messages but empty ones
// (ConversationLogService logs neither an empty message nor a url_click).
func (s *Server) historyLog(id string, entries []store.HistoryEntry) []HistoryMessage {
	var out []HistoryMessage
	n := 0
	for _, e := range entries {
		t := e.Time.In(s.opts.Location)
		micro := t.UTC().Format("2006-01-02 15:04:05.000000")
		stamp := t.UTC().Format("2006-01-02T15:04:05.000000Z")
		var u engine.Utterance
		_ = json.Unmarshal(e.Utterance, &u)
		n++
		data := map[string]any{"text": u.Text, "date": t.Format(webchatDate), "time": t.Format("03:04:05 PM")}
		if u.Value != "" {
			data["value"] = u.Value
		}
		if u.CallbackID != "" {
			data["callback_id"] = u.CallbackID
		}
		out = append(out, HistoryMessage{ID: n, UserID: id, Author: id, Message: u.Text, Type: u.Type, Data: data,
			Microtime: micro, Intents: e.Intents, CreatedAt: stamp, UpdatedAt: stamp})
		var msgs []engine.Message
		_ = json.Unmarshal(e.Messages, &msgs)
		tm, dt := t.AppendFormat(nil, webchatTime), t.AppendFormat(nil, webchatDate)
		for i := range msgs {
			m := &msgs[i]
			kind := m.Kind()
			if kind == "empty" {
				continue
			}
			var d map[string]any
			_ = json.Unmarshal(appendData(nil, m, kind, i < len(msgs)-1, tm, dt), &d)
			n++
			// Later messages of a turn sort after earlier ones, as their microtimes do.
			mt := t.Add(time.Duration(i+1) * time.Microsecond).UTC()
			out = append(out, HistoryMessage{ID: n, UserID: id, Author: "them", Message: m.Text, Type: kind, Data: d,
				Microtime: mt.Format("2006-01-02 15:04:05.000000"), Intents: e.Intents,
				CreatedAt: stamp, UpdatedAt: stamp})
		}
	}
	return out
}

// history handles GET /user/{id}/history: the user's newest messages first,
// at most limit of them (default 10), without the types listed in ignore
// (comma-separated), as WebchatInitController::receive queries them. The
// widget asks for limit=numberOfMessages&ignore=chat_open,trigger,cta,text_external
// and reverses the list.
func (s *Server) history(w http.ResponseWriter, r *http.Request) {
	id, ok := s.userID(w, r)
	if !ok {
		return
	}
	q := r.URL.Query()
	limit := 10
	if l := q.Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 0 {
			s.reject(w, http.StatusBadRequest, CodeBadRequest, fmt.Sprintf("limit %q is not a number of messages", truncate(l, 20)))
			return
		}
		limit = n
	}
	ignore := map[string]bool{}
	for _, t := range strings.Split(q.Get("ignore"), ",") {
		if t = strings.TrimSpace(t); t != "" {
			ignore[t] = true
		}
	}
	entries, err := s.eng.History(r.Context(), id, 0)
	if err != nil {
		s.contextError(w, err)
		return
	}
	log := s.historyLog(id, entries)
	out := make([]HistoryMessage, 0, min(limit, len(log)))
	for i := len(log) - 1; i >= 0 && len(out) < limit; i-- {
		if !ignore[log[i].Type] {
			out = append(out, log[i])
		}
	}
	writeJSON(w, out)
}

// anchorHref matches the links HistoryController::stripTags keeps as their address.
var anchorHref = regexp.MustCompile(`<a[^>]*href="((?:[^/"][^"]*))">[^<]+</a>`)

// tags matches HTML tags, which the transcript strips.
var tags = regexp.MustCompile(`<[^>]*>`)

// historyFile handles GET /user/{id}/history/file: the transcript as text,
// "Y-m-d H:i - Author: text" per message, oldest first, as
// HistoryController::export writes it (authors "Bot" and "You"; chat
// openings, empty and cta messages left out; a button response is its text,
// a form response "Form submitted").
func (s *Server) historyFile(w http.ResponseWriter, r *http.Request) {
	id, ok := s.userID(w, r)
	if !ok {
		return
	}
	entries, err := s.eng.History(r.Context(), id, 0)
	if err != nil {
		s.contextError(w, err)
		return
	}
	if len(entries) == 0 {
		s.reject(w, http.StatusNotFound, CodeNotFound, fmt.Sprintf("user %q has no history", truncate(id, 100)))
		return
	}
	var b strings.Builder
	ignored := map[string]bool{"chat_open": true, "cta": true, "empty": true, "hand-to-human": true}
	for _, m := range s.historyLog(id, entries) {
		if ignored[m.Type] {
			continue
		}
		author := "Bot"
		if m.Author == id {
			author = "You"
		}
		var text string
		switch m.Type {
		case "form_response":
			text = "Form submitted"
		default:
			text = tags.ReplaceAllString(anchorHref.ReplaceAllString(m.Message, "$1"), "")
			text = html.UnescapeString(text)
		}
		if text == "" {
			continue
		}
		t, err := time.Parse("2006-01-02 15:04:05.000000", m.Microtime)
		if err != nil {
			continue
		}
		fmt.Fprintf(&b, "%s - %s: %s\n", t.In(s.opts.Location).Format("2006-01-02 15:04"), author, text)
	}
	name := fmt.Sprintf("Chat Transcript %s.txt", s.opts.Now().In(s.opts.Location).Format("2006-01-02 03:04:05"))
	h := w.Header()
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("Content-Disposition", fmt.Sprintf("attachment; filename=%q", name))
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	_, _ = io.WriteString(w, b.String())
}

// cors answers CORS for the configured origins: preflight OPTIONS requests
// of the widget's endpoints get 204 with the allowed methods and headers,
// and every answer to an allowed origin says so. Other origins get no CORS
// header (the browser then refuses the answer to the page).
func (s *Server) cors(next http.Handler) http.Handler {
	if len(s.opts.CORSOrigins) == 0 {
		return next
	}
	anyOrigin := slices.Contains(s.opts.CORSOrigins, "*")
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		origin := r.Header.Get("Origin")
		h := w.Header()
		// Answers depend on the origin, for caches.
		h.Add("Vary", "Origin")
		if origin == "" || (!anyOrigin && !slices.Contains(s.opts.CORSOrigins, origin)) {
			next.ServeHTTP(w, r)
			return
		}
		h.Set("Access-Control-Allow-Origin", origin)
		h.Set("Access-Control-Expose-Headers", "Content-Disposition, Retry-After")
		if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
			h.Set("Access-Control-Allow-Methods", "GET, POST, OPTIONS")
			h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type, X-Requested-With, X-CSRF-TOKEN, Traceparent")
			h.Set("Access-Control-Max-Age", "600")
			w.WriteHeader(http.StatusNoContent)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// webchatIframe is the widget's iframe page when the operator's directory
// has none: the same document as webchat 1.0.0 resources/views/webchat-iframe.blade.php
// renders (the fonts, the widget's root element, its CSS and script).
const webchatIframe = `<!DOCTYPE html>
<html>
<head>
<meta charset="utf-8">
<link rel="stylesheet" type="text/css" href="/vendor/webchat/fonts/fonts.css" />
</head>
<body style="background-color: transparent">
<div id="app">
    <opendialog-chat></opendialog-chat>
</div>
<link rel="stylesheet" type="text/css" href="/vendor/webchat/css/main.css?v1">
<script src="/vendor/webchat/js/app.js?v1"></script>
</body>
</html>
`

// webchatDirRoutes serves a built OpenDialog webchat from dir, laid out as
// the package publishes it (PackageServiceProvider: public/ to
// public/vendor/webchat): dir is either Laravel's public directory (holding
// vendor/webchat/) or the published vendor/webchat directory itself (holding
// js/app.js). /web-chat-iframe is dir's web-chat-iframe(.html) when there is
// one, else the page of webchatIframe.
func (s *Server) webchatDirRoutes(mux *http.ServeMux, dir string) error {
	root := dir
	if st, err := os.Stat(filepath.Join(dir, "vendor", "webchat")); err == nil && st.IsDir() {
		root = filepath.Join(dir, "vendor", "webchat")
	} else if _, err := os.Stat(filepath.Join(dir, "js", "app.js")); err != nil {
		return fmt.Errorf("--webchat-dir %s: neither vendor/webchat/ nor js/app.js is there; give the public directory of a built OpenDialog webchat", dir)
	}
	page := []byte(webchatIframe)
	for _, name := range []string{"web-chat-iframe", "web-chat-iframe.html"} {
		if b, err := os.ReadFile(filepath.Join(dir, name)); err == nil {
			page = b
			break
		}
	}
	mux.HandleFunc("GET /web-chat-iframe", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-cache")
		_, _ = w.Write(page)
	})
	fsrv := http.StripPrefix("/vendor/webchat/", http.FileServer(noDirFS{http.Dir(root)}))
	mux.Handle("GET /vendor/webchat/", fsrv)
	return nil
}

// noDirFS refuses directory listings.
type noDirFS struct{ fs http.FileSystem }

func (n noDirFS) Open(name string) (http.File, error) {
	f, err := n.fs.Open(name)
	if err != nil {
		return nil, err
	}
	if st, err := f.Stat(); err == nil && st.IsDir() {
		f.Close()
		return nil, os.ErrNotExist
	}
	return f, nil
}
