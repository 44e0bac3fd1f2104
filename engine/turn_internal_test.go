package engine

import (
	"encoding/json"
	"maps"
	"testing"

	"github.com/parleyhq/parley/dsl"
	"github.com/parleyhq/parley/plugins/store"
)

// refreshConversation, reusing a buffer from turn to turn, always leaves what conversationMap makes.
func TestRefreshConversationMatchesConversationMap(t *testing.T) {
	buf := map[string]any{}
	for _, st := range []store.State{
		{},
		{Scenario: "greeter", Conversation: "main", Scene: "s", Turn: "t1", Intent: "hello"},
		{Scenario: "greeter", Conversation: "main", Scene: "s", Turn: "t2", Intent: "hello"},
		{Scenario: "other", Conversation: "", Scene: "", Turn: "", Intent: ""},
		{Scenario: "greeter", Conversation: "main", Scene: "s", Turn: "t2", Intent: "bye"},
	} {
		refreshConversation(st, buf)
		if want := conversationMap(st, nil); !maps.Equal(buf, want) {
			t.Fatalf("refreshed %v, want %v", buf, want)
		}
	}
}

// appendMessagesJSON writes what encoding/json writes, for every kind of message.
func TestAppendMessagesJSON(t *testing.T) {
	one := 1
	for _, msgs := range [][]Message{
		nil,
		{{Intent: "a", Text: "x <\"y\">"}},
		{{Intent: "b", Text: "", Buttons: []Button{{Text: "OK", Callback: "ok", Value: "v"}, {Text: "L", Link: "https://x", LinkNewTab: true, Hidden: true, Type: "inline"}, {Text: "D", Download: true}}},
			{Intent: "c", Type: "rich", Title: "t", Subtitle: "s", Callback: "c", CallbackValue: "v", Link: "l", External: true, KeepButtons: true, DisableText: true, HideAvatar: true,
				Image: &dsl.Image{Src: "s", Link: "l"}, Items: []Message{{Text: "i"}}, ViewType: "list",
				Form:     &dsl.Form{Callback: "f", Fields: []dsl.FormField{{Name: "n", Min: &one, Options: []dsl.Option{{Value: "a", Label: "A"}}}}},
				LongText: &dsl.LongText{CharacterLimit: 3}}},
	} {
		if msgs == nil {
			msgs = []Message{}
		}
		want, err := json.Marshal(msgs)
		if err != nil {
			t.Fatal(err)
		}
		got, err := appendMessagesJSON(nil, msgs)
		if err != nil || string(got) != string(want) {
			t.Errorf("got  %s (%v)\nwant %s", got, err, want)
		}
	}
}
