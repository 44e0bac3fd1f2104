// Package webhooktest provides local OpenDialog-shaped webhook services and a
// benchmark harness comparing a call against a plain net/http POST, for the
// tests and benchmarks of the webhook action and of the engine.
package webhooktest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// Func computes the output attributes of an OpenDialog webhook from its input
// attributes; an error becomes {"successful":false,"errors":[{"message":...}]}.
type Func func(attrs map[string]any) (map[string]any, error)

// OpenDialog returns a handler speaking the OpenDialog webhook protocol with fn.
func OpenDialog(fn Func) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			InputData struct {
				Attributes map[string]any `json:"attributes"`
			} `json:"input_data"`
		}
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusBadRequest)
			_ = json.NewEncoder(w).Encode(map[string]any{"successful": false, "errors": []any{map[string]any{"message": "invalid request: " + err.Error()}}})
			return
		}
		out, err := fn(req.InputData.Attributes)
		w.Header().Set("Content-Type", "application/json")
		if err != nil {
			_ = json.NewEncoder(w).Encode(map[string]any{"successful": false, "errors": []any{map[string]any{"message": err.Error()}}})
			return
		}
		if out == nil {
			out = map[string]any{}
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"successful": true, "output_data": map[string]any{"attributes": out}})
	})
}

// FullName is the greeter scenario's service: full_name is first_name and
// last_name joined by a space; both are required.
func FullName(attrs map[string]any) (map[string]any, error) {
	first, _ := attrs["first_name"].(string)
	last, _ := attrs["last_name"].(string)
	var missing []string
	if first == "" {
		missing = append(missing, "'first_name'")
	}
	if last == "" {
		missing = append(missing, "'last_name'")
	}
	if len(missing) > 0 {
		//lint:ignore ST1005 the message is OpenDialog's own
		return nil, fmt.Errorf("Missing expected attributes: %s", strings.Join(missing, ", "))
	}
	return map[string]any{"full_name": first + " " + last}, nil
}

// NewServer starts h on 127.0.0.1 and closes it when the test ends.
func NewServer(tb testing.TB, h http.Handler) *httptest.Server {
	tb.Helper()
	srv := httptest.NewServer(h)
	tb.Cleanup(srv.Close)
	return srv
}

// PlainClient returns the baseline client: net/http with a keep-alive transport.
func PlainClient() *http.Client {
	return &http.Client{
		Timeout:   5 * time.Second,
		Transport: &http.Transport{MaxIdleConnsPerHost: 32, IdleConnTimeout: 90 * time.Second},
	}
}

// PlainPost POSTs body as JSON to url and reads the whole answer, failing on a non-2xx status.
func PlainPost(client *http.Client, url string, body []byte) error {
	resp, err := client.Post(url, "application/json", bytes.NewReader(body))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if _, err := io.ReadAll(resp.Body); err != nil {
		return err
	}
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("plain POST: status %s", resp.Status)
	}
	return nil
}

// ComparePlainPost runs three sub-benchmarks in one run: "plain_post", a
// net/http POST of body to url; name, which runs op and reports
// x_plain_post, its time per operation divided by the plain POST's; and
// name+"_paired", which alternates the two in one loop and reports both
// times and their ratio, the figure to trust on a busy machine since both
// sides see the same load.
func ComparePlainPost(b *testing.B, url string, body []byte, name string, op func() error) {
	b.Helper()
	client := PlainClient()
	defer client.CloseIdleConnections()
	var plainNs float64
	b.Run("plain_post", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			if err := PlainPost(client, url, body); err != nil {
				b.Fatal(err)
			}
		}
		plainNs = float64(b.Elapsed().Nanoseconds()) / float64(b.N)
	})
	b.Run(name, func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			if err := op(); err != nil {
				b.Fatal(err)
			}
		}
		if plainNs > 0 {
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/plainNs, "x_plain_post")
		}
	})
	b.Run(name+"_paired", func(b *testing.B) {
		var plain, other time.Duration
		for i := 0; i < b.N; i++ {
			t0 := time.Now()
			if err := PlainPost(client, url, body); err != nil {
				b.Fatal(err)
			}
			t1 := time.Now()
			if err := op(); err != nil {
				b.Fatal(err)
			}
			plain, other = plain+t1.Sub(t0), other+time.Since(t1)
		}
		b.ReportMetric(float64(plain.Nanoseconds())/float64(b.N), "plain_ns/op")
		b.ReportMetric(float64(other.Nanoseconds())/float64(b.N), name+"_ns/op")
		if plain > 0 {
			b.ReportMetric(float64(other)/float64(plain), "x_plain_post")
		}
	})
}
