package server_test

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"syscall"
	"testing"
	"testing/fstest"
	"time"

	"github.com/parleyhq/parley/engine"
	"github.com/parleyhq/parley/server"
)

// benchScenario answers "hello" in an open turn: every utterance is a full
// turn (interpretation, selection, rendering, save) with no action.
const benchScenario = `
scenarios: bench: conversations: main: {
	behaviors: ["starting"]
	scenes: main: {
		behaviors: ["starting"]
		turns: hello: {
			behaviors: ["starting", "open"]
			request: [{id: "hello", utterances: ["hello", "hi there"]}]
			response: [{id: "hello_back", message: {text: "Hello {{ user.name }}!", buttons: [{text: "Again", callback: "hello"}]}}]
		}
	}
}
`

// benchUsers is how many users the load benchmark spreads its turns over,
// so that each stays far below the per-user rate limit, as real users do.
const benchUsers = 20_000

// BenchmarkWebchat is the load benchmark of POST /incoming/webchat: the
// server on a real loopback listener with the in-memory store, no actions,
// the default limits (rate limit, traces) on, and keep-alive clients on the
// same machine in parallel goroutines. Target: at least 15,000 turns/s on 2 cores.
func BenchmarkWebchat(b *testing.B) {
	e, err := engine.OpenFS(fstest.MapFS{"main.cue": {Data: []byte(benchScenario)}}, engine.WithEnvironment(devEnv(b)))
	if err != nil {
		b.Fatal(err)
	}
	defer e.Close()
	// One client address creates all 20,000 users: no new-user limit here.
	s, err := server.New(e, server.Options{APIKeys: []string{apiKey}, NewUserRate: -1})
	if err != nil {
		b.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	hs := &http.Server{Handler: s.Handler(), ReadHeaderTimeout: 10 * time.Second}
	go hs.Serve(ln)
	defer hs.Close()
	url := "http://" + ln.Addr().String() + "/incoming/webchat"

	bodies := make([][]byte, benchUsers)
	for i := range bodies {
		bodies[i] = []byte(fmt.Sprintf(`{"notification":"message","user_id":"user-%d","author":"user-%d","content":{"type":"text","author":"user-%d","data":{"text":"Hello"}}}`, i, i, i))
	}
	const parallelism = 4 // goroutines per GOMAXPROCS
	tr := &http.Transport{MaxIdleConns: 64, MaxIdleConnsPerHost: 64, DisableCompression: true}
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	var next atomic.Int64
	b.SetParallelism(parallelism)
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	cpu0 := cpuTime()
	b.RunParallel(func(pb *testing.PB) {
		var rd bytes.Reader
		buf := make([]byte, 4096)
		for pb.Next() {
			body := bodies[next.Add(1)%benchUsers]
			rd.Reset(body)
			req, err := http.NewRequest("POST", url, &rd)
			if err != nil {
				b.Error(err)
				return
			}
			req.ContentLength = int64(len(body))
			req.Header["Content-Type"] = []string{"application/json"}
			req.Header["Authorization"] = []string{"Bearer " + apiKey}
			resp, err := c.Do(req)
			if err != nil {
				b.Error(err)
				return
			}
			n, _ := io.ReadFull(resp.Body, buf)
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK || !bytes.Contains(buf[:n], []byte(`"Hello !"`)) {
				b.Errorf("status %d: %s", resp.StatusCode, buf[:n])
				return
			}
		}
	})
	elapsed := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "turns/s")
	// The process's CPU time per turn (server and clients): steadier than
	// the wall time on a machine shared with other work.
	b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N), "cpu-ns/op")
}

// cpuTime is the user and system CPU time of the process so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkWebchatHandler measures the handler alone, without the network:
// decoding, checks, rate limit, the turn, metrics, trace and encoding.
func BenchmarkWebchatHandler(b *testing.B) {
	e, err := engine.OpenFS(fstest.MapFS{"main.cue": {Data: []byte(benchScenario)}}, engine.WithEnvironment(devEnv(b)))
	if err != nil {
		b.Fatal(err)
	}
	defer e.Close()
	// One client address creates all 20,000 users: no new-user limit here.
	s, err := server.New(e, server.Options{APIKeys: []string{apiKey}, NewUserRate: -1})
	if err != nil {
		b.Fatal(err)
	}
	h := s.Handler()
	bodies := make([][]byte, benchUsers)
	for i := range bodies {
		bodies[i] = []byte(fmt.Sprintf(`{"notification":"message","user_id":"user-%d","content":{"type":"text","data":{"text":"Hello"}}}`, i))
	}
	var next atomic.Int64
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		var rd bytes.Reader
		for pb.Next() {
			rd.Reset(bodies[next.Add(1)%benchUsers])
			req := httptest.NewRequest("POST", "/incoming/webchat", &rd)
			req.Header["Content-Type"] = []string{"application/json"}
			req.Header["Authorization"] = []string{"Bearer " + apiKey}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, req)
			if w.Code != http.StatusOK {
				b.Fatalf("status %d: %s", w.Code, w.Body)
			}
		}
	})
}
