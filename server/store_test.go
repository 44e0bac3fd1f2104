package server_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parleyhq/parley/engine"
	"github.com/parleyhq/parley/plugins/store"
	_ "github.com/parleyhq/parley/plugins/store/redis"
	"github.com/parleyhq/parley/plugins/store/redis/redistest"
	"github.com/parleyhq/parley/server"
)

// The store-parameterised tests and benchmarks (TestStalledWebhook,
// BenchmarkStoreTurn, BenchmarkStalledWebhook) run on Redis too, each on a
// redis-server of its own.
func init() {
	testStores = append(testStores, testStore{"redis", func(tb testing.TB) string {
		return redistest.Start(tb, redistest.Options{}).URL("")
	}})
}

// TestStoreFailures serves the greeter on a real Redis: a user whose lease
// another replica holds gets a JSON 409, and while Redis is away turns, the
// context and history APIs (ours and the widget's) and DELETE get JSON 503s
// and /readyz is not ready; when Redis is
// back the server serves again by itself, the state it had kept.
func TestStoreFailures(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{Persist: true})
	ctx := context.Background()
	url := srv.URL("prefix=srv:&lease_wait=200ms")
	st, err := store.Open(ctx, url, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	_, mockURL := startMock(t, "../mocks/greeter.cue")
	e := openGreeter(t, mockURL, engine.WithStore(st))
	_, base := startServer(t, e, server.Options{AdminKeys: []string{adminKey}})
	turn := func(user string) response {
		return do(t, "POST", base+"/incoming/webchat", adminKey, "application/json", webchat(user, "chat_open", "", ""))
	}
	turn("ann").ok(t, nil)
	do(t, "GET", base+"/readyz", "", "", "").ok(t, nil)

	// Another replica runs a turn of ann: ann waits lease_wait, then 409.
	other, err := store.Open(ctx, url, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	_, release, err := other.(store.Leaser).Lease(ctx, "ann")
	if err != nil {
		t.Fatal(err)
	}
	r := turn("ann")
	r.jsonError(t, http.StatusConflict, server.CodeConflict)
	if r.header.Get("Retry-After") == "" {
		t.Error("a 409 without Retry-After")
	}
	do(t, "POST", base+"/api/users/ann/context", adminKey, "application/json", `{"key":"first_name","value":"Ann"}`).
		jsonError(t, http.StatusConflict, server.CodeConflict)
	turn("bob").ok(t, nil) // other users go on
	release()
	turn("ann").ok(t, nil)

	srv.Kill()
	start := time.Now()
	r = turn("ann")
	r.jsonError(t, http.StatusServiceUnavailable, server.CodeUnavailable)
	if r.header.Get("Retry-After") == "" {
		t.Error("a 503 without Retry-After")
	}
	do(t, "GET", base+"/api/users/ann/context", adminKey, "", "").jsonError(t, http.StatusServiceUnavailable, server.CodeUnavailable)
	do(t, "POST", base+"/api/users/ann/context", adminKey, "application/json", `{"key":"first_name","value":"Ann"}`).
		jsonError(t, http.StatusServiceUnavailable, server.CodeUnavailable)
	do(t, "GET", base+"/api/users/ann/history", adminKey, "", "").jsonError(t, http.StatusServiceUnavailable, server.CodeUnavailable)
	do(t, "GET", base+"/user/ann/history", adminKey, "", "").jsonError(t, http.StatusServiceUnavailable, server.CodeUnavailable)
	do(t, "DELETE", base+"/api/users/ann", adminKey, "", "").jsonError(t, http.StatusServiceUnavailable, server.CodeUnavailable)
	do(t, "GET", base+"/readyz", "", "", "").jsonError(t, http.StatusServiceUnavailable, server.CodeUnavailable)
	do(t, "GET", base+"/healthz", "", "", "").ok(t, nil) // alive, just not ready
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("eight requests with Redis away took %s: not failing fast", d)
	}

	srv.Restart()
	deadline := time.Now().Add(10 * time.Second)
	for do(t, "GET", base+"/readyz", "", "", "").status != http.StatusOK {
		if time.Now().After(deadline) {
			t.Fatal("not ready 10s after Redis came back")
		}
		time.Sleep(50 * time.Millisecond)
	}
	turn("ann").ok(t, nil)
	var c contexts
	do(t, "GET", base+"/api/users/bob/context", adminKey, "", "").ok(t, &c)
	if c.Conversation["current_intent"] != "welcome_response" {
		t.Fatalf("bob's position after Redis came back: %+v", c.Conversation)
	}
}

// BenchmarkStoreTurnPaired runs the turns of BenchmarkStoreTurn on every
// store in alternating rounds of one loop, so that each store sees the
// same machine load (this machine is shared and its load swings within
// seconds), and reports each store's turns/s and its fraction of the
// memory store's (STORE_x_memory). Target: at 32 concurrent users the file
// and Redis stores reach at least 0.5.
func BenchmarkStoreTurnPaired(b *testing.B) {
	for _, users := range []int{1, 32} {
		b.Run(fmt.Sprintf("users=%d", users), func(b *testing.B) {
			servers := make([]*storeServer, len(testStores))
			for i, ts := range testStores {
				servers[i] = startStoreServer(b, ts.url(b), benchScenario)
			}
			bodies := make([][]byte, users)
			for u := range bodies {
				bodies[u] = []byte(webchat(fmt.Sprint("user-", u), "text", "hello", ""))
			}
			round := 40 * users // turns per store and round: 10-100 ms
			elapsed := make([]time.Duration, len(servers))
			b.ResetTimer()
			for done := 0; done < b.N; done += round {
				n := min(round, b.N-done)
				for i, s := range servers {
					d, err := turnRound(s, bodies, n, nil)
					if err != nil {
						b.Fatalf("%s store: %v", testStores[i].name, err)
					}
					elapsed[i] += d
				}
			}
			b.StopTimer()
			memory := float64(b.N) / elapsed[0].Seconds()
			for i, ts := range testStores {
				rate := float64(b.N) / elapsed[i].Seconds()
				b.ReportMetric(rate, ts.name+"_turns/s")
				if i > 0 {
					b.ReportMetric(rate/memory, ts.name+"_x_memory")
				}
			}
			b.ReportMetric(0, "ns/op") // the time per op sums every store's: meaningless
		})
	}
}

// turnRound sends n turns to s, spread over one goroutine per body (user),
// and returns the wall time they took. When lat is not nil, lat[u] gets the
// latency of each turn of body u.
func turnRound(s *storeServer, bodies [][]byte, n int, lat [][]time.Duration) (time.Duration, error) {
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, len(bodies))
	start := time.Now()
	for u := range bodies {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var rd bytes.Reader
			for next.Add(1) <= int64(n) {
				rd.Reset(bodies[u])
				var t0 time.Time
				if lat != nil {
					t0 = time.Now()
				}
				resp, err := s.client.Post(s.base+"/incoming/webchat", "application/json", &rd)
				if err != nil {
					errs <- err
					return
				}
				_, err = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if err == nil && resp.StatusCode != http.StatusOK {
					err = fmt.Errorf("status %d", resp.StatusCode)
				}
				if err != nil {
					errs <- err
					return
				}
				if lat != nil {
					lat[u] = append(lat[u], time.Since(t0))
				}
			}
		}()
	}
	wg.Wait()
	d := time.Since(start)
	close(errs)
	return d, <-errs
}
