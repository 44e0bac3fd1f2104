package file

import (
	"context"
	"errors"
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

// A group waits for half the users who saved within activeWindow, and for
// nobody when one or two users are active; users idle for longer are
// forgotten.
func TestLingerTarget(t *testing.T) {
	s, err := Open(filepath.Join(t.TempDir(), "state.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	t0 := time.Now().Add(time.Hour) // later than any save of the committer's own clock
	s.noteWriter("ann", t0)
	if n := s.lingerTarget(t0); n != 0 {
		t.Fatalf("one active user: target %d, want 0 (no wait)", n)
	}
	s.noteWriter("bob", t0.Add(5*time.Millisecond))
	if n := s.lingerTarget(t0.Add(5 * time.Millisecond)); n != 1 {
		t.Fatalf("two active users: target %d, want 1 (no wait)", n)
	}
	for i := range 30 {
		s.noteWriter(fmt.Sprint("user", i), t0.Add(10*time.Millisecond))
	}
	if n := s.lingerTarget(t0.Add(10 * time.Millisecond)); n != 16 {
		t.Fatalf("32 active users: target %d, want 16", n)
	}
	// ann saved more than activeWindow ago: forgotten; bob still counts.
	later := t0.Add(activeWindow + time.Millisecond)
	if n := s.activeWriters(later); n != 31 {
		t.Fatalf("active users after ann's window: %d, want 31", n)
	}
	if _, ok := s.writers["ann"]; ok {
		t.Fatal("ann is still remembered after her window")
	}
	if n := s.activeWriters(t0.Add(time.Minute)); n != 0 || len(s.writers) != 0 {
		t.Fatalf("a minute later: %d active, %d remembered, want none", n, len(s.writers))
	}
}

// Close while a group lingers for company commits the group: a save that
// returned nil is in the file when it is opened again, and a save that
// lost the race with Close says the store is closed.
func TestCloseDuringLinger(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "state.db")
	acked := 0
	for round := range 20 {
		s, err := Open(path, store.Options{})
		if err != nil {
			t.Fatal(err)
		}
		now := time.Now().Add(time.Second)
		for i := range 32 { // 32 active users: a group waits for 16
			s.noteWriter(fmt.Sprint("other", i), now)
		}
		user := fmt.Sprint("user", round)
		done := make(chan error, 1)
		go func() {
			_, err := s.Save(ctx, user, store.State{Turn: "t"}, &store.HistoryEntry{ConfigVersion: "v"})
			done <- err
		}()
		time.Sleep(time.Duration(round%4) * 50 * time.Microsecond)
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		err = <-done
		s, oerr := Open(path, store.Options{})
		if oerr != nil {
			t.Fatal(oerr)
		}
		st, lerr := s.Load(ctx, user)
		s.Close()
		switch {
		case lerr != nil:
			t.Fatal(lerr)
		case err == nil && st.Version != 1:
			t.Fatalf("round %d: the save was acknowledged but the file has %+v", round, st)
		case err == nil:
			acked++
		case !errors.Is(err, errClosed):
			t.Fatalf("round %d: the save failed with %v, want the store closed", round, err)
		}
	}
	t.Logf("%d of 20 saves were acknowledged before Close", acked)
}
