package mock

import (
	"net/http/httptest"
	"strings"
	"testing"
)

// BenchmarkOpenDialogRoute measures one computed OpenDialog answer, logged,
// through the handler (no network).
func BenchmarkOpenDialogRoute(b *testing.B) {
	cfg, err := Parse("bench.cue", []byte(`mock: routes: [{path: "/full_name", outputs: full_name: "input.first_name + ' ' + input.last_name"}]`))
	if err != nil {
		b.Fatal(err)
	}
	s := New(cfg, Options{})
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			req := httptest.NewRequest("POST", "/full_name", strings.NewReader(johnSmith))
			req.Header.Set("Authorization", "Bearer t")
			w := httptest.NewRecorder()
			s.ServeHTTP(w, req)
			if w.Code != 200 {
				b.Fatalf("status %d", w.Code)
			}
		}
	})
}

// BenchmarkLoad measures loading a mock file with a few routes.
func BenchmarkLoad(b *testing.B) {
	src := []byte(`mock: routes: [
	{path: "/full_name", outputs: full_name: "input.first_name + ' ' + input.last_name"},
	{path: "/flaky", fail: "503", fail_times: 2, retry_after: 0},
	{path: "/users/{id}", method: "GET", protocol: "http", response: body: {kind: "user"}, outputs: id: "request.params.id"},
]`)
	for b.Loop() {
		if _, err := Parse("bench.cue", src); err != nil {
			b.Fatal(err)
		}
	}
}
