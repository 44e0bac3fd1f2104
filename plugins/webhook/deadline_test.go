package webhook_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parleyhq/parley/plugins"
	"github.com/parleyhq/parley/plugins/webhook"
	"github.com/parleyhq/parley/plugins/webhook/webhooktest"
)

// slowServer answers nothing until the client goes away (or 3s pass).
func slowServer(t *testing.T, hits *atomic.Int32) string {
	t.Helper()
	srv := webhooktest.NewServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		io.Copy(io.Discard, r.Body) // so the server notices the client hanging up
		select {
		case <-r.Context().Done():
		case <-time.After(3 * time.Second):
		}
	}))
	return srv.URL
}

// A deadline shorter than the timeout bounds the very first attempt.
func TestDeadlineShorterThanTheTimeout(t *testing.T) {
	var hits atomic.Int32
	a := newAction(t, dev, cfgJSON(slowServer(t, &hits), `"timeout":"2s","deadline":"300ms"`), nil, nil)
	start := time.Now()
	res := run(a, nil)
	c := failed(t, res, webhook.OutcomeDeadline, time.Second)
	if el := time.Since(start); el < 250*time.Millisecond || el > 900*time.Millisecond {
		t.Fatalf("returned after %s; want about the 300ms deadline", el)
	}
	if c.Attempts != 1 || hits.Load() != 1 || !strings.Contains(res.Error, "300ms deadline") {
		t.Fatalf("%d attempts, %d requests, error %q", c.Attempts, hits.Load(), res.Error)
	}
}

// Retries after timeouts stop at the deadline, the last attempt cut short by it.
func TestRetriesAfterTimeoutsStopAtTheDeadline(t *testing.T) {
	var hits atomic.Int32
	a := newAction(t, dev, cfgJSON(slowServer(t, &hits), `"timeout":"150ms","deadline":"400ms","retry":{"attempts":10,"backoff":"1ms","max_backoff":"1ms"}`), nil, nil)
	start := time.Now()
	res := run(a, nil)
	c := failed(t, res, webhook.OutcomeDeadline, time.Second)
	if el := time.Since(start); el < 350*time.Millisecond || el > 900*time.Millisecond {
		t.Fatalf("returned after %s; want about the 400ms deadline", el)
	}
	if c.Attempts != 3 || hits.Load() != 3 {
		t.Fatalf("%d attempts, %d requests; want 3 (150ms, 150ms, then the 100ms left)", c.Attempts, hits.Load())
	}
}

// The caller's deadline, when sooner, ends the call and is named as such.
func TestCallersDeadline(t *testing.T) {
	var hits atomic.Int32
	a := newAction(t, dev, cfgJSON(slowServer(t, &hits), `"timeout":"1s","deadline":"2s"`), nil, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	res := a.Run(ctx, plugins.ActionRequest{})
	c := failed(t, res, webhook.OutcomeDeadline, time.Second)
	if c.Attempts != 1 || !strings.Contains(res.Error, "caller's deadline") {
		t.Fatalf("%d attempts, error %q", c.Attempts, res.Error)
	}
}

// Every attempt of a signed call sends the same body, signature and key.
func TestRetriedSignedCallSendsTheSameRequest(t *testing.T) {
	var mu sync.Mutex
	var bodies, sigs, keys []string
	srv := webhooktest.NewServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		bodies = append(bodies, string(b))
		sigs = append(sigs, r.Header.Get("X-Parley-Signature"))
		keys = append(keys, r.Header.Get("Idempotency-Key"))
		n := len(bodies)
		mu.Unlock()
		if r.ContentLength != int64(len(b)) {
			t.Errorf("Content-Length %d for a %d-byte body", r.ContentLength, len(b))
		}
		if n < 3 {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		io.WriteString(w, `{"successful":true,"output_data":{"attributes":{"ok":true}}}`)
	}))
	opts := webhook.Options{AllowPrivate: true, Secrets: webhook.SecretsMap{"SIGNING": "s3cret"}}
	a := newAction(t, opts, cfgJSON(srv.URL, `"signing":{"secret":"SIGNING"},"retry":{"attempts":3,"backoff":"5ms"}`), []string{"name"}, nil)
	res := run(a, map[string]any{"name": "Zoë <z@example.com>", "n": 1.5})
	if !res.Success || res.Calls[0].Attempts != 3 {
		t.Fatalf("failure: %s (%+v)", res.Error, res.Calls[0])
	}
	for i := 1; i < 3; i++ {
		if bodies[i] != bodies[0] || sigs[i] != sigs[0] || keys[i] != keys[0] {
			t.Fatalf("attempt %d differs: %q %q %q vs %q %q %q", i+1, bodies[i], sigs[i], keys[i], bodies[0], sigs[0], keys[0])
		}
	}
	if want := `{"input_data":{"attributes":{"n":1.5,"name":"Zoë <z@example.com>"}}}`; bodies[0] != want {
		t.Fatalf("body %s, want %s", bodies[0], want)
	}
}
