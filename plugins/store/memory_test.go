package store_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/parleyhq/parley/plugins/store"
)

func TestMemory(t *testing.T) {
	ctx := context.Background()
	cases := []struct {
		name string
		run  func(t *testing.T, m *store.Memory)
	}{
		{"an unknown user has the zero state", func(t *testing.T, m *store.Memory) {
			st, err := m.Load(ctx, "nobody")
			if err != nil || st.Version != 0 || st.User != nil || st.Conversation != "" {
				t.Fatalf("Load = %+v, %v", st, err)
			}
		}},
		{"a saved state is loaded with its new version", func(t *testing.T, m *store.Memory) {
			v, err := m.Save(ctx, "u", store.State{Conversation: "c", User: map[string]any{"a": 1}})
			if err != nil || v != 1 {
				t.Fatalf("Save = %d, %v", v, err)
			}
			st, _ := m.Load(ctx, "u")
			if st.Version != 1 || st.Conversation != "c" || st.User["a"] != 1 {
				t.Fatalf("Load = %+v", st)
			}
		}},
		{"a save from a stale version is a conflict and stores nothing", func(t *testing.T, m *store.Memory) {
			st, _ := m.Load(ctx, "u")
			if _, err := m.Save(ctx, "u", st); err != nil {
				t.Fatal(err)
			}
			st.Conversation = "stale"
			if _, err := m.Save(ctx, "u", st); !errors.Is(err, store.ErrConflict) {
				t.Fatalf("err = %v, want ErrConflict", err)
			}
			if got, _ := m.Load(ctx, "u"); got.Conversation == "stale" {
				t.Fatal("stale save was stored")
			}
		}},
		{"delete forgets the user", func(t *testing.T, m *store.Memory) {
			m.Save(ctx, "u", store.State{Conversation: "c"})
			if err := m.Delete(ctx, "u"); err != nil {
				t.Fatal(err)
			}
			if st, _ := m.Load(ctx, "u"); st.Version != 0 || m.Len() != 0 {
				t.Fatalf("after delete: %+v, %d users", st, m.Len())
			}
			if err := m.Delete(ctx, "never"); err != nil {
				t.Fatalf("deleting an unknown user: %v", err)
			}
		}},
		{"a closed store refuses every call", func(t *testing.T, m *store.Memory) {
			m.Close()
			if _, err := m.Load(ctx, "u"); err == nil {
				t.Fatal("Load after Close succeeded")
			}
			if _, err := m.Save(ctx, "u", store.State{}); err == nil {
				t.Fatal("Save after Close succeeded")
			}
			if err := m.Close(); err != nil {
				t.Fatalf("second Close: %v", err)
			}
		}},
		{"concurrent savers of one user lose no update unnoticed", func(t *testing.T, m *store.Memory) {
			var wg sync.WaitGroup
			var mu sync.Mutex
			won := 0
			for i := 0; i < 16; i++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for {
						st, _ := m.Load(ctx, "shared")
						n, _ := st.User["n"].(int)
						st.User = map[string]any{"n": n + 1}
						if _, err := m.Save(ctx, "shared", st); err == nil {
							mu.Lock()
							won++
							mu.Unlock()
							return
						} else if !errors.Is(err, store.ErrConflict) {
							t.Error(err)
							return
						}
					}
				}()
			}
			wg.Wait()
			st, _ := m.Load(ctx, "shared")
			if st.User["n"] != 16 || won != 16 || st.Version != 16 {
				t.Fatalf("n = %v after %d saves, version %d", st.User["n"], won, st.Version)
			}
		}},
		{"users are independent", func(t *testing.T, m *store.Memory) {
			for i := 0; i < 100; i++ {
				m.Save(ctx, fmt.Sprint("u", i), store.State{Turn: fmt.Sprint(i)})
			}
			if m.Len() != 100 {
				t.Fatalf("Len = %d", m.Len())
			}
			if st, _ := m.Load(ctx, "u42"); st.Turn != "42" {
				t.Fatalf("u42 = %+v", st)
			}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m := store.NewMemory()
			defer m.Close()
			tc.run(t, m)
		})
	}
}

var _ store.Store = (*store.Memory)(nil)
