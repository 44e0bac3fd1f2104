package file_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/parleyhq/parley/plugins/store"
	"github.com/parleyhq/parley/plugins/store/file"
)

// BenchmarkSave measures durable saves of one user and of 32 users at once,
// each user a goroutine saving in a loop (group commit: concurrent saves
// share a transaction and its sync).
func BenchmarkSave(b *testing.B) {
	for _, users := range []int{1, 32} {
		b.Run(fmt.Sprintf("users=%d", users), func(b *testing.B) {
			s, err := file.Open(filepath.Join(b.TempDir(), "state.db"), store.Options{})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			ctx := context.Background()
			entry := &store.HistoryEntry{ConfigVersion: "v", Intents: []string{"hello", "hello_back"}}
			var next atomic.Int64
			var wg sync.WaitGroup
			b.ResetTimer()
			for u := range users {
				wg.Add(1)
				go func() {
					defer wg.Done()
					id := fmt.Sprint("u", u)
					var st store.State
					for next.Add(1) <= int64(b.N) {
						st.User = map[string]any{"name": "Ada"}
						v, err := s.Save(ctx, id, st, entry)
						if err != nil {
							b.Error(err)
							return
						}
						st.Version = v
					}
				}()
			}
			wg.Wait()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "saves/s")
		})
	}
}

// BenchmarkFdatasyncBaseline is what the disk costs a commit: one 4 KiB
// write and fdatasync, as bbolt does twice per transaction (the pages, then
// the meta page). It bounds what BenchmarkSave can reach.
func BenchmarkFdatasyncBaseline(b *testing.B) {
	f, err := os.Create(filepath.Join(b.TempDir(), "sync"))
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	page := make([]byte, 4096)
	for b.Loop() {
		if _, err := f.WriteAt(page, 0); err != nil {
			b.Fatal(err)
		}
		if err := syscall.Fdatasync(int(f.Fd())); err != nil {
			b.Fatal(err)
		}
	}
}
