package redis_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/parleyhq/parley/plugins/store"
	"github.com/parleyhq/parley/plugins/store/redis/redistest"
)

// BenchmarkTurnStore is a turn's work on the Redis store without the
// engine: take the lease (which reads the state), load, save with a history
// entry (which releases the lease), release; 32 users in parallel.
func BenchmarkTurnStore(b *testing.B) {
	srv := redistest.Start(b, redistest.Options{})
	ctx := context.Background()
	s := open(b, srv, "", store.Options{})
	l := s.(store.Leaser)
	entry := &store.HistoryEntry{ConfigVersion: "v1", Intents: []string{"hello"}, Messages: []byte(`[{"text":"Hello!"}]`)}
	var next atomic.Int64
	b.SetParallelism(16) // 32 goroutines on 2 cores
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		user := fmt.Sprint("user-", next.Add(1))
		for pb.Next() {
			lctx, release, err := l.Lease(ctx, user)
			if err != nil {
				b.Error(err)
				return
			}
			st, err := s.Load(lctx, user)
			if err == nil {
				st.User = map[string]any{"name": "Ann"}
				_, err = s.Save(lctx, user, st, entry)
			}
			release()
			if err != nil {
				b.Error(err)
				return
			}
		}
	})
}
