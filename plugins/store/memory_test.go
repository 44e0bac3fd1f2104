package store_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

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
