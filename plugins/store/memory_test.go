package store_test

import (
	"context"
	"fmt"
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
