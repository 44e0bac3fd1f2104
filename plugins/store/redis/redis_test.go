package redis_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/parleyhq/parley/plugins/store"
	redisstore "github.com/parleyhq/parley/plugins/store/redis"
	"github.com/parleyhq/parley/plugins/store/redis/redistest"
	"github.com/parleyhq/parley/plugins/store/storetest"
)

var prefixes atomic.Int64

// open opens a store on srv through store.Open, with a prefix of its own
// (so that it starts empty) and the URL query q.
func open(t testing.TB, srv *redistest.Server, q string, opts store.Options) store.Store {
	t.Helper()
	p := fmt.Sprintf("prefix=t%d:", prefixes.Add(1))
	if q != "" {
		p += "&" + q
	}
	s, err := store.Open(context.Background(), srv.URL(p), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// client returns a plain go-redis client on srv, to look at the keys.
func client(t testing.TB, srv *redistest.Server) *goredis.Client {
	c := goredis.NewClient(&goredis.Options{Addr: srv.Addr, Password: ""})
	t.Cleanup(func() { c.Close() })
	return c
}

func TestConformance(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	t.Run("default history limit", func(t *testing.T) {
		storetest.Run(t, func(t *testing.T) store.Store { return open(t, srv, "", store.Options{}) }, storetest.Options{
			NewExpiring: func(t *testing.T, retention time.Duration) store.Store {
				return open(t, srv, "", store.Options{Retention: retention})
			},
		})
	})
	t.Run("history limit 3", func(t *testing.T) {
		storetest.Run(t, func(t *testing.T) store.Store { return open(t, srv, "", store.Options{HistoryLimit: 3}) },
			storetest.Options{HistoryLimit: 3})
	})
}

func TestKeysShareAHashTag(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	ctx := context.Background()
	s, err := store.Open(ctx, srv.URL("prefix=app:"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	lctx, release, err := s.(store.Leaser).Lease(ctx, "ann")
	if err != nil {
		t.Fatal(err)
	}
	held, err := client(t, srv).Keys(ctx, "*").Result()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Save(lctx, "ann", store.State{Conversation: "c"}, &store.HistoryEntry{ConfigVersion: "v1"}); err != nil {
		t.Fatal(err)
	}
	saved, err := client(t, srv).Keys(ctx, "*").Result()
	if err != nil {
		t.Fatal(err)
	}
	release()
	keys := append(saved, "app:{user:ann}:lease")
	if !slices.Contains(held, "app:{user:ann}:lease") || slices.Contains(saved, "app:{user:ann}:lease") {
		t.Errorf("keys while the lease is held: %v; after the save, which releases it: %v", held, saved)
	}
	want := []string{"app:{user:ann}:fence", "app:{user:ann}:history", "app:{user:ann}:lease", "app:{user:ann}:state"}
	slices.Sort(keys)
	got := strings.Join(keys, " ")
	if got != strings.Join(want, " ") {
		t.Fatalf("keys = %s, want %s", got, strings.Join(want, " "))
	}
}

func TestLeaseExcludesOtherProcesses(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	ctx := context.Background()
	p := fmt.Sprintf("prefix=lease%d:", prefixes.Add(1))
	a, err := store.Open(ctx, srv.URL(p+"&lease_ttl=300ms&lease_wait=200ms"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := store.Open(ctx, srv.URL(p+"&lease_ttl=300ms&lease_wait=3s"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	la, lb := a.(store.Leaser), b.(store.Leaser)

	actx, releaseA, err := la.Lease(ctx, "u")
	if err != nil {
		t.Fatal(err)
	}
	// Held past several lease TTLs: renewal keeps it.
	time.Sleep(time.Second)
	if actx.Err() != nil {
		t.Fatalf("the lease was lost while held: %v", context.Cause(actx))
	}
	start := time.Now()
	_, _, err = la.Lease(ctx, "u") // a second holder in the same process waits too
	if !errors.Is(err, store.ErrLeaseHeld) || time.Since(start) < 150*time.Millisecond {
		t.Fatalf("a second lease = %v after %s, want ErrLeaseHeld after lease_wait", err, time.Since(start))
	}

	// b waits for a's lease and gets it as soon as a's save releases it.
	got := make(chan time.Time, 1)
	done := make(chan struct{})
	defer func() { <-done }()
	go func() {
		defer close(done)
		bctx, releaseB, err := lb.Lease(ctx, "u")
		if err != nil {
			t.Error(err)
			got <- time.Time{}
			return
		}
		got <- time.Now()
		st, err := b.Load(bctx, "u")
		if err != nil || st.Turn != "a" || st.Version != 1 {
			t.Errorf("b loaded %+v, %v", st, err)
		}
		releaseB()
	}()
	time.Sleep(200 * time.Millisecond)
	select {
	case <-got:
		t.Fatal("b took the lease while a held it")
	default:
	}
	released := time.Now()
	if _, err := a.Save(actx, "u", store.State{Turn: "a"}, nil); err != nil {
		t.Fatalf("saving under a renewed lease: %v", err)
	}
	// A lease covers one write.
	if _, err := a.Save(actx, "u", store.State{Version: 1}, nil); !errors.Is(err, store.ErrLeaseHeld) {
		t.Errorf("a second save under one lease = %v, want ErrLeaseHeld", err)
	}
	releaseA()
	if actx.Err() == nil {
		t.Fatal("the leased context is not done after release")
	}
	at := <-got
	if at.IsZero() {
		return
	}
	if d := at.Sub(released); d > 500*time.Millisecond {
		t.Fatalf("b took the lease %s after a's save released it", d)
	}
}

func TestCrashedHolderLeaseExpires(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	ctx := context.Background()
	p := fmt.Sprintf("prefix=crash%d:", prefixes.Add(1))
	const ttl = 500 * time.Millisecond
	a, err := store.Open(ctx, srv.URL(p+"&lease_ttl=500ms"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	b, err := store.Open(ctx, srv.URL(p+"&lease_ttl=500ms&lease_wait=5s"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	actx, releaseA, err := a.(store.Leaser).Lease(ctx, "u")
	if err != nil {
		t.Fatal(err)
	}
	// a "crashes": its connections close, it never renews or releases.
	crashed := time.Now()
	a.Close()
	_, releaseB, err := b.(store.Leaser).Lease(ctx, "u")
	if err != nil {
		t.Fatal(err)
	}
	waited := time.Since(crashed)
	releaseB()
	if waited > ttl+time.Second {
		t.Fatalf("b waited %s for a crashed holder's lease, want at most the lease TTL %s", waited, ttl)
	}
	// The crashed holder's context ends: it could not renew.
	select {
	case <-actx.Done():
		if !errors.Is(context.Cause(actx), store.ErrLeaseHeld) {
			t.Fatalf("cause = %v", context.Cause(actx))
		}
	case <-time.After(2 * ttl):
		t.Fatal("the crashed holder's context is not done after two lease TTLs")
	}
	releaseA()
}

func TestSaveIsFencedByTheLease(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	ctx := context.Background()
	p := fmt.Sprintf("prefix=fence%d:", prefixes.Add(1))
	a, err := store.Open(ctx, srv.URL(p+"&lease_ttl=10s"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := store.Open(ctx, srv.URL(p), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	actx, releaseA, err := a.(store.Leaser).Lease(ctx, "u")
	if err != nil {
		t.Fatal(err)
	}
	defer releaseA()
	st, err := a.Load(actx, "u")
	if err != nil {
		t.Fatal(err)
	}
	// a pauses (a long GC, a frozen VM) past its lease; b takes over and saves.
	rc := client(t, srv)
	if err := rc.Del(ctx, p[len("prefix="):]+"{user:u}:lease").Err(); err != nil {
		t.Fatal(err)
	}
	bctx, releaseB, err := b.(store.Leaser).Lease(ctx, "u")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Save(bctx, "u", store.State{Turn: "b"}, &store.HistoryEntry{ConfigVersion: "b"}); err != nil {
		t.Fatal(err)
	}
	releaseB()
	// a wakes up and saves from the state it loaded: refused, nothing stored.
	st.Turn = "a"
	if _, err := a.Save(actx, "u", st, &store.HistoryEntry{ConfigVersion: "a"}); !errors.Is(err, store.ErrLeaseHeld) {
		t.Fatalf("a stale holder's save = %v, want ErrLeaseHeld", err)
	}
	if err := a.Delete(actx, "u"); !errors.Is(err, store.ErrLeaseHeld) {
		t.Fatalf("a stale holder's delete = %v, want ErrLeaseHeld", err)
	}
	got, _ := b.Load(ctx, "u")
	h, _ := b.History(ctx, "u", 0)
	if got.Turn != "b" || got.Version != 1 || len(h) != 1 || h[0].ConfigVersion != "b" {
		t.Fatalf("after the stale save: %+v, history %+v", got, h)
	}
}

func TestFencingTokensIncrease(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	ctx := context.Background()
	s := open(t, srv, "", store.Options{})
	rs := s.(*redisstore.Store)
	prefix := rs.Config().Prefix
	rc := client(t, srv)
	fence := func() int64 {
		n, err := rc.HGet(ctx, prefix+"{user:u}:state", "f").Int64()
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	var last int64
	for i := 0; i < 3; i++ {
		lctx, release, err := rs.Lease(ctx, "u")
		if err != nil {
			t.Fatal(err)
		}
		st, _ := rs.Load(lctx, "u")
		if _, err := rs.Save(lctx, "u", st, nil); err != nil {
			t.Fatal(err)
		}
		release()
		if f := fence(); f <= last {
			t.Fatalf("fencing token %d after %d", f, last)
		} else {
			last = f
		}
	}
	// Even when the counter is lost, the next token is above the stored one.
	rc.Del(ctx, prefix+"{user:u}:fence")
	lctx, release, err := rs.Lease(ctx, "u")
	if err != nil {
		t.Fatal(err)
	}
	st, _ := rs.Load(lctx, "u")
	if _, err := rs.Save(lctx, "u", st, nil); err != nil {
		t.Fatalf("saving after the counter was lost: %v", err)
	}
	release()
	if f := fence(); f <= last {
		t.Fatalf("fencing token %d after %d", f, last)
	}
}

func TestUnavailableAndRecovery(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{Persist: true})
	ctx := context.Background()
	s := open(t, srv, "", store.Options{})
	if _, err := s.Save(ctx, "u", store.State{Turn: "kept"}, nil); err != nil {
		t.Fatal(err)
	}
	srv.Kill()
	start := time.Now()
	checks := map[string]error{}
	_, checks["Load"] = s.Load(ctx, "u")
	_, checks["Save"] = s.Save(ctx, "u", store.State{Version: 1}, nil)
	_, checks["History"] = s.History(ctx, "u", 0)
	checks["Delete"] = s.Delete(ctx, "u")
	_, _, checks["Lease"] = s.(store.Leaser).Lease(ctx, "u")
	checks["Ping"] = s.(store.Pinger).Ping(ctx)
	checks["Export"] = s.(store.Porter).Export(ctx, func(store.Record) error { return nil })
	for name, err := range checks {
		if !errors.Is(err, store.ErrUnavailable) {
			t.Errorf("%s with redis down = %v, want ErrUnavailable", name, err)
		}
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("seven calls with redis down took %s: not failing fast", d)
	}
	srv.Restart()
	deadline := time.Now().Add(10 * time.Second)
	for s.(store.Pinger).Ping(ctx) != nil {
		if time.Now().After(deadline) {
			t.Fatal("the store did not recover in 10s after redis came back")
		}
		time.Sleep(50 * time.Millisecond)
	}
	st, err := s.Load(ctx, "u")
	if err != nil || st.Turn != "kept" || st.Version != 1 {
		t.Fatalf("after recovery: %+v, %v", st, err)
	}
	if _, err := s.Save(ctx, "u", st, nil); err != nil {
		t.Fatal(err)
	}
}

func TestSecretsStayOutOfErrors(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{Password: "hunter2-secret"})
	ctx := context.Background()
	s, err := store.Open(ctx, srv.URL(""), store.Options{})
	if err != nil {
		t.Fatalf("opening with the right password: %v", err)
	}
	if _, err := s.Save(ctx, "u", store.State{}, nil); err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(s); strings.Contains(got, "hunter2") {
		t.Errorf("the store prints as %s", got)
	}
	srv.Kill()
	if _, err := s.Load(ctx, "u"); err == nil || strings.Contains(err.Error(), "hunter2") {
		t.Errorf("Load with redis down = %v", err)
	}
	s.Close()
	srv.Restart()

	wrong := strings.Replace(srv.URL(""), "hunter2-secret", "wrong-hunter2", 1)
	for _, u := range []string{
		wrong,
		wrong + "?lease_ttl=forever",
		wrong + "?no_such_option=1",
		wrong + "?prefix=a{b",
		strings.Replace(srv.URL(""), "/0", "/x", 1),
		"redis://:hunter2-secret@127.0.0.1:1/0",
		"rediss://:hunter2-secret@127.0.0.1:1/0",
	} {
		s, err := store.Open(ctx, u, store.Options{})
		if err == nil {
			s.Close()
			t.Errorf("Open(%s) succeeded", strings.ReplaceAll(u, "hunter2", "xxx"))
			continue
		}
		if strings.Contains(err.Error(), "hunter2") {
			t.Errorf("the error shows the password: %v", strings.ReplaceAll(err.Error(), "hunter2", "<PASSWORD>"))
		}
		t.Log(err)
	}
	if _, err := store.Open(ctx, "redis://:hunter2-secret@127.0.0.1:1/0", store.Options{}); !errors.Is(err, store.ErrUnavailable) {
		t.Errorf("opening an unreachable redis = %v, want ErrUnavailable", err)
	}
}

func TestExportImportRoundTrip(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	ctx := context.Background()
	from := open(t, srv, "", store.Options{})
	to := open(t, srv, "", store.Options{})
	want := map[string]store.Record{}
	for i := 0; i < 1200; i++ { // more than one SCAN batch
		id := fmt.Sprint("user-", i)
		if i == 7 {
			id = "odd }:state* [id]" // characters of hash tags, key suffixes and globs
		}
		var st store.State
		var err error
		for turn := 0; turn <= i%3; turn++ {
			st.User = map[string]any{"n": float64(turn)}
			st.Version, err = from.Save(ctx, id, st, &store.HistoryEntry{ConfigVersion: fmt.Sprint("v", turn), Intents: []string{"i"}})
			if err != nil {
				t.Fatal(err)
			}
		}
		got, _ := from.Load(ctx, id)
		h, _ := from.History(ctx, id, 0)
		want[id] = store.Record{UserID: id, State: got, History: h}
	}
	var recs []store.Record
	if err := from.(store.Porter).Export(ctx, func(r store.Record) error { recs = append(recs, r); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(recs) != len(want) {
		t.Fatalf("exported %d users, want %d", len(recs), len(want))
	}
	for pass := 0; pass < 2; pass++ { // importing twice leaves the same data
		for _, r := range recs {
			if err := to.(store.Porter).Import(ctx, r); err != nil {
				t.Fatal(err)
			}
		}
	}
	for id, w := range want {
		st, _ := to.Load(ctx, id)
		h, _ := to.History(ctx, id, 0)
		if !st.Updated.Equal(w.State.Updated) {
			t.Fatalf("%s: Updated %v, want %v", id, st.Updated, w.State.Updated)
		}
		st.Updated = w.State.Updated
		if !reflect.DeepEqual(st, w.State) || len(h) != len(w.History) {
			t.Fatalf("%s imported as %+v (%d history), want %+v (%d)", id, st, len(h), w.State, len(w.History))
		}
		for i := range h {
			if h[i].ConfigVersion != w.History[i].ConfigVersion {
				t.Fatalf("%s: history %d = %+v", id, i, h[i])
			}
		}
	}
	// Versions are preserved: a save from the exported version goes on.
	w := want["user-2"]
	if v, err := to.Save(ctx, "user-2", w.State, nil); err != nil || v != w.State.Version+1 {
		t.Fatalf("saving an imported user = %d, %v", v, err)
	}
	// An error of fn stops the export.
	stop := errors.New("stop")
	n := 0
	err := from.(store.Porter).Export(ctx, func(store.Record) error { n++; return stop })
	if !errors.Is(err, stop) || n != 1 {
		t.Fatalf("Export = %v after %d records", err, n)
	}
}

func TestLeasedTurnsOfTwoProcessesLoseNoUpdate(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	ctx := context.Background()
	p := fmt.Sprintf("prefix=turns%d:&lease_wait=30s", prefixes.Add(1))
	var stores []store.Store
	for i := 0; i < 2; i++ {
		s, err := store.Open(ctx, srv.URL(p), store.Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		stores = append(stores, s)
	}
	const users, turns = 4, 50
	var wg sync.WaitGroup
	var running [users]atomic.Int32
	for _, s := range stores {
		for w := 0; w < 3; w++ { // several turns of one user at once in each process
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; i < turns; i++ {
					u := i % users
					id := fmt.Sprint("u", u)
					lctx, release, err := s.(store.Leaser).Lease(ctx, id)
					if err != nil {
						t.Error(err)
						return
					}
					if running[u].Add(1) != 1 {
						t.Errorf("two turns of %s at once", id)
					}
					st, err := s.Load(lctx, id)
					running[u].Add(-1) // the save releases the lease: another may start at once
					if err == nil {
						n, _ := st.User["n"].(float64)
						st.User = map[string]any{"n": n + 1}
						_, err = s.Save(lctx, id, st, &store.HistoryEntry{ConfigVersion: fmt.Sprint(n + 1)})
					}
					release()
					if err != nil {
						t.Error(err)
						return
					}
				}
			}()
		}
	}
	wg.Wait()
	total := 0
	for u := 0; u < users; u++ {
		st, _ := stores[0].Load(ctx, fmt.Sprint("u", u))
		n, _ := st.User["n"].(float64)
		if uint64(n) != st.Version {
			t.Errorf("u%d: n = %v, version %d", u, n, st.Version)
		}
		total += int(n)
	}
	if want := 2 * 3 * turns; total != want {
		t.Fatalf("%d updates stored, want %d", total, want)
	}
}

func TestTLS(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{TLS: true, Password: "tls-secret"})
	ctx := context.Background()
	u := srv.URL("")
	if !strings.HasPrefix(u, "rediss://") {
		t.Fatalf("URL %s", u)
	}
	s, err := store.Open(ctx, u, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	storetest.Run(t, func(t *testing.T) store.Store { return open(t, srv, "", store.Options{}) }, storetest.Options{})
	// Plain redis:// to the TLS port does not get through.
	plain := strings.Replace(strings.Replace(u, "rediss://", "redis://", 1), "?skip_verify=true", "", 1)
	if s, err := store.Open(ctx, plain+"?dial_timeout=1s&read_timeout=1s", store.Options{}); err == nil {
		s.Close()
		t.Fatal("a plain connection to the TLS port worked")
	} else if strings.Contains(err.Error(), "tls-secret") {
		t.Fatalf("the error shows the password: %v", err)
	}
}
