package reload

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestHalfWrittenFileIsNotApplied writes a file in three chunks, one between
// each read of the Watcher (as cp, kubectl cp or rsync --inplace write a
// file they truncated first): the Watcher applies only the complete file,
// once two reads in a row agree, never a half-written one. The writer runs
// in the Watcher's Include hook, so each read sees exactly one more chunk.
func TestHalfWrittenFileIsNotApplied(t *testing.T) {
	root := t.TempDir()
	file := filepath.Join(root, "a.cue")
	complete := "a: 1\nb: 2\nc: 3\n"
	if err := os.WriteFile(file, []byte(complete), 0o644); err != nil {
		t.Fatal(err)
	}
	final := "a: 1\nb: 2\nc: 3\nd: 4\n"
	chunks := []string{"a: 1\n", "b: 2\n", "c: 3\nd: 4\n"}

	var mu sync.Mutex
	writing := false
	var applied []string
	include := func(base string) bool {
		if base != "a.cue" {
			return IsConfigFile(base)
		}
		mu.Lock()
		defer mu.Unlock()
		if writing && len(chunks) > 0 {
			f, err := os.OpenFile(file, os.O_WRONLY|os.O_APPEND, 0)
			if err != nil {
				t.Error(err)
				return true
			}
			_, err = f.WriteString(chunks[0])
			f.Close()
			if err != nil {
				t.Error(err)
			}
			chunks = chunks[1:]
		}
		return true
	}
	w, err := New(root, Options{
		Debounce: testDebounce,
		Poll:     time.Hour, // no ticks, no notifications: only Rescan reads
		Include:  include,
		Apply: func(ctx context.Context, c Change) error {
			b, err := os.ReadFile(file)
			if err != nil {
				return err
			}
			mu.Lock()
			applied = append(applied, string(b))
			mu.Unlock()
			return nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	events, cancel := w.Subscribe()
	defer cancel()
	if err := w.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	defer w.Close()

	// The copy starts: the file is truncated, then written chunk by chunk.
	mu.Lock()
	if err := os.Truncate(file, 0); err != nil {
		t.Fatal(err)
	}
	writing = true
	mu.Unlock()
	w.Rescan()
	deadline := time.After(waitLimit)
	for {
		select {
		case ev := <-events:
			if ev.Outcome != Applied {
				continue
			}
			mu.Lock()
			got := append([]string(nil), applied...)
			mu.Unlock()
			if len(got) != 1 || got[0] != final {
				t.Fatalf("applied %q, want only the complete file %q", got, final)
			}
			if want, err := Hash(root, IsConfigFile); err != nil || ev.Version != want {
				t.Errorf("applied version %s is not the complete file's %s (%v)", ev.Version, want, err)
			}
			return
		case <-deadline:
			mu.Lock()
			defer mu.Unlock()
			t.Fatalf("no version applied; applied %q, chunks left %d", applied, len(chunks))
		}
	}
}

// TestSettleGivesUpAndRetries: files that keep changing for longer than
// MaxDelay are not applied while they change; once they stop, the Watcher
// applies them by itself (it tries again after a Debounce).
func TestSettleGivesUpAndRetries(t *testing.T) {
	root := t.TempDir()
	file := filepath.Join(root, "a.cue")
	if err := os.WriteFile(file, []byte("a: 0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	writes := 0
	const changes = 12 // reads that see a change: well over MaxDelay / Settle
	include := func(base string) bool {
		mu.Lock()
		defer mu.Unlock()
		if base == "a.cue" && writes > 0 && writes < changes {
			writes++
			if err := os.WriteFile(file, []byte(strings.Repeat("a: 1\n", writes)), 0o644); err != nil {
				t.Error(err)
			}
		}
		return IsConfigFile(base)
	}
	var applied []string
	w, err := New(root, Options{
		Debounce: 10 * time.Millisecond, MaxDelay: 30 * time.Millisecond, Settle: 10 * time.Millisecond,
		Poll: time.Hour, Include: include,
		Apply: func(ctx context.Context, c Change) error {
			b, _ := os.ReadFile(file)
			mu.Lock()
			applied = append(applied, string(b))
			mu.Unlock()
			return nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	events, cancel := w.Subscribe()
	defer cancel()
	if err := w.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	mu.Lock()
	writes = 1
	mu.Unlock()
	w.Rescan()
	deadline := time.After(waitLimit)
	for {
		select {
		case ev := <-events:
			if ev.Outcome != Applied {
				continue
			}
			mu.Lock()
			defer mu.Unlock()
			want := strings.Repeat("a: 1\n", changes)
			if len(applied) != 1 || applied[0] != want {
				t.Fatalf("applied %q, want only the last content", applied)
			}
			return
		case <-deadline:
			t.Fatal("the files settled but were never applied")
		}
	}
}
