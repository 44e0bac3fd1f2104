package engine_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/parleyhq/parley/engine"
	"github.com/parleyhq/parley/plugins"
	"github.com/parleyhq/parley/reload"
)

const watchExample = `scenarios: hello: conversations: c: {
	behaviors: ["starting"]
	scenes: s: {
		behaviors: ["starting"]
		turns: t: {
			behaviors: ["starting"]
			request: [{id: "intent.core.welcome"}]
			response: [{id: "hi", message: text: %q}]
		}
	}
}
`

// An engine opened WithWatch reloads its directory on every change: a valid
// edit goes live, an invalid one is rejected with its diagnostics while the
// last good version keeps answering.
func ExampleWithWatch() {
	dir, err := os.MkdirTemp("", "scenarios")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	file := filepath.Join(dir, "hello.cue")
	write := func(src string) {
		if err := os.WriteFile(file, []byte(src), 0o644); err != nil {
			log.Fatal(err)
		}
	}
	write(fmt.Sprintf(watchExample, "Hello!"))

	e, err := engine.Open(dir, engine.WithWatch(engine.WatchOptions{}))
	if err != nil {
		log.Fatal(err)
	}
	defer e.Close()
	events, cancel := e.Watcher().Subscribe()
	defer cancel()
	next := func() reload.Event {
		for ev := range events {
			if ev.Outcome != reload.Unchanged {
				return ev
			}
		}
		panic("watcher closed")
	}
	greet := func() {
		r, err := e.Handle(context.Background(), "ada", plugins.Utterance{Type: plugins.ChatOpen})
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println("bot:", r.Messages[0].Text)
	}
	greet()

	write(fmt.Sprintf(watchExample, "Hello again!"))
	ev := next()
	fmt.Println(ev.Outcome, ev.Modified)
	greet()

	write(`scenarios: hello: colour: "blue"`)
	ev = next()
	fmt.Println(ev.Outcome, engine.Diagnostics(ev.Err)[0].Code)
	greet()
	// Output:
	// bot: Hello!
	// applied [hello.cue]
	// bot: Hello again!
	// rejected schema.field_not_allowed
	// bot: Hello again!
}
