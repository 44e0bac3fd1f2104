package server_test

// These tests post requests exactly as OpenDialog's webchat widget builds
// them and compare the answers, field by field and in order, with what
// OpenDialog's core answers. The sources followed:
//
//   - requests: opendialogai/webchat 1.0.0 resources/assets/js/services/ChatServices/WebChatMode.js
//     (sendRequest: the envelope {notification, user_id, author, message_id, content}) and
//     resources/assets/js/components/WebChat.vue (sendMessage adds mode, data.date,
//     data.time, user_id, user and id to the message; sendChatOpenMessage,
//     onButtonClick, onFormButtonClick, onFormCancelClick, onRestartButtonClick,
//     onLinkClick, onMessageWasSent build the content); layout/UserInput.vue
//     (closeChat: the end chat button_response);
//   - answers: opendialogai/core 1.x src/Http/Controllers/WebchatIncomingController.php
//     (one message bare, several in an array), src/Controllers/OpenDialogController.php
//     (processInternalMessages), src/ResponseEngine/Message/Webchat/*.php (getData of
//     each message type, buttons and form elements), WebchatEmptyMessage.php (false).

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/parleyhq/parley/engine"
	"github.com/parleyhq/parley/server"
)

// widgetClock is the time of every turn: the answers say "07:45 AM" and "Tue 1 Dec"
// (core WebchatMessage: date('h:i A'), date('D j M')).
var widgetClock = time.Date(2026, 12, 1, 7, 45, 0, 0, time.UTC)

// widgetUser is content.user as the host page gives it (window.openDialogSettings.user).
const widgetUser = `{"first_name":"John","last_name":"Smith","email":"john@example.com","external_id":"crm-42","custom":{"plan":"gold"},"name":"John Smith"}`

// widget builds the body of POST /incoming/webchat as the widget does:
// sendMessage fills the message (content) and sendRequest wraps it. fields
// are the content's own fields before data ("type", "author", "callback_id"
// in the order the widget's handlers write them), data the fields of
// content.data before the date and time sendMessage adds.
func widget(userID, user, fields, data string) string {
	id := "0f8fad5b-d9cb-469f-a165-70867728950e"
	if data != "" {
		data += ","
	}
	content := fmt.Sprintf(`{%s,"data":{%s"date":"Tue 1 Dec","time":"07:45:00 AM"},"mode":"webchat","user_id":%q,"user":%s,"id":%q}`,
		fields, data, userID, user, id)
	if !strings.Contains(fields, `"author"`) {
		// The chat opening has no author until sendRequest sets it on the copy.
		content = content[:len(content)-1] + fmt.Sprintf(`,"author":%q}`, userID)
	} else {
		content = strings.Replace(content, `"author":"me"`, fmt.Sprintf(`"author":%q`, userID), 1)
	}
	return fmt.Sprintf(`{"notification":"message","user_id":%q,"author":%q,"message_id":%q,"content":%s}`, userID, userID, id, content)
}

// post sends a widget body as axios does (application/json;charset=utf-8) and returns the raw answer.
func post(t *testing.T, base, body string) response {
	t.Helper()
	return do(t, "POST", base+"/incoming/webchat", "", "application/json;charset=utf-8", body)
}

// expect checks an answer byte for byte.
func expect(t *testing.T, what string, r response, want string) {
	t.Helper()
	// Parley escapes &, < and > in strings as encoding/json does (\u0026 ...):
	// the same JSON values as PHP's json_encode writes.
	want = strings.NewReplacer("&", `\u0026`, "<", `\u003c`, ">", `\u003e`).Replace(want)
	if r.status != http.StatusOK || string(r.body) != want+"\n" {
		t.Fatalf("%s: got %d\n%s\nwant\n%s", what, r.status, r.body, want)
	}
}

// Pieces of the answers, as core's getData methods build them.
const (
	// WebchatMessage::getData for a message that is the only or the last one.
	flags = `"disable_text":false,"internal":false,"hidetime":false,"hideavatar":false,"time":"07:45 AM","date":"Tue 1 Dec"`
	// The same for every message but the last (processInternalMessages).
	internalFlags = `"disable_text":false,"internal":true,"hidetime":true,"hideavatar":false,"time":"07:45 AM","date":"Tue 1 Dec"`
)

func textMessage(intent, text string) string {
	return fmt.Sprintf(`{"author":"them","type":"text","intent":%q,"data":{"text":%q,%s}}`, intent, text, flags)
}

// callbackButton is CallbackButton::getData: {text, display, type, callback_id, value}.
func callbackButton(text, callback string) string {
	return fmt.Sprintf(`{"text":%q,"display":true,"type":"","callback_id":%q,"value":null}`, text, callback)
}

// buttonMessage is WebchatButtonMessage::getData: the base fields, buttons, external, clear_after_interaction.
func buttonMessage(intent, text string, buttons ...string) string {
	return fmt.Sprintf(`{"author":"them","type":"button","intent":%q,"data":{"text":%q,%s,"buttons":[%s],"external":false,"clear_after_interaction":true}}`,
		intent, text, flags, strings.Join(buttons, ","))
}

func openScenario(t *testing.T, dir string) *engine.Engine {
	t.Helper()
	e, err := engine.Open(dir, engine.WithEnvironment(devEnv(t)), engine.WithClock(func() time.Time { return widgetClock }))
	if err != nil {
		t.Fatalf("opening %s: %v", dir, err)
	}
	t.Cleanup(func() { e.Close() })
	return e
}

// TestWidgetGreeter runs the seed walkthrough as the widget does it: the
// chat opening with WELCOME and the user the host page gives, then OK. No
// attribute is set through the admin API: first and last name come from
// content.user and reach the webhook's inputs.
func TestWidgetGreeter(t *testing.T) {
	m, mockURL := startMock(t, "../mocks/greeter.cue")
	e := openGreeter(t, mockURL, engine.WithClock(func() time.Time { return widgetClock }))
	_, base := startServer(t, e, server.Options{Location: time.UTC})

	// WebChat.vue sendChatOpenMessage: {type, callback_id: openIntent, data: {value: parentUrl}}.
	r := post(t, base, widget("john@example.com", widgetUser, `"type":"chat_open","callback_id":"WELCOME"`, `"value":"/shop"`))
	expect(t, "chat opening", r, buttonMessage("welcome_response", "Hi! Press OK.", callbackButton("OK", "ok")))

	// onButtonClick: {type: button_response, author: me, callback_id, data: {text, value}}; the value is null.
	r = post(t, base, widget("john@example.com", widgetUser, `"type":"button_response","author":"me","callback_id":"ok"`, `"text":"OK","value":null`))
	expect(t, "OK", r, textMessage("greeting", "Hello John Smith!"))

	reqs := m.Requests()
	if len(reqs) != 1 || !strings.Contains(string(reqs[0].Body), `"first_name":"John"`) || !strings.Contains(string(reqs[0].Body), `"last_name":"Smith"`) {
		t.Fatalf("the webhook was sent %+v", reqs)
	}
	var c contexts
	do(t, "GET", base+"/api/users/john@example.com/context", "", "", "").ok(t, &c)
	for k, want := range map[string]any{"email": "john@example.com", "external_id": "crm-42", "plan": "gold",
		"full_name": "John Smith", "action_status": true, "action_success": true} {
		if c.User[k] != want {
			t.Errorf("user.%s = %v, want %v (context %v)", k, c.User[k], want, c.User)
		}
	}
	if _, ok := c.User["name"]; ok {
		t.Errorf("user.name is set, but OpenDialog's createUser does not read it: %v", c.User)
	}

	// Attributes in custom reach the webhook too (UserService: every key of custom).
	custom := `{"custom":{"first_name":"Ada","last_name":"Lovelace"}}`
	post(t, base, widget("ada", custom, `"type":"chat_open","callback_id":"WELCOME"`, `"value":"/"`))
	r = post(t, base, widget("ada", custom, `"type":"button_response","author":"me","callback_id":"ok"`, `"text":"OK","value":null`))
	expect(t, "OK from custom", r, textMessage("greeting", "Hello Ada Lovelace!"))

	// A value that does not fit its declared type is a clear 422 and nothing is written.
	bad := `{"first_name":42,"last_name":"Smith"}`
	r = post(t, base, widget("bad", bad, `"type":"chat_open","callback_id":"WELCOME"`, `"value":"/"`))
	r.jsonError(t, http.StatusUnprocessableEntity, server.CodeUnprocessable)
	if !strings.Contains(string(r.body), "user.first_name") {
		t.Errorf("the error does not say which attribute: %s", r.body)
	}
	if r := do(t, "GET", base+"/api/users/bad/context", "", "", ""); r.status != http.StatusNotFound {
		t.Fatalf("after a refused turn the user exists: %d %s", r.status, r.body)
	}
}

// TestWidgetGreeterClientAttributesConfigurable: a scenario that accepts no
// client attribute ignores content.user.
func TestWidgetClientAttributesConfigurable(t *testing.T) {
	e, err := engine.OpenFS(fstest.MapFS{"main.cue": {Data: []byte(`
scenarios: s: {
	client_attributes: ["first_name"]
	conversations: c: {
		behaviors: ["starting"]
		scenes: m: {
			behaviors: ["starting"]
			turns: w: {
				behaviors: ["starting"]
				request: [{id: "intent.core.welcome"}]
				response: [{id: "hi", message: text: "Hi {{ user.first_name ?? \"?\" }} {{ user.last_name ?? \"?\" }}"}]
			}
		}
	}
}`)}}, engine.WithEnvironment(devEnv(t)), engine.WithClock(func() time.Time { return widgetClock }))
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	_, base := startServer(t, e, server.Options{Location: time.UTC})
	r := post(t, base, widget("u", widgetUser, `"type":"chat_open","callback_id":"WELCOME"`, `"value":"/"`))
	expect(t, "chat opening", r, textMessage("hi", "Hi John ?"))
}

// TestWidgetBooking walks the booking example through every request type.
func TestWidgetBooking(t *testing.T) {
	e := openScenario(t, "../scenarios/booking")
	_, base := startServer(t, e, server.Options{Location: time.UTC})
	const u = "b1"
	user := `{}`
	text := func(s string) string {
		// UserInput.vue _submitText: {author: me, type: text, data: {text}}.
		return widget(u, user, `"author":"me","type":"text"`, fmt.Sprintf(`"text":%q`, s))
	}
	yesNo := []string{callbackButton("Yes", "confirm"), callbackButton("No", "cancel")}

	r := post(t, base, widget(u, user, `"type":"chat_open","callback_id":"WELCOME"`, `"value":"/"`))
	expect(t, "chat opening", r, textMessage("booking_welcome", `Welcome! I can book you a table: try "book a table for 4 at 7pm".`))

	// A no-match inside the conversation: the scene's SceneNoMatch.
	r = post(t, base, text("what is on the menu"))
	expect(t, "no match in the conversation", r, textMessage("booking_help", `I can book a table: try "book a table for 4 at 7pm".`))

	r = post(t, base, text("book a table for 4 at 7pm"))
	expect(t, "booking", r, buttonMessage("confirm_booking", "A table for 4 at 7pm. Shall I book it?", yesNo...))

	// Neither yes nor no: the TurnNoMatch of an open turn of the scene.
	r = post(t, base, text("maybe"))
	expect(t, "TurnNoMatch in an open turn", r, buttonMessage("confirm_unclear", "Please answer Yes or No.", yesNo...))

	// A button with a value: name.value sets the attribute name (CallbackValueParser).
	r = post(t, base, widget(u, user, `"type":"button_response","author":"me","callback_id":"confirm"`, `"text":"Yes","value":"name.Ann"`))
	expect(t, "Yes with a value", r, textMessage("booked", "Booked: a table for 4 at 7pm. See you then!"))
	var tr server.TracesResponse
	do(t, "GET", base+"/api/users/"+u+"/traces", "", "", "").ok(t, &tr)
	last := tr.Traces[len(tr.Traces)-1]
	if a := last.Selections[0].Candidates[1].Attributes; last.Selections[0].Chosen != "confirm" || a["name"] != "Ann" {
		t.Fatalf("the button value name.Ann did not become the attribute name: %+v", last.Selections)
	}
	var c contexts

	// A no-match outside a conversation: the scenario's NoMatch.
	r = post(t, base, text("sing me a song"))
	expect(t, "no match out of a conversation", r, textMessage("fallback_reply", `Sorry, I can only book tables. Try "book a table for 2 at 8pm".`))

	// The form.
	r = post(t, base, text("use a form"))
	form := `{"author":"them","type":"form","intent":"booking_form","data":{"text":"Fill in your booking.",` + flags +
		`,"callback_id":"form_booking","elements":[` +
		`{"name":"party_size","display":"People","required":true,"min":1,"max":12,"element_type":"number"},` +
		`{"name":"when","display":"Time","required":true,"min":null,"max":null,"element_type":"select","options":{"7pm":"7 pm","8pm":"8 pm"}},` +
		`{"name":"name","display":"Name","required":false,"min":null,"max":null,"element_type":"text"}],` +
		`"auto_submit":false,"submit_text":"Book","cancel_text":"Never mind","cancel_callback":"form_cancelled"}}`
	expect(t, "form", r, form)
	// onFormButtonClick: each field's value, and text "Display: value" lines.
	r = post(t, base, widget(u, user, `"type":"form_response","author":"me","callback_id":"form_booking"`,
		`"party_size":"6","when":"8pm","name":"Bo","text":"People: 6\nTime: 8 pm\nName: Bo"`))
	expect(t, "form submitted", r, buttonMessage("confirm_booking_after_form", "A table for 6 at 8pm. Shall I book it?", yesNo...))
	do(t, "GET", base+"/api/users/"+u+"/context", "", "", "").ok(t, &c)
	if c.Session["party_size"] != "6" || c.Session["time"] != "8pm" || c.Session["name"] != "Bo" {
		t.Fatalf("the form's fields are not attributes: %v", c.Session)
	}

	// The restart button: onRestartButtonClick sends a trigger with restartButtonCallback (WELCOME).
	r = post(t, base, widget(u, user, `"type":"trigger","author":"me","callback_id":"WELCOME","escalating":true`, ``))
	expect(t, "restart trigger", r, textMessage("booking_welcome", `Welcome! I can book you a table: try "book a table for 4 at 7pm".`))

	// A link click: 200 with an empty body, and the conversation does not move.
	before := traceCount(t, base, u)
	r = post(t, base, widget(u, user, `"type":"url_click","author":"b1"`, `"url":"https://example.com/menu"`))
	if r.status != http.StatusOK || len(r.body) != 0 {
		t.Fatalf("url_click: %d %q", r.status, r.body)
	}
	if after := traceCount(t, base, u); after != before {
		t.Fatalf("url_click made a turn: %d traces, then %d", before, after)
	}

	// The long text message and its answer (onMessageWasSent: longtext_response with the message's callback_id).
	r = post(t, base, text("special request"))
	long := `{"author":"them","type":"long_text","intent":"ask_special_request","data":{"text":"Tell us what you need.",` + flags +
		`,"character_limit":500,"submit_text":"Send","callback_id":"special_request_given","initial_text":null,"placeholder":"Your request","confirmation_text":null}}`
	expect(t, "long text", r, long)
	r = post(t, base, widget(u, user, `"author":"me","type":"longtext_response","callback_id":"special_request_given"`, `"text":"A window seat"`))
	expect(t, "long text answer", r, textMessage("special_request_noted", "Noted: A window seat. Now, for how many people?"))

	// The form's cancel button: onFormCancelClick, a form_response with the cancel callback.
	post(t, base, text("use a form"))
	r = post(t, base, widget(u, user, `"type":"form_response","author":"me","callback_id":"form_cancelled"`, `"text":"Never mind"`))
	expect(t, "form cancelled", r, textMessage("form_not_booked", "No problem, nothing is booked."))

	// End chat (UserInput.vue closeChat): intent.core.EndChat; the answer is the empty message.
	post(t, base, text("book a table"))
	r = post(t, base, widget(u, user, `"type":"button_response","author":"me","callback_id":"intent.core.EndChat","escalating":true`, `"text":"End chat","value":""`))
	expect(t, "end chat", r, `[false]`)
	do(t, "GET", base+"/api/users/"+u+"/context", "", "", "").ok(t, &c)
	if c.Conversation["current_conversation"] != "" {
		t.Fatalf("after end chat the user is still in %v", c.Conversation)
	}
}

// traceCount is how many turns the server traced for user.
func traceCount(t *testing.T, base, user string) int {
	t.Helper()
	r := do(t, "GET", base+"/api/users/"+user+"/traces", "", "", "")
	if r.status == http.StatusNotFound {
		return 0
	}
	var tr server.TracesResponse
	r.ok(t, &tr)
	return len(tr.Traces)
}

// TestWidgetOrderStatus: chained messages (a virtual intent) come as an
// array whose first message is internal and hides its time.
func TestWidgetOrderStatus(t *testing.T) {
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/orders/AB123456" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"status":"shipped","eta":"tomorrow","carrier":"DHL"}`)
	}))
	defer api.Close()
	t.Setenv("ORDERS_API_URL", api.URL)
	t.Setenv("ORDERS_API_TOKEN", "token-for-the-test")
	e := openScenario(t, "../scenarios/order_status")
	_, base := startServer(t, e, server.Options{Location: time.UTC})
	const u = "o1"
	post(t, base, widget(u, `{}`, `"type":"chat_open","callback_id":"WELCOME"`, `"value":"/"`))
	post(t, base, widget(u, `{}`, `"author":"me","type":"text"`, `"text":"where is my order"`))
	r := post(t, base, widget(u, `{}`, `"author":"me","type":"text"`, `"text":"AB-123456"`))
	want := `[{"author":"them","type":"text","intent":"checking_given_order","data":{"text":"Thanks, looking up AB-123456.",` + internalFlags + `}},` +
		`{"author":"them","type":"text","intent":"order_shipped","data":{"text":"Good news: order AB-123456 has shipped with DHL and should arrive tomorrow.",` + flags + `}}]`
	expect(t, "chained messages", r, want)
}

// TestWidgetMessageTypes checks the wire shape of every message type
// against core 1.x src/ResponseEngine/Message/Webchat/*.php getData.
func TestWidgetMessageTypes(t *testing.T) {
	e, err := engine.OpenFS(fstest.MapFS{"main.cue": {Data: []byte(`
scenarios: s: conversations: c: {
	behaviors: ["starting"]
	scenes: m: {
		behaviors: ["starting"]
		turns: w: {
			behaviors: ["starting", "open"]
			request: [{id: "intent.core.welcome"}]
			response: [{id: "pic", message: {type: "image", image: {src: "https://x/a.png", link: "https://x", link_new_tab: true}}, virtual: "more"}]
		}
		turns: more: {
			valid_origins: ["pic"]
			request: [{id: "more"}]
			response: [{id: "card", message: {
				type: "rich", title: "T & C", subtitle: "S", text: "a < b", image: {src: "https://x/b.png"}
				buttons: [{text: "Go", link: "https://x/go", link_new_tab: true}, {text: "Pick", callback: "pick", value: "size.L"}, {text: "Transcript", download: true}, {text: "Hidden", callback: "pick", display: false}]
			}, virtual: "list"}]
		}
		turns: list: {
			valid_origins: ["card"]
			request: [{id: "list"}]
			response: [{id: "items", message: {type: "list", title: "Choose", view_type: "vertical", items: [{text: "One"}, {text: "Two", buttons: [{text: "B", callback: "pick"}]}]}, virtual: "empty"}]
		}
		turns: empty: {
			valid_origins: ["items"]
			request: [{id: "empty"}]
			response: [{id: "nothing", message: type: "empty"}]
		}
		turns: pick: {
			behaviors: ["open"]
			request: [{id: "pick"}]
			response: [{id: "picked", message: {text: "Size {{ session.size }}", disable_text: true, hide_avatar: true, external: true, clear_after_interaction: false, buttons: [{text: "Again", callback: "pick"}]}}]
		}
	}
}`)}}, engine.WithEnvironment(devEnv(t)), engine.WithClock(func() time.Time { return widgetClock }))
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	_, base := startServer(t, e, server.Options{Location: time.UTC})
	r := post(t, base, widget("m", `{}`, `"type":"chat_open","callback_id":"WELCOME"`, `"value":"/"`))
	image := `{"author":"them","type":"image","intent":"pic","data":{"img_src":"https://x/a.png","img_link":"https://x","link_new_tab":true,"disable_text":false,"internal":true,"hidetime":true,"time":"07:45 AM","date":"Tue 1 Dec"}}`
	rich := `{"author":"them","type":"rich","intent":"card","data":{"text":"a &lt; b",` + internalFlags +
		`,"title":"T & C","subtitle":"S","callback":null,"callback_value":null,"link":null,"buttons":[` +
		`{"text":"Go","display":true,"type":"","link":"https://x/go","link_new_tab":true},` +
		`{"text":"Pick","display":true,"type":"","callback_id":"pick","value":"size.L"},` +
		`{"text":"Transcript","display":true,"type":"","download":true},` +
		`{"text":"Hidden","display":false,"type":"","callback_id":"pick","value":null}],` +
		`"image":{"src":"https://x/b.png","url":null,"link_new_tab":false}}}`
	list := `{"author":"them","type":"list","intent":"items","data":{"title":"Choose","items":[` +
		`{"text":"One",` + flags + `,"message_type":"text"},` +
		`{"text":"Two",` + flags + `,"buttons":[` + callbackButton("B", "pick") + `],"external":false,"clear_after_interaction":true,"message_type":"button"}],` +
		`"view_type":"vertical","disable_text":false,"internal":true,"hidetime":true,"hideavatar":false,"time":"07:45 AM","date":"Tue 1 Dec"}}`
	expect(t, "image, rich, list and empty", r, "["+image+","+rich+","+list+",false]")

	r = post(t, base, widget("m", `{}`, `"type":"button_response","author":"me","callback_id":"pick"`, `"text":"Pick","value":"size.L"`))
	picked := `{"author":"them","type":"button","intent":"picked","data":{"text":"Size L","disable_text":true,"internal":false,"hidetime":false,"hideavatar":true,"time":"07:45 AM","date":"Tue 1 Dec","buttons":[` +
		callbackButton("Again", "pick") + `],"external":true,"clear_after_interaction":false}}`
	expect(t, "button with value and display options", r, picked)

	// A number as a button value is accepted, as PHP reads it.
	r = post(t, base, widget("m", `{}`, `"type":"button_response","author":"me","callback_id":"pick"`, `"text":"Pick","value":7`))
	if !strings.Contains(string(r.body), `"text":"Size L"`) {
		t.Fatalf("numeric value: %s", r.body)
	}
	// An object is not.
	r = post(t, base, widget("m", `{}`, `"type":"button_response","author":"me","callback_id":"pick"`, `"text":"Pick","value":{"a":1}`))
	r.jsonError(t, http.StatusBadRequest, server.CodeBadRequest)
}

// TestWebchatConfig: GET and POST /webchat-config as bootstrapFunctions.js
// getSettings calls it, CORS and the preflight of other requests.
func TestWebchatConfig(t *testing.T) {
	m, mockURL := startMock(t, "../mocks/greeter.cue")
	_ = m
	e := openGreeter(t, mockURL)
	const host = "http://127.0.0.1:9"
	_, base := startServer(t, e, server.Options{CORSOrigins: []string{host},
		WebchatSettings: map[string]any{"general": map[string]any{"teamName": "Parley"}, "colours": map[string]any{"headerBackground": "#000000"}}})

	get := func(method, query, origin string) (response, map[string]any) {
		t.Helper()
		req, _ := http.NewRequest(method, base+"/webchat-config?"+query, strings.NewReader(`{"custom_settings":{},"tags":{}}`))
		req.Header.Set("Content-Type", "text/plain;charset=UTF-8") // fetch() with a string body and no headers
		if origin != "" {
			req.Header.Set("Origin", origin)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var v map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&v)
		return response{status: resp.StatusCode, header: resp.Header}, v
	}
	r, cfg := get("POST", "url="+host+"/shop%3Fa%3D1&width=1200", host)
	if r.status != 200 || r.header.Get("Access-Control-Allow-Origin") != host {
		t.Fatalf("POST /webchat-config: %d %v", r.status, r.header)
	}
	general := cfg["general"].(map[string]any)
	if cfg["userType"] != "new" || cfg["openIntent"] != "WELCOME" || cfg["showMinimized"] != false ||
		general["teamName"] != "Parley" || general["chatbotName"] != "Bot" ||
		cfg["colours"].(map[string]any)["headerBackground"] != "#000000" || cfg["webchatHistory"].(map[string]any)["numberOfMessages"] != float64(10) {
		t.Fatalf("settings: %v", cfg)
	}
	if r, _ := get("GET", "width=wide", ""); r.status != http.StatusBadRequest {
		t.Fatalf("a width that is not a number: %d", r.status)
	}
	if r, _ := get("GET", "url=not-a-url", ""); r.status != http.StatusBadRequest {
		t.Fatalf("a url that is not one: %d", r.status)
	}
	if r, _ := get("GET", "", "http://127.0.0.1:8"); r.header.Get("Access-Control-Allow-Origin") != "" {
		t.Fatalf("an origin not configured got CORS: %v", r.header)
	}

	// Ongoing and returning users (WebchatSettings::getUserType).
	post(t, base, widget("u1", `{"first_name":"John","last_name":"Smith"}`, `"type":"chat_open","callback_id":"WELCOME"`, `"value":"/"`))
	if _, cfg := get("GET", "user_id=u1", ""); cfg["userType"] != "ongoing" || cfg["openIntent"] != nil {
		t.Fatalf("ongoing user: %v %v", cfg["userType"], cfg["openIntent"])
	}
	post(t, base, widget("u1", `{"first_name":"John","last_name":"Smith"}`, `"type":"button_response","author":"me","callback_id":"ok"`, `"text":"OK","value":null`))
	if _, cfg := get("GET", "user_id=u1", ""); cfg["userType"] != "returning" || cfg["openIntent"] != "WELCOME" {
		t.Fatalf("returning user: %v %v", cfg["userType"], cfg["openIntent"])
	}

	// The preflight of the widget's JSON POST from another origin.
	req, _ := http.NewRequest("OPTIONS", base+"/incoming/webchat", nil)
	req.Header.Set("Origin", host)
	req.Header.Set("Access-Control-Request-Method", "POST")
	req.Header.Set("Access-Control-Request-Headers", "content-type,authorization")
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent || resp.Header.Get("Access-Control-Allow-Origin") != host ||
		!strings.Contains(resp.Header.Get("Access-Control-Allow-Headers"), "Authorization") ||
		!strings.Contains(resp.Header.Get("Access-Control-Allow-Methods"), "POST") {
		t.Fatalf("preflight: %d %v", resp.StatusCode, resp.Header)
	}
}

// TestWidgetHistory: GET /user/{id}/history as WebChat.vue getChatHistory
// asks for it (core WebchatInitController: newest first, limit, ignore),
// and the transcript of /history/file (webchat HistoryController::export).
func TestWidgetHistory(t *testing.T) {
	_, mockURL := startMock(t, "../mocks/greeter.cue")
	e := openGreeter(t, mockURL, engine.WithClock(func() time.Time { return widgetClock }))
	_, base := startServer(t, e, server.Options{Location: time.UTC, APIKeys: []string{apiKey},
		Now: func() time.Time { return widgetClock }})
	user := `{"first_name":"John","last_name":"Smith"}`
	for _, body := range []string{
		widget("h1", user, `"type":"chat_open","callback_id":"WELCOME"`, `"value":"/"`),
		widget("h1", user, `"type":"button_response","author":"me","callback_id":"ok"`, `"text":"OK","value":null`),
	} {
		do(t, "POST", base+"/incoming/webchat", apiKey, "application/json;charset=utf-8", body).ok(t, nil)
	}
	if r := do(t, "GET", base+"/user/h1/history", "", "", ""); r.status != http.StatusUnauthorized {
		t.Fatalf("history without the webchat key: %d", r.status)
	}
	var h []server.HistoryMessage
	do(t, "GET", base+"/user/h1/history?limit=10&ignore=chat_open,trigger,cta,text_external", apiKey, "", "").ok(t, &h)
	got := []string{}
	for _, m := range h {
		got = append(got, m.Author+":"+m.Type+":"+m.Message)
	}
	want := []string{"them:text:Hello John Smith!", "h1:button_response:OK", "them:button:Hi! Press OK."}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("history %v, want %v", got, want)
	}
	if h[2].Data["buttons"] == nil || h[2].Data["date"] != "Tue 1 Dec" || h[1].Data["text"] != "OK" || h[0].Data["internal"] != false {
		t.Fatalf("history data: %+v", h)
	}
	do(t, "GET", base+"/user/h1/history?limit=1", apiKey, "", "").ok(t, &h)
	if len(h) != 1 || h[0].Message != "Hello John Smith!" {
		t.Fatalf("limit=1: %+v", h)
	}
	do(t, "GET", base+"/user/nobody/history", apiKey, "", "").ok(t, &h)
	if len(h) != 0 {
		t.Fatalf("unknown user: %+v", h)
	}
	r := do(t, "GET", base+"/user/h1/history?limit=lots", apiKey, "", "")
	r.jsonError(t, http.StatusBadRequest, server.CodeBadRequest)

	r = do(t, "GET", base+"/user/h1/history/file", apiKey, "", "")
	wantFile := "2026-12-01 07:45 - Bot: Hi! Press OK.\n2026-12-01 07:45 - You: OK\n2026-12-01 07:45 - Bot: Hello John Smith!\n"
	if r.status != 200 || string(r.body) != wantFile ||
		r.header.Get("Content-Disposition") != `attachment; filename="Chat Transcript 2026-12-01 07:45:00.txt"` ||
		!strings.HasPrefix(r.header.Get("Content-Type"), "text/plain") {
		t.Fatalf("transcript: %d %v\n%s", r.status, r.header, r.body)
	}
	do(t, "GET", base+"/user/nobody/history/file", apiKey, "", "").jsonError(t, http.StatusNotFound, server.CodeNotFound)
}

// TestWebchatDir serves a fake built widget laid out as the webchat
// package publishes it (PackageServiceProvider: public/ to public/vendor/webchat).
func TestWebchatDir(t *testing.T) {
	dir := t.TempDir()
	for name, body := range map[string]string{
		"vendor/webchat/js/app.js":            "console.log('widget')",
		"vendor/webchat/js/opendialog-bot.js": "console.log('embed')",
		"vendor/webchat/css/main.css":         "body{}",
		"vendor/webchat/images/close-btn.svg": "<svg/>",
		"vendor/webchat/fonts/fonts.css":      "",
	} {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	_, mockURL := startMock(t, "../mocks/greeter.cue")
	e := openGreeter(t, mockURL)
	_, base := startServer(t, e, server.Options{WebchatDir: dir})
	r := do(t, "GET", base+"/web-chat-iframe", "", "", "")
	if r.status != 200 || !strings.Contains(string(r.body), `<script src="/vendor/webchat/js/app.js`) || !strings.Contains(string(r.body), "<opendialog-chat>") {
		t.Fatalf("iframe page: %d %s", r.status, r.body)
	}
	if r := do(t, "GET", base+"/vendor/webchat/js/app.js", "", "", ""); r.status != 200 || string(r.body) != "console.log('widget')" {
		t.Fatalf("app.js: %d %s", r.status, r.body)
	}
	if r := do(t, "GET", base+"/vendor/webchat/js/", "", "", ""); r.status != http.StatusNotFound {
		t.Fatalf("a directory is listed: %d %s", r.status, r.body)
	}
	if r := do(t, "GET", base+"/vendor/webchat/../../etc/passwd", "", "", ""); r.status == 200 {
		t.Fatalf("escaped the directory: %s", r.body)
	}
	// The published directory itself works too, and its own page wins.
	pub := filepath.Join(dir, "vendor", "webchat")
	if err := os.WriteFile(filepath.Join(pub, "web-chat-iframe.html"), []byte("<p>own page</p>"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, base2 := startServer(t, e, server.Options{WebchatDir: pub})
	if r := do(t, "GET", base2+"/web-chat-iframe", "", "", ""); string(r.body) != "<p>own page</p>" {
		t.Fatalf("own iframe page: %s", r.body)
	}
	if _, err := server.New(e, server.Options{WebchatDir: t.TempDir()}); err == nil || !strings.Contains(err.Error(), "webchat-dir") {
		t.Fatalf("an empty directory: %v", err)
	}
}
