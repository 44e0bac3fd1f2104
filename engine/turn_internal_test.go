package engine

import (
	"maps"
	"testing"

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
