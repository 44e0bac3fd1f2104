package reload_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync/atomic"

	"github.com/parleyhq/parley/reload"
)

// A Watcher applies each valid edit and rejects an invalid one while the
// last good version keeps serving.
func Example() {
	dir, err := os.MkdirTemp("", "scenarios")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	file := filepath.Join(dir, "greeter.cue")
	if err := os.WriteFile(file, []byte(`greeting: "Hello"`), 0o644); err != nil {
		panic(err)
	}

	// The live configuration: what turns read, swapped atomically.
	var live atomic.Pointer[string]
	load := func() (*string, error) {
		data, err := os.ReadFile(file)
		if err != nil {
			return nil, err
		}
		if !bytes.HasPrefix(data, []byte("greeting: ")) {
			return nil, errors.New("greeter.cue:1:1: expected a greeting")
		}
		s := string(data)
		return &s, nil
	}
	first, err := load()
	if err != nil {
		panic(err)
	}
	live.Store(first)

	w, err := reload.New(dir, reload.Options{Apply: func(ctx context.Context, c reload.Change) error {
		next, err := load()
		if err != nil {
			return err
		}
		live.Store(next)
		return nil
	}})
	if err != nil {
		panic(err)
	}
	events, cancel := w.Subscribe()
	defer cancel()
	if err := w.Start(context.Background()); err != nil {
		panic(err)
	}
	defer w.Close()
	decided := func() reload.Event {
		for ev := range events {
			if ev.Outcome != reload.Unchanged {
				return ev
			}
		}
		panic("watcher closed")
	}

	os.WriteFile(file, []byte(`greeting: "Hi"`), 0o644)
	ev := decided()
	fmt.Println(ev.Outcome, ev.Modified, *live.Load())

	os.WriteFile(file, []byte(`greting: "Hi"`), 0o644)
	ev = decided()
	fmt.Println(ev.Outcome, ev.Err, *live.Load())
	// Output:
	// applied [greeter.cue] greeting: "Hi"
	// rejected greeter.cue:1:1: expected a greeting greeting: "Hi"
}
