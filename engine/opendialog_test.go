package engine_test

import (
	"context"
	"errors"
	"testing"

	"github.com/parleyhq/parley/engine"
	"github.com/parleyhq/parley/plugins"
)

// odScenario exercises what OpenDialog's webchat relies on: callbacks,
// client attributes, an open turn's TurnNoMatch and rich messages.
const odScenario = `
scenarios: s: {
	attributes: {age: "int", first_name: "string"}
	callbacks: {START: "intent.core.welcome", BOOK: "book"}
	actions: lookup: go: "lookup"
	conversations: c: {
		behaviors: ["starting"]
		scenes: main: {
			behaviors: ["starting"]
			turns: welcome: {
				behaviors: ["starting"]
				request: [{id: "intent.core.welcome"}]
				response: [{id: "hello", message: {text: "Hello {{ user.first_name ?? \"you\" }}", buttons: [{text: "Book", callback: "BOOK"}]}}]
			}
			turns: book: {
				behaviors: ["open"]
				request: [{id: "book", actions: [{use: "lookup"}]}]
				response: [{id: "card", message: {type: "rich", title: "For {{ user.first_name }}", text: "ok", buttons: [{text: "Site", link: "https://example.com"}]}}]
			}
			turns: unclear: {
				behaviors: ["open"]
				request: [{id: "intent.core.TurnNoMatch"}]
				response: [{id: "what", message: {type: "list", items: [{text: "Try {{ \"Book\" }}"}, {type: "image", image: src: "https://example.com/i.png"}]}}]
			}
		}
	}
}
`

func odEngine(t *testing.T) *engine.Engine {
	return open(t, odScenario, map[string]plugins.ActionFunc{
		"lookup": func(context.Context, plugins.ActionRequest) plugins.ActionResult {
			return plugins.ActionResult{Success: true}
		},
	})
}

// TestCallbackMap: callbacks map a callback id to an intent for any
// utterance type (core InterpreterEngine config supported_callbacks; WELCOME
// is there by default); a trigger of the welcome mid-conversation starts afresh.
func TestCallbackMap(t *testing.T) {
	e := odEngine(t)
	play(t, e, "u", []step{
		{u: plugins.Utterance{Type: plugins.ChatOpen, CallbackID: "START"}, want: []string{"Hello you"}},
		{u: click("BOOK"), want: []string{"ok"}, check: func(t *testing.T, r *engine.Reply, c engine.Contexts) {
			if m := r.Messages[0]; m.Kind() != "rich" || m.Title != "For " || m.Buttons[0].Link != "https://example.com" {
				t.Fatalf("rich message: %+v", m)
			}
			if c.User["action_status"] != true || c.User["action_success"] != true {
				t.Fatalf("after an action: %v", c.User)
			}
		}},
		{u: plugins.Utterance{Type: plugins.Trigger, CallbackID: "WELCOME"}, want: []string{"Hello you"}},
	})
}

// TestTurnNoMatchInOpenTurn: intent.core.TurnNoMatch is looked up in the
// scene's open turns (core ConversationEngine/Reasoners/IncomingIntentMatcher.php
// matchNextIntentAsRequestIntent after prepareContextForOngoingNoMatches).
func TestTurnNoMatchInOpenTurn(t *testing.T) {
	e := odEngine(t)
	play(t, e, "u", []step{
		{u: chatOpen},
		{u: text("what?"), check: func(t *testing.T, r *engine.Reply, _ engine.Contexts) {
			if len(r.Messages) != 1 || r.Messages[0].Intent != "what" || r.Messages[0].Kind() != "list" ||
				r.Messages[0].Items[0].Text != "Try Book" || r.Messages[0].Items[1].Image.Src != "https://example.com/i.png" {
				t.Fatalf("no match: %+v\n%s", r.Messages, dump(r.Trace))
			}
		}},
	})
}

// TestClientAttributes: content.user goes into the user context, typed,
// before the turn (core 0.7.7 ContextEngine/Contexts/User/UserService.php).
func TestClientAttributes(t *testing.T) {
	e := odEngine(t)
	ctx := context.Background()
	r, err := e.Handle(ctx, "u", plugins.Utterance{Type: plugins.ChatOpen, User: map[string]any{
		"first_name": "Ann", "age": "42", "email": "ann@example.com", "action_status": true}})
	if err != nil {
		t.Fatal(err)
	}
	if texts(r)[0] != "Hello Ann" {
		t.Fatalf("greeting: %q", texts(r))
	}
	c, _ := e.Context(ctx, "u")
	if c.User["age"] != 42 || c.User["email"] != "ann@example.com" {
		t.Fatalf("user context: %v", c.User)
	}
	if _, ok := c.User["action_status"]; ok {
		t.Fatalf("a client set action_status: %v", c.User)
	}
	_, err = e.Handle(ctx, "v", plugins.Utterance{Type: plugins.ChatOpen, User: map[string]any{"first_name": "Bo", "age": "old"}})
	if !errors.Is(err, engine.ErrInvalidAttribute) {
		t.Fatalf("a bad age: %v", err)
	}
	if c, _ := e.Context(ctx, "v"); len(c.User) != 0 {
		t.Fatalf("a refused turn wrote %v", c.User)
	}
	_, err = e.Handle(ctx, "v", plugins.Utterance{Type: plugins.ChatOpen, User: map[string]any{"not a name": "x"}})
	if !errors.Is(err, engine.ErrInvalidAttribute) {
		t.Fatalf("a bad name: %v", err)
	}
}
