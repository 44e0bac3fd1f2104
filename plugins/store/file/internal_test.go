package file

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/parleyhq/parley/plugins/store"
)

// The sweep erases expired users from the file, index and history included,
// oldest first, and leaves the others.
func TestSweepErases(t *testing.T) {
	ctx := context.Background()
	s, err := Open(filepath.Join(t.TempDir(), "state.db"), store.Options{Retention: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	now := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	s.now = func() time.Time { return now }
	for i := 0; i < 2500; i++ { // more than one sweep chunk
		if _, err := s.Save(ctx, fmt.Sprint("old", i), store.State{}, &store.HistoryEntry{ConfigVersion: "v"}); err != nil {
			t.Fatal(err)
		}
	}
	now = now.Add(30 * time.Minute)
	if _, err := s.Save(ctx, "new", store.State{}, &store.HistoryEntry{ConfigVersion: "v"}); err != nil {
		t.Fatal(err)
	}
	now = now.Add(45 * time.Minute)
	for {
		n, err := s.sweep()
		if err != nil {
			t.Fatal(err)
		}
		if n < sweepChunk {
			break
		}
	}
	s.db.View(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bucketUsers, bucketSaved, bucketHistory} {
			n := 0
			tx.Bucket(b).ForEach(func(k, v []byte) error { n++; return nil })
			if n != 1 {
				t.Errorf("bucket %s holds %d keys after the sweep, want 1 (the new user)", b, n)
			}
		}
		return nil
	})
	if st, _ := s.Load(ctx, "new"); st.Version != 1 {
		t.Fatalf("the user within the retention was swept: %+v", st)
	}
}
