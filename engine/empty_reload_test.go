package engine_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/parleyhq/parley/diag"
	"github.com/parleyhq/parley/engine"
	"github.com/parleyhq/parley/plugins"
	"github.com/parleyhq/parley/reload"
)

// TestReloadKeepsAnActiveScenario: a change that leaves no active scenario
// (a file truncated by a copy in progress, deleted, or deactivated) is
// rejected with a reload.no_active_scenario diagnostic and the live version
// keeps answering; with AllowEmpty it is applied.
func TestReloadKeepsAnActiveScenario(t *testing.T) {
	src, err := os.ReadFile("../scenarios/booking/booking.cue")
	if err != nil {
		t.Fatal(err)
	}
	inactive := strings.Replace(string(src), "scenarios: booking: {", "scenarios: booking: {\n\tactive: false", 1)
	for _, tc := range []struct {
		name   string
		change func(file string) error
	}{
		{"truncated", func(f string) error { return os.Truncate(f, 0) }},
		{"deleted", os.Remove},
		{"deactivated", func(f string) error { return os.WriteFile(f, []byte(inactive), 0o644) }},
	} {
		for _, allow := range []bool{false, true} {
			name := tc.name
			if allow {
				name += " allowed"
			}
			t.Run(name, func(t *testing.T) {
				dir := t.TempDir()
				file := filepath.Join(dir, "booking.cue")
				if err := os.WriteFile(file, src, 0o644); err != nil {
					t.Fatal(err)
				}
				e, err := engine.Open(dir, engine.WithWatch(engine.WatchOptions{Debounce: 20 * time.Millisecond, AllowEmpty: allow}))
				if err != nil {
					t.Fatal(err)
				}
				defer e.Close()
				events, cancel := e.Watcher().Subscribe()
				defer cancel()
				live := e.Config().Version
				if err := tc.change(file); err != nil {
					t.Fatal(err)
				}
				var ev reload.Event
				for ev = range events {
					if ev.Outcome != reload.Unchanged {
						break
					}
				}
				if allow {
					if ev.Outcome != reload.Applied {
						t.Fatalf("with AllowEmpty: %s (%v)", ev.Outcome, ev.Err)
					}
					return
				}
				list := engine.Diagnostics(ev.Err)
				if ev.Outcome != reload.Rejected || len(list) != 1 || list[0].Code != diag.CodeNoActiveScenario {
					t.Fatalf("event %s, diagnostics %v, want a rejection with %s", ev.Outcome, ev.Err, diag.CodeNoActiveScenario)
				}
				if e.Config().Version != live {
					t.Fatal("the live version changed")
				}
				reply, err := e.Handle(context.Background(), "u1", plugins.Utterance{Type: plugins.ChatOpen})
				if err != nil || len(reply.Messages) == 0 || !strings.Contains(reply.Messages[0].Text, "book") {
					t.Fatalf("the live version does not answer: %v %+v", err, reply)
				}
				// Restoring the file brings the watcher back to the live version.
				if err := os.WriteFile(file, src, 0o644); err != nil {
					t.Fatal(err)
				}
				for ev = range events {
					if ev.Version == live {
						break
					}
				}
			})
		}
	}
}
