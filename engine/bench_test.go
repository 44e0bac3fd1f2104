package engine_test

import (
	"context"
	"strconv"
	"sync/atomic"
	"testing"

	"github.com/parleyhq/parley/plugins"
)

// benchScenario answers "hello" with a static message, in an open turn, so
// every utterance is one full turn: interpretation, selection, rendering, save.
const benchScenario = `
scenarios: bench: {
	conversations: main: {
		behaviors: ["starting"]
		scenes: main: {
			behaviors: ["starting"]
			turns: hello: {
				behaviors: ["starting", "open"]
				request: [{id: "hello", utterances: ["hello", "hi there"]}]
				response: [{id: "hello_back", message: text: "Hello {{ user.name }}!"}]
			}
			turns: bye: {
				behaviors: ["open"]
				request: [{id: "bye", utterances: ["bye"]}]
				response: [{id: "bye_back", message: text: "Bye."}]
			}
		}
	}
}
`

// BenchmarkTurn measures one turn in-process with the memory store and no actions.
// Target: under 10µs and a few dozen allocations per turn.
func BenchmarkTurn(b *testing.B) {
	e := open(b, benchScenario, nil)
	ctx := context.Background()
	if err := e.SetAttribute(ctx, "bench", "name", "Ada"); err != nil {
		b.Fatal(err)
	}
	u := plugins.Utterance{Type: plugins.Text, Text: "Hello"}
	b.ReportAllocs()
	for b.Loop() {
		r, err := e.Handle(ctx, "bench", u)
		if err != nil || len(r.Messages) != 1 {
			b.Fatal(err, r)
		}
	}
}

// BenchmarkTurnParallel measures turns of many users at once.
func BenchmarkTurnParallel(b *testing.B) {
	e := open(b, benchScenario, nil)
	ctx := context.Background()
	u := plugins.Utterance{Type: plugins.Text, Text: "Hello"}
	var next atomic.Int64
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		user := "user-" + strconv.FormatInt(next.Add(1), 10)
		for pb.Next() {
			if _, err := e.Handle(ctx, user, u); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkGreeterConversation measures the greeter conversation (SPEC §2):
// two turns per operation, chat_open then a button that runs a Go action,
// evaluates a condition and renders an interpolated message.
func BenchmarkGreeterConversation(b *testing.B) {
	e := open(b, greeter, map[string]plugins.ActionFunc{"full_name": fullName})
	ctx := context.Background()
	if err := e.SetAttribute(ctx, "bench", "first_name", "Ada"); err != nil {
		b.Fatal(err)
	}
	if err := e.SetAttribute(ctx, "bench", "last_name", "Lovelace"); err != nil {
		b.Fatal(err)
	}
	open, ok := plugins.Utterance{Type: plugins.ChatOpen}, plugins.Utterance{Type: plugins.ButtonResponse, CallbackID: "ok"}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := e.Handle(ctx, "bench", open); err != nil {
			b.Fatal(err)
		}
		r, err := e.Handle(ctx, "bench", ok)
		if err != nil || r.Messages[0].Text != "Hello Ada Lovelace!" {
			b.Fatal(err, r.Messages)
		}
	}
}
