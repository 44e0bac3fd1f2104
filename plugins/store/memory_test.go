package store_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/parleyhq/parley/plugins/store"
	"github.com/parleyhq/parley/plugins/store/storetest"
)

func TestMemoryConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store { return store.NewMemory() }, storetest.Options{})
}

func TestMemoryLen(t *testing.T) {
	ctx := context.Background()
	m := store.NewMemory()
	defer m.Close()
	for i := 0; i < 100; i++ {
		m.Save(ctx, fmt.Sprint("u", i), store.State{Turn: fmt.Sprint(i)}, nil)
	}
	if m.Len() != 100 {
		t.Fatalf("Len = %d", m.Len())
	}
	m.Delete(ctx, "u1")
	if m.Len() != 99 {
		t.Fatalf("Len after delete = %d", m.Len())
	}
}

var _ store.Store = (*store.Memory)(nil)

func TestOpen(t *testing.T) {
	ctx := context.Background()
	s, err := store.Open(ctx, "memory:", store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	for _, tc := range []struct{ url, want string }{
		{"bogus", "not a store URL"},
		{"nosuch://u:hunter2@host/0", `unknown scheme "nosuch"`},
		{"memory:/some/path", "takes no path"},
	} {
		_, err := store.Open(ctx, tc.url, store.Options{})
		if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "hunter2") {
			t.Errorf("Open(%q) = %v, want %q and no password", tc.url, err, tc.want)
		}
	}
}

func TestMemoryConformanceWithOptions(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store { return store.NewMemoryWith(store.Options{HistoryLimit: 3}) }, storetest.Options{
		HistoryLimit: 3,
		NewExpiring: func(t *testing.T, retention time.Duration) store.Store {
			return store.NewMemoryWith(store.Options{Retention: retention})
		},
	})
}

// The sweep erases expired users from memory, not only hides them.
func TestMemorySweep(t *testing.T) {
	ctx := context.Background()
	m := store.NewMemoryWith(store.Options{Retention: 50 * time.Millisecond})
	defer m.Close()
	for i := 0; i < 10; i++ {
		m.Save(ctx, fmt.Sprint("u", i), store.State{}, nil)
	}
	deadline := time.Now().Add(5 * time.Second)
	for m.Len() > 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := m.Len(); n != 0 {
		t.Fatalf("%d expired users still held", n)
	}
}

// A bounded store evicts its least recently saved users.
func TestMemoryBounded(t *testing.T) {
	ctx := context.Background()
	m := store.NewMemoryWith(store.Options{MaxUsers: 10})
	defer m.Close()
	for i := 0; i < 10; i++ {
		m.Save(ctx, fmt.Sprint("u", i), store.State{Turn: "t"}, nil)
	}
	// u0 is saved again: u1 is now the least recently saved.
	st, _ := m.Load(ctx, "u0")
	if _, err := m.Save(ctx, "u0", st, nil); err != nil {
		t.Fatal(err)
	}
	for i := 10; i < 15; i++ {
		m.Save(ctx, fmt.Sprint("u", i), store.State{Turn: "t"}, nil)
	}
	if n := m.Len(); n != 10 {
		t.Fatalf("Len = %d, want the bound 10", n)
	}
	for i := 1; i <= 5; i++ {
		if st, _ := m.Load(ctx, fmt.Sprint("u", i)); st.Version != 0 {
			t.Errorf("u%d, among the least recently saved, was kept", i)
		}
	}
	for _, u := range []string{"u0", "u6", "u9", "u14"} {
		if st, _ := m.Load(ctx, u); st.Version == 0 {
			t.Errorf("%s was evicted", u)
		}
	}
	// The default bound is DefaultMaxUsers, spread over shards.
	d := store.NewMemory()
	defer d.Close()
	for i := 0; i < store.DefaultMaxUsers+5000; i++ {
		d.Save(ctx, fmt.Sprint("u", i), store.State{}, nil)
	}
	if n := d.Len(); n > store.DefaultMaxUsers || n < store.DefaultMaxUsers*9/10 {
		t.Fatalf("default store holds %d users, want at most %d and close to it", n, store.DefaultMaxUsers)
	}
}
