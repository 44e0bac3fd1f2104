package interpreters_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/parleyhq/parley/plugins"
	"github.com/parleyhq/parley/plugins/interpreters"
)

// TestParseCallbackValue follows core 1.x Tests/Unit/Attribute/CallbackValueParserTest.php
// and src/AttributeEngine/CallbackValueParser.php.
func TestParseCallbackValue(t *testing.T) {
	for _, tc := range []struct{ in, name, value string }{
		{"value", "callback_value", "value"},
		{"rating.5", "rating", "5"},
		{`url.example\.com`, "url", "example.com"},
		{`a\.b`, "callback_value", "a.b"},
		{"a.b.c", "callback_value", "a.b.c"},
		{"", "callback_value", ""},
	} {
		name, value := interpreters.ParseCallbackValue(tc.in)
		if name != tc.name || value != tc.value {
			t.Errorf("ParseCallbackValue(%q) = %q, %q; want %q, %q", tc.in, name, value, tc.name, tc.value)
		}
	}
}

// TestCallbackAttributes: as CallbackInterpreter::setValue and setFormValues,
// a button value and a form's fields are interpreted attributes; a chat
// opening's value (the page's path) is not.
func TestCallbackAttributes(t *testing.T) {
	cands := []*plugins.Hints{{IntentID: "ok"}}
	for _, tc := range []struct {
		u    plugins.Utterance
		want string
	}{
		{plugins.Utterance{Type: plugins.ButtonResponse, CallbackID: "ok", Value: "size.L"}, "[{0 1 map[size:L]}]"},
		{plugins.Utterance{Type: plugins.ButtonResponse, CallbackID: "ok", Value: "L"}, "[{0 1 map[callback_value:L]}]"},
		{plugins.Utterance{Type: plugins.FormResponse, CallbackID: "ok", Data: map[string]any{"name": "Ann", "age": "7"}}, "[{0 1 map[age:7 name:Ann]}]"},
		{plugins.Utterance{Type: plugins.ChatOpen, CallbackID: "ok", Value: "/shop.html"}, "[{0 1 map[]}]"},
	} {
		if got := fmt.Sprint(interpreters.Callback{}.Interpret(context.Background(), tc.u, cands)); got != tc.want {
			t.Errorf("%+v: got %s, want %s", tc.u, got, tc.want)
		}
	}
}
