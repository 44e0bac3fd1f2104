package file_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/parleyhq/parley/plugins/store"
	"github.com/parleyhq/parley/plugins/store/file"
	"github.com/parleyhq/parley/plugins/store/storetest"
)

func newFile(t *testing.T, opts store.Options) *file.Store {
	t.Helper()
	s, err := file.Open(filepath.Join(t.TempDir(), "state.db"), opts)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store { return newFile(t, store.Options{}) }, storetest.Options{
		NewExpiring: func(t *testing.T, retention time.Duration) store.Store {
			return newFile(t, store.Options{Retention: retention})
		},
	})
}

func TestConformanceShortHistory(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store { return newFile(t, store.Options{HistoryLimit: 2}) }, storetest.Options{HistoryLimit: 2})
}

var (
	_ store.Store  = (*file.Store)(nil)
	_ store.Porter = (*file.Store)(nil)
)

// What is saved is there after the file is closed and opened again.
func TestReopen(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "sub", "dir", "state.db")
	s, err := store.Open(ctx, "file:"+path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Save(ctx, "u", store.State{Conversation: "c", User: map[string]any{"x": "y"}}, &store.HistoryEntry{ConfigVersion: "v1"}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err = store.Open(ctx, "file://"+path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	st, err := s.Load(ctx, "u")
	if err != nil || st.Version != 1 || st.Conversation != "c" || st.User["x"] != "y" {
		t.Fatalf("after reopening: %+v, %v", st, err)
	}
	if h, _ := s.History(ctx, "u", 0); len(h) != 1 || h[0].ConfigVersion != "v1" {
		t.Fatalf("history after reopening: %+v", h)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("file mode: %v, %v; want 0600", fi.Mode(), err)
	}
}

// A second opener of a file in use fails after the lock timeout, with a
// message that says why.
func TestSecondOpenerFails(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	s, err := file.Open(path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	start := time.Now()
	_, err = file.Open(path, store.Options{})
	if err == nil || !strings.Contains(err.Error(), "in use by another process") {
		t.Fatalf("second Open = %v, want a clear error", err)
	}
	if d := time.Since(start); d > file.LockTimeout+5*time.Second {
		t.Fatalf("second Open took %s", d)
	}
}

func TestOpenErrors(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	junk := filepath.Join(dir, "junk.db")
	if err := os.WriteFile(junk, []byte(strings.Repeat("not a bbolt file\n", 512)), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ url, want string }{
		{"file:", "path is missing"},
		{"file://host/x.db", "not a host"},
		{"file:" + junk + "?x=1", "no query"},
		{"file:" + junk, "opening store file:" + junk},
		{"file:" + filepath.Join(junk, "under-a-file.db"), "creating its directory"},
	} {
		s, err := store.Open(ctx, tc.url, store.Options{})
		if err == nil {
			s.Close()
			t.Errorf("Open(%q) succeeded", tc.url)
			continue
		}
		if !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Open(%q) = %v, want %q", tc.url, err, tc.want)
		}
	}
	// The junk file is left as it was.
	if b, _ := os.ReadFile(junk); !strings.HasPrefix(string(b), "not a bbolt file") {
		t.Fatal("a file that is not a store was changed")
	}
}

// Concurrent savers of many users are committed in groups and all kept.
func TestConcurrentSaves(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "state.db")
	s, err := file.Open(path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for w := 0; w < 32; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			u := fmt.Sprint("u", w)
			for i := 0; i < 20; i++ {
				st, err := s.Load(ctx, u)
				if err != nil {
					t.Error(err)
					return
				}
				st.User = map[string]any{"i": float64(i)}
				if _, err := s.Save(ctx, u, st, &store.HistoryEntry{ConfigVersion: fmt.Sprint(i)}); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	s.Close()
	s, err = file.Open(path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for w := 0; w < 32; w++ {
		st, _ := s.Load(ctx, fmt.Sprint("u", w))
		if st.Version != 20 || st.User["i"] != 19.0 {
			t.Fatalf("u%d = %+v", w, st)
		}
	}
}

// Export from the memory store, import into the file store: the same records.
func TestMemoryToFile(t *testing.T) {
	ctx := context.Background()
	m := store.NewMemory()
	defer m.Close()
	for i := 0; i < 600; i++ { // more than one export chunk
		u := fmt.Sprint("u", i)
		for j := 0; j <= i%3; j++ {
			st, _ := m.Load(ctx, u)
			st.User = map[string]any{"j": float64(j), "name": u}
			if _, err := m.Save(ctx, u, st, &store.HistoryEntry{ConfigVersion: fmt.Sprint(j), Intents: []string{"a"}}); err != nil {
				t.Fatal(err)
			}
		}
	}
	f := newFile(t, store.Options{})
	defer f.Close()
	n := 0
	if err := m.Export(ctx, func(r store.Record) error { n++; return f.Import(ctx, r) }); err != nil {
		t.Fatal(err)
	}
	if n != 600 {
		t.Fatalf("exported %d", n)
	}
	got := map[string]store.Record{}
	if err := f.Export(ctx, func(r store.Record) error { got[r.UserID] = r; return nil }); err != nil {
		t.Fatal(err)
	}
	if len(got) != 600 {
		t.Fatalf("file store exported %d", len(got))
	}
	for i := 0; i < 600; i++ {
		r := got[fmt.Sprint("u", i)]
		if r.State.Version != uint64(i%3+1) || r.State.User["j"] != float64(i%3) || len(r.History) != i%3+1 || r.History[len(r.History)-1].ConfigVersion != fmt.Sprint(i%3) {
			t.Fatalf("u%d = %+v", i, r)
		}
	}
}
