// Package storetest is the conformance suite every store.Store passes:
// versions, conflicts, history, deletion and closing, and, where the store
// offers them, expiry of idle users and export and import (store.Porter).
// Each store's tests call Run with a constructor of fresh, empty stores.
package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/parleyhq/parley/plugins/store"
)

// Options describe the store under test.
type Options struct {
	// HistoryLimit is the history limit the constructed stores were given
	// (store.DefaultHistoryLimit when zero).
	HistoryLimit int
	// NewExpiring, when set, returns a new, empty store (as newStore does)
	// whose users expire after retention; the expiry cases run on it.
	NewExpiring func(t *testing.T, retention time.Duration) store.Store
}

// Run runs the conformance suite. newStore must return a new, empty store
// each time it is called; Run closes it.
func Run(t *testing.T, newStore func(t *testing.T) store.Store, opts Options) {
	limit := opts.HistoryLimit
	if limit == 0 {
		limit = store.DefaultHistoryLimit
	}
	ctx := context.Background()
	cases := []struct {
		name string
		run  func(t *testing.T, s store.Store)
	}{
		{"an unknown user has the zero state and no history", func(t *testing.T, s store.Store) {
			st, err := s.Load(ctx, "nobody")
			if err != nil || st.Version != 0 || st.User != nil || st.Conversation != "" {
				t.Fatalf("Load = %+v, %v", st, err)
			}
			h, err := s.History(ctx, "nobody", 0)
			if err != nil || len(h) != 0 {
				t.Fatalf("History = %v, %v", h, err)
			}
		}},
		{"a saved state is loaded as it was saved, with its new version", func(t *testing.T, s store.Store) {
			want := store.State{
				Scenario: "s", Conversation: "c", Scene: "sc", Turn: "t", Intent: "i", Phase: store.PhaseRequest,
				// JSON-native values, as every persistent store round-trips them.
				User:    map[string]any{"a": "x", "n": 1.5, "ok": true, "list": []any{"a", 2.0}, "obj": map[string]any{"k": "v"}},
				Session: map[string]any{"s": "y"},
				Updated: time.Date(2026, 12, 1, 7, 45, 0, 123, time.UTC),
			}
			v, err := s.Save(ctx, "u", want, nil)
			if err != nil || v != 1 {
				t.Fatalf("Save = %d, %v", v, err)
			}
			got, err := s.Load(ctx, "u")
			if err != nil {
				t.Fatal(err)
			}
			want.Version = 1
			if !got.Updated.Equal(want.Updated) {
				t.Fatalf("Updated = %v, want %v", got.Updated, want.Updated)
			}
			got.Updated = want.Updated
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("Load =\n%#v\nwant\n%#v", got, want)
			}
		}},
		{"versions count saves", func(t *testing.T, s store.Store) {
			for i := 1; i <= 3; i++ {
				st, _ := s.Load(ctx, "u")
				v, err := s.Save(ctx, "u", st, nil)
				if err != nil || v != uint64(i) {
					t.Fatalf("save %d = %d, %v", i, v, err)
				}
			}
		}},
		{"a save from a stale version is a conflict and stores nothing, history included", func(t *testing.T, s store.Store) {
			st, _ := s.Load(ctx, "u")
			if _, err := s.Save(ctx, "u", st, entry(1)); err != nil {
				t.Fatal(err)
			}
			st.Conversation = "stale"
			if _, err := s.Save(ctx, "u", st, entry(2)); !errors.Is(err, store.ErrConflict) {
				t.Fatalf("err = %v, want ErrConflict", err)
			}
			if got, _ := s.Load(ctx, "u"); got.Conversation == "stale" || got.Version != 1 {
				t.Fatalf("stale save was stored: %+v", got)
			}
			if h, _ := s.History(ctx, "u", 0); len(h) != 1 || h[0].ConfigVersion != "v1" {
				t.Fatalf("history after a conflict = %+v", h)
			}
		}},
		{"history keeps entries in order, bounded, newest kept", func(t *testing.T, s store.Store) {
			n := limit + 3
			for i := 1; i <= n; i++ {
				st, _ := s.Load(ctx, "u")
				if _, err := s.Save(ctx, "u", st, entry(i)); err != nil {
					t.Fatal(err)
				}
			}
			h, err := s.History(ctx, "u", 0)
			if err != nil || len(h) != limit {
				t.Fatalf("History = %d entries, %v; want %d", len(h), err, limit)
			}
			for i, e := range h {
				if want := fmt.Sprint("v", n-limit+1+i); e.ConfigVersion != want {
					t.Fatalf("entry %d = %s, want %s", i, e.ConfigVersion, want)
				}
			}
			last, _ := s.History(ctx, "u", 2)
			if len(last) != 2 || last[1].ConfigVersion != fmt.Sprint("v", n) {
				t.Fatalf("History(2) = %+v", last)
			}
			want := entry(n)
			got := last[1]
			if !got.Time.Equal(want.Time) || !reflect.DeepEqual(got.Intents, want.Intents) ||
				!jsonEqual(got.Utterance, want.Utterance) || !jsonEqual(got.Messages, want.Messages) {
				t.Fatalf("entry = %+v, want %+v", got, want)
			}
		}},
		{"a save without an entry leaves the history alone", func(t *testing.T, s store.Store) {
			st, _ := s.Load(ctx, "u")
			s.Save(ctx, "u", st, entry(1))
			st, _ = s.Load(ctx, "u")
			s.Save(ctx, "u", st, nil)
			if h, _ := s.History(ctx, "u", 0); len(h) != 1 {
				t.Fatalf("history = %+v", h)
			}
		}},
		{"delete forgets state and history", func(t *testing.T, s store.Store) {
			s.Save(ctx, "u", store.State{Conversation: "c"}, entry(1))
			if err := s.Delete(ctx, "u"); err != nil {
				t.Fatal(err)
			}
			if st, _ := s.Load(ctx, "u"); st.Version != 0 || st.Conversation != "" {
				t.Fatalf("after delete: %+v", st)
			}
			if h, _ := s.History(ctx, "u", 0); len(h) != 0 {
				t.Fatalf("history after delete: %+v", h)
			}
			if err := s.Delete(ctx, "never"); err != nil {
				t.Fatalf("deleting an unknown user: %v", err)
			}
			if v, err := s.Save(ctx, "u", store.State{}, nil); err != nil || v != 1 {
				t.Fatalf("saving a deleted user afresh = %d, %v", v, err)
			}
		}},
		{"users are independent", func(t *testing.T, s store.Store) {
			for i := 0; i < 50; i++ {
				if _, err := s.Save(ctx, fmt.Sprint("u", i), store.State{Turn: fmt.Sprint(i)}, entry(i)); err != nil {
					t.Fatal(err)
				}
			}
			if st, _ := s.Load(ctx, "u42"); st.Turn != "42" {
				t.Fatalf("u42 = %+v", st)
			}
			if h, _ := s.History(ctx, "u7", 0); len(h) != 1 || h[0].ConfigVersion != "v7" {
				t.Fatalf("u7 history = %+v", h)
			}
		}},
		{"concurrent savers of one user lose no update unnoticed", func(t *testing.T, s store.Store) {
			var wg sync.WaitGroup
			for i := 0; i < 8; i++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for try := 0; try < 1000; try++ {
						st, err := s.Load(ctx, "shared")
						if err != nil {
							t.Error(err)
							return
						}
						n, _ := st.User["n"].(float64)
						st.User = map[string]any{"n": n + 1}
						_, err = s.Save(ctx, "shared", st, entry(int(n)+1))
						if err == nil {
							return
						}
						if !errors.Is(err, store.ErrConflict) {
							t.Error(err)
							return
						}
					}
					t.Error("no save won in 1000 tries")
				}()
			}
			wg.Wait()
			st, _ := s.Load(ctx, "shared")
			if st.User["n"] != 8.0 || st.Version != 8 {
				t.Fatalf("n = %v, version %d; want 8, 8", st.User["n"], st.Version)
			}
			if h, _ := s.History(ctx, "shared", 0); len(h) != min(8, limit) {
				t.Fatalf("history has %d entries, want %d", len(h), min(8, limit))
			}
		}},
		{"a closed store refuses every call", func(t *testing.T, s store.Store) {
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			if _, err := s.Load(ctx, "u"); err == nil {
				t.Fatal("Load after Close succeeded")
			}
			if _, err := s.Save(ctx, "u", store.State{}, nil); err == nil {
				t.Fatal("Save after Close succeeded")
			}
			if _, err := s.History(ctx, "u", 0); err == nil {
				t.Fatal("History after Close succeeded")
			}
			if err := s.Delete(ctx, "u"); err == nil {
				t.Fatal("Delete after Close succeeded")
			}
			if err := s.Close(); err != nil {
				t.Fatalf("second Close: %v", err)
			}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := newStore(t)
			defer s.Close()
			tc.run(t, s)
		})
	}
	t.Run("export and import keep states, versions and histories, idempotently", func(t *testing.T) {
		s := newStore(t)
		defer s.Close()
		if _, ok := s.(store.Porter); !ok {
			t.Skipf("%T does not implement store.Porter", s)
		}
		testPorter(t, s, newStore(t), limit)
	})
	if opts.NewExpiring != nil {
		t.Run("idle users expire, active users stay", func(t *testing.T) {
			testExpiry(t, opts.NewExpiring(t, time.Second))
		})
	}
}

// save loads userID and saves it with the user attribute n set, and a history entry.
func save(t *testing.T, s store.Store, userID string, n int) uint64 {
	t.Helper()
	ctx := context.Background()
	st, err := s.Load(ctx, userID)
	if err != nil {
		t.Fatal(err)
	}
	st.User = map[string]any{"n": float64(n)}
	st.Conversation = "c" + fmt.Sprint(n)
	st.Updated = time.Date(2026, 12, 1, 8, 0, n, 0, time.UTC)
	v, err := s.Save(ctx, userID, st, entry(n))
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// exportAll returns every record of s, sorted by user id, as JSON lines.
func exportAll(t *testing.T, s store.Store) []string {
	t.Helper()
	var out []string
	err := s.(store.Porter).Export(context.Background(), func(r store.Record) error {
		b, err := json.Marshal(r)
		out = append(out, string(b))
		return err
	})
	if err != nil {
		t.Fatalf("Export: %v", err)
	}
	slices.Sort(out)
	return out
}

func testPorter(t *testing.T, src, dst store.Store, limit int) {
	defer dst.Close()
	ctx := context.Background()
	for i := 1; i <= 3; i++ {
		save(t, src, "alice", i)
	}
	save(t, src, "bob", 7)
	if _, err := src.Save(ctx, "carol", store.State{Turn: "t"}, nil); err != nil {
		t.Fatal(err)
	}
	exported := exportAll(t, src)
	if len(exported) != 3 {
		t.Fatalf("exported %d records, want 3:\n%s", len(exported), strings.Join(exported, "\n"))
	}
	var alice store.Record
	for _, line := range exported {
		if strings.Contains(line, `"user_id":"alice"`) {
			if err := json.Unmarshal([]byte(line), &alice); err != nil {
				t.Fatal(err)
			}
		}
	}
	if alice.State.Version != 3 || alice.State.User["n"] != 3.0 || len(alice.History) != min(3, limit) ||
		(limit > 0 && alice.History[len(alice.History)-1].ConfigVersion != "v3") {
		t.Fatalf("exported alice = %+v; want version 3, n 3 and the last %d turns", alice, min(3, limit))
	}
	stop := errors.New("stop")
	calls := 0
	if err := src.(store.Porter).Export(ctx, func(store.Record) error { calls++; return stop }); !errors.Is(err, stop) || calls != 1 {
		t.Fatalf("Export did not stop at fn's error: %v after %d calls", err, calls)
	}
	p := dst.(store.Porter)
	// dst already holds a user of the same id: the import replaces it.
	for i := 1; i <= 5; i++ {
		save(t, dst, "alice", 100+i)
	}
	for round := 0; round < 2; round++ {
		for _, line := range exported {
			var r store.Record
			if err := json.Unmarshal([]byte(line), &r); err != nil {
				t.Fatal(err)
			}
			if err := p.Import(ctx, r); err != nil {
				t.Fatalf("Import round %d: %v", round+1, err)
			}
		}
		if got := exportAll(t, dst); !slices.Equal(got, exported) {
			t.Fatalf("after import round %d:\n%s\nwant\n%s", round+1, strings.Join(got, "\n"), strings.Join(exported, "\n"))
		}
	}
	st, err := dst.Load(ctx, "alice")
	if err != nil || st.Version != 3 || st.User["n"] != 3.0 {
		t.Fatalf("imported alice = %+v, %v; want version 3, n 3", st, err)
	}
	if h, _ := dst.History(ctx, "alice", 0); len(h) != min(3, limit) || (limit > 0 && h[len(h)-1].ConfigVersion != "v3") {
		t.Fatalf("imported history = %+v", h)
	}
	// Versions carry on from the imported ones.
	if _, err := dst.Save(ctx, "alice", store.State{}, nil); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("a save from version 0 over an imported user = %v, want ErrConflict", err)
	}
	if v := save(t, dst, "alice", 4); v != 4 {
		t.Fatalf("the next save of an imported user has version %d, want 4", v)
	}
	if err := p.Import(ctx, store.Record{}); err == nil {
		t.Fatal("importing a record without a user id succeeded")
	}
}

func testExpiry(t *testing.T, s store.Store) {
	defer s.Close()
	ctx := context.Background()
	const retention = time.Second
	start := time.Now()
	save(t, s, "idle", 1)
	save(t, s, "active", 1)
	if st, _ := s.Load(ctx, "idle"); st.Version != 1 {
		t.Fatalf("a user saved just now was not kept: %+v", st)
	}
	// Keep one user active while the other stays idle past the retention
	// and the store's sweep has had time to run.
	for n := 2; time.Since(start) < retention*2; n++ {
		time.Sleep(retention / 5)
		save(t, s, "active", n)
	}
	if st, err := s.Load(ctx, "idle"); err != nil || st.Version != 0 || st.User != nil {
		t.Fatalf("an idle user was served after the retention: %+v, %v", st, err)
	}
	if h, err := s.History(ctx, "idle", 0); err != nil || len(h) != 0 {
		t.Fatalf("an idle user's history was served after the retention: %+v, %v", h, err)
	}
	if st, _ := s.Load(ctx, "active"); st.Version < 2 {
		t.Fatalf("an active user expired: %+v", st)
	}
	if p, ok := s.(store.Porter); ok {
		err := p.Export(ctx, func(r store.Record) error {
			if r.UserID == "idle" {
				t.Errorf("an expired user was exported: %+v", r)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	// An expired user starts afresh.
	if v, err := s.Save(ctx, "idle", store.State{}, entry(9)); err != nil || v != 1 {
		t.Fatalf("saving an expired user afresh = %d, %v; want version 1", v, err)
	}
	if h, _ := s.History(ctx, "idle", 0); len(h) != 1 || h[0].ConfigVersion != "v9" {
		t.Fatalf("the history of an expired user saved afresh = %+v", h)
	}
}

// entry returns a history entry whose fields all derive from i.
func entry(i int) *store.HistoryEntry {
	return &store.HistoryEntry{
		Time:          time.Date(2026, 12, 1, 7, 0, i, 0, time.UTC),
		ConfigVersion: fmt.Sprint("v", i),
		Utterance:     json.RawMessage(fmt.Sprintf(`{"type":"text","text":"say %d"}`, i)),
		Intents:       []string{fmt.Sprint("intent", i), "answer"},
		Messages:      json.RawMessage(fmt.Sprintf(`[{"intent":"answer","text":"reply %d"}]`, i)),
	}
}

func jsonEqual(a, b json.RawMessage) bool {
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return false
	}
	return reflect.DeepEqual(x, y)
}
