package dsl

import (
	"strings"
	"testing"
	"testing/fstest"
)

// scenarioWith wraps one app intent's message in a minimal scenario.
func scenarioWith(extra, message string) string {
	return `scenarios: s: {
	` + extra + `
	conversations: c: {
		behaviors: ["starting"]
		scenes: m: {
			behaviors: ["starting"]
			turns: t: {
				behaviors: ["starting"]
				request: [{id: "intent.core.welcome"}]
				response: [{id: "hi", message: ` + message + `}]
			}
			turns: u: {
				behaviors: ["open"]
				request: [{id: "go"}]
			}
		}
	}
}`
}

func TestLoadMessageTypes(t *testing.T) {
	cfg := mustLoad(t, fstest.MapFS{"a.cue": file(scenarioWith(`callbacks: {GO: "go"}`, `{
		type: "form", text: "Fill in"
		form: {callback: "go", cancel_callback: "GO", fields: [{name: "n", type: "select", required: true, min: 1, options: [{value: "a", label: "A"}]}]}
	}`))})
	s := cfg.Scenario("s")
	if s.Callbacks["GO"] != "go" || s.Callbacks["WELCOME"] != IntentWelcome || s.Callbacks["intent.core.EndChat"] != IntentEndChat {
		t.Fatalf("callbacks: %v", s.Callbacks)
	}
	if s.ClientAttributes != nil || !s.AcceptsClientAttribute("first_name") {
		t.Fatalf("client attributes: %v", s.ClientAttributes)
	}
	m := s.Intents("hi")[0].Message
	f := m.Form
	if m.Type != MessageForm || f == nil || f.Callback != "go" || len(f.Fields) != 1 || !f.Fields[0].Required ||
		*f.Fields[0].Min != 1 || f.Fields[0].Max != nil || f.Fields[0].Options[0] != (Option{"a", "A"}) {
		t.Fatalf("form: %+v %+v", m, f)
	}
	cfg = mustLoad(t, fstest.MapFS{"a.cue": file(scenarioWith(`client_attributes: []`, `{text: "x", buttons: [{text: "b", callback: "go"}]}`))})
	if s := cfg.Scenario("s"); s.AcceptsClientAttribute("first_name") || s.Intents("hi")[0].Message.Type != "" {
		t.Fatalf("client_attributes: [] accepts %v; type %q", s.ClientAttributes, s.Intents("hi")[0].Message.Type)
	}
}

func TestLoadMessageShapeErrors(t *testing.T) {
	for _, tc := range []struct{ message, want string }{
		{`{type: "form", text: "x"}`, "a form message needs form"},
		{`{type: "image"}`, "an image message needs image"},
		{`{type: "list"}`, "a list message needs items"},
		{`{text: "x", long_text: {}}`, "long_text is only allowed"},
		{`{text: "x", buttons: [{text: "b", callback: "go", link: "https://x"}]}`, "a callback or a link, not both"},
		{`{type: "form", form: {callback: "nope", fields: [{name: "n", type: "text"}]}}`, "nope"},
		{`{type: "form", form: {callback: "go", fields: []}}`, "fields"},
		{`{type: "carousel"}`, "type"},
	} {
		_, err := Load(fstest.MapFS{"a.cue": file(scenarioWith("", tc.message))}, Options{Env: testEnv()})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want an error with %q", tc.message, err, tc.want)
		}
	}
}
