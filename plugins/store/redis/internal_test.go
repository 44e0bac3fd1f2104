package redis

import (
	"context"
	"fmt"
	"net/url"
	"sync"
	"testing"

	"github.com/parleyhq/parley/plugins/store"
	"github.com/parleyhq/parley/plugins/store/redis/redistest"
)

// TestRetriedSaveIsNotAConflict runs the save script twice with one save
// id, as a client retrying after a lost reply does: the second run reports
// the first's success instead of a conflict, and stores nothing more.
func TestRetriedSaveIsNotAConflict(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	ctx := context.Background()
	u, _ := url.Parse(srv.URL(""))
	s, err := Open(ctx, u, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	k := s.keys("u")
	for try := 0; try < 2; try++ {
		res, err := saveScript.Run(ctx, s.client, k[:], 0, `{"turn":"t"}`, `{"config_version":"v1"}`, 10, 0, "", 0, "save-1").Int64Slice()
		if err != nil || res[0] != resOK || res[1] != 1 {
			t.Fatalf("try %d: %v, %v", try, res, err)
		}
	}
	if h, _ := s.History(ctx, "u", 0); len(h) != 1 {
		t.Fatalf("history has %d entries after a retried save", len(h))
	}
	res, err := saveScript.Run(ctx, s.client, k[:], 0, `{}`, "", 10, 0, "", 0, "save-2").Int64Slice()
	if err != nil || res[0] != resConflict {
		t.Fatalf("another save from version 0 = %v, %v; want a conflict", res, err)
	}
}

// TestConcurrentTurnsShareRoundTrips runs 16 users' leased turns at once
// through the autopipeliner (see conn; the test holds the count of commands
// in flight above zero so that every command takes that path), after Redis
// forgot its scripts (SCRIPT FLUSH, as after a restart): every turn is
// saved once and each user's history holds each of its turns in order.
func TestConcurrentTurnsShareRoundTrips(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	ctx := context.Background()
	u, _ := url.Parse(srv.URL("prefix=rt:"))
	s, err := Open(ctx, u, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.client.ScriptFlush(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	s.running.Add(1) // as if another script were in flight
	defer s.running.Add(-1)
	const users, turns = 16, 25
	var wg sync.WaitGroup
	errs := make(chan error, users)
	for i := range users {
		wg.Add(1)
		go func() {
			defer wg.Done()
			user := fmt.Sprint("user-", i)
			for n := range turns {
				lctx, release, err := s.Lease(ctx, user)
				if err != nil {
					errs <- err
					return
				}
				st, err := s.Load(lctx, user)
				if err == nil && st.Version != uint64(n) {
					err = fmt.Errorf("%s: version %d before turn %d", user, st.Version, n)
				}
				if err == nil {
					st.Turn = fmt.Sprint("t", n)
					_, err = s.Save(lctx, user, st, &store.HistoryEntry{ConfigVersion: fmt.Sprint(n)})
				}
				release()
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	for i := range users {
		user := fmt.Sprint("user-", i)
		st, err := s.Load(ctx, user)
		if err != nil || st.Version != turns || st.Turn != fmt.Sprint("t", turns-1) {
			t.Fatalf("%s after %d turns: %+v, %v", user, turns, st, err)
		}
		h, err := s.History(ctx, user, 0)
		if err != nil || len(h) != turns {
			t.Fatalf("%s's history: %d entries, %v; want %d", user, len(h), err, turns)
		}
		for n, e := range h {
			if e.ConfigVersion != fmt.Sprint(n) {
				t.Fatalf("%s's history entry %d is of turn %s", user, n, e.ConfigVersion)
			}
		}
	}
}
