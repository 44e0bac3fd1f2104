package file_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/parleyhq/parley/engine"
	"github.com/parleyhq/parley/plugins"
	_ "github.com/parleyhq/parley/plugins/interpreters"
	"github.com/parleyhq/parley/plugins/store"
	"github.com/parleyhq/parley/plugins/store/file"
)

const typedScenario = `scenarios: s: {
	attributes: {age: "int", born: "timestamp", height: "float", tags: "list"}
	conversations: c: {
		behaviors: ["starting"]
		scenes: main: {
			behaviors: ["starting"]
			turns: t: {
				behaviors: ["starting", "open"]
				request: [{id: "ask", utterances: ["ask"]}]
				response: [
					{id: "old", conditions: ["user.age > 40 && user.born.Year() == 1980 && user.height * 2 == 3.5 && len(user.tags) == 2"], message: text: "age {{ user.age }} born {{ user.born }} height {{ user.height }}"},
					{id: "other", message: text: "no match"},
				]
			}
		}
	}
}
`

// Typed attributes read back from the file store behave in expressions and
// templates as they did when they were set (ints, timestamps and floats
// after a JSON round trip through the file).
func TestEngineTypedAttributesAfterReopen(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "state.db")
	fsys := fstest.MapFS{"main.cue": {Data: []byte(typedScenario)}}
	run := func(set bool) string {
		s, err := file.Open(path, store.Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		e, err := engine.OpenFS(fsys, engine.WithStore(s))
		if err != nil {
			t.Fatal(err)
		}
		defer e.Close()
		if set {
			for k, v := range map[string]any{"age": 42, "born": time.Date(1980, 5, 1, 12, 0, 0, 0, time.UTC), "height": 1.75, "tags": []any{"a", "b"}} {
				if err := e.SetAttribute(ctx, "u", k, v); err != nil {
					t.Fatal(err)
				}
			}
		}
		r, err := e.Handle(ctx, "u", plugins.Utterance{Type: plugins.Text, Text: "ask"})
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, m := range r.Messages {
			out = append(out, m.Text)
		}
		return strings.Join(out, "|")
	}
	mem := func() string {
		e, err := engine.OpenFS(fsys)
		if err != nil {
			t.Fatal(err)
		}
		defer e.Close()
		for k, v := range map[string]any{"age": 42, "born": time.Date(1980, 5, 1, 12, 0, 0, 0, time.UTC), "height": 1.75, "tags": []any{"a", "b"}} {
			if err := e.SetAttribute(ctx, "u", k, v); err != nil {
				t.Fatal(err)
			}
		}
		r, err := e.Handle(ctx, "u", plugins.Utterance{Type: plugins.Text, Text: "ask"})
		if err != nil {
			t.Fatal(err)
		}
		return r.Messages[0].Text
	}()
	first := run(true)
	second := run(false)
	if first != mem || second != mem {
		t.Fatalf("memory store: %q; file store: %q, after reopening: %q", mem, first, second)
	}
}
