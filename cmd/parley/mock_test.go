package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// lockedBuffer is an io.Writer safe for concurrent use, read line by line.
type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

const greeterMock = `mock: routes: [{
	name: "full_name"
	path: "/full_name"
	outputs: full_name: "input.first_name + ' ' + input.last_name"
}]
`

func TestMockCommandServesOnLoopback(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "greeter.cue")
	if err := os.WriteFile(file, []byte(greeterMock), 0o644); err != nil {
		t.Fatal(err)
	}
	var out, errb lockedBuffer
	root := newRootCmd(streams{in: strings.NewReader(""), out: &out, err: &errb})
	root.SetArgs([]string{"mock", file, "--addr", "127.0.0.1:0"})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- root.ExecuteContext(ctx) }()

	// Wait (bounded) for the address it listens on.
	listening := regexp.MustCompile(`listening on (http://127\.0\.0\.1:\d+)`)
	var base string
	deadline := time.Now().Add(10 * time.Second)
	for base == "" {
		if m := listening.FindStringSubmatch(out.String()); m != nil {
			base = m[1]
			break
		}
		select {
		case err := <-done:
			t.Fatalf("command ended early: %v\n%s%s", err, out.String(), errb.String())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("not listening after 10s:\n%s", out.String())
		}
	}

	c := &http.Client{Timeout: 5 * time.Second}
	resp, err := c.Post(base+"/full_name", "application/json",
		strings.NewReader(`{"input_data":{"attributes":{"first_name":"John","last_name":"Smith"}}}`))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if want := `{"successful":true,"output_data":{"attributes":{"full_name":"John Smith"}}}` + "\n"; string(body) != want {
		t.Fatalf("got %s, want %s", body, want)
	}

	resp, err = c.Get(base + "/_requests")
	if err != nil {
		t.Fatal(err)
	}
	var list struct {
		Requests []struct {
			Path  string          `json:"path"`
			Route string          `json:"route"`
			Body  json.RawMessage `json:"body"`
		} `json:"requests"`
	}
	err = json.NewDecoder(resp.Body).Decode(&list)
	resp.Body.Close()
	if err != nil || len(list.Requests) != 1 || list.Requests[0].Route != "full_name" ||
		!strings.Contains(string(list.Requests[0].Body), `"last_name":"Smith"`) {
		t.Fatalf("requests: %+v (%v)", list, err)
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("command returned %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("command did not stop within 10s of cancellation")
	}
	text := out.String()
	for _, want := range []string{"1 route(s) from", "POST   /full_name (opendialog)", "POST /full_name -> 200 [full_name]", "parley mock: stopped"} {
		if !strings.Contains(text, want) {
			t.Errorf("output lacks %q:\n%s", want, text)
		}
	}
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		if strings.Contains(sc.Text(), "POST /full_name ->") && !strings.Contains(sc.Text(), `"first_name":"John"`) {
			t.Errorf("request line lacks the body: %s", sc.Text())
		}
	}
}

func TestMockCommandRefusesNonLoopback(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "greeter.cue")
	if err := os.WriteFile(file, []byte(greeterMock), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, addr := range []string{"0.0.0.0:0", ":0", "192.0.2.1:8081", "example.com:80"} {
		var out, errb lockedBuffer
		code := run([]string{"mock", file, "--addr", addr}, streams{strings.NewReader(""), &out, &errb})
		if code != 2 || !strings.Contains(errb.String(), "--allow-remote") {
			t.Errorf("%s: exit %d, stderr %q", addr, code, errb.String())
		}
	}
	for _, c := range []struct {
		addr  string
		allow bool
		ok    bool
	}{
		{"127.0.0.1:8081", false, true},
		{"[::1]:8081", false, true},
		{"localhost:8081", false, true},
		{"127.9.9.9:1", false, true},
		{"0.0.0.0:8081", true, true},
		{"no-port", true, false},
	} {
		if err := checkListenAddr(c.addr, c.allow); (err == nil) != c.ok {
			t.Errorf("checkListenAddr(%q, %v) = %v", c.addr, c.allow, err)
		}
	}
}

func TestMockCommandBadDeclarations(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "bad.yaml"), []byte("mock:\n  routes:\n    - path: /a\n      statuss: 200\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var out, errb lockedBuffer
	code := run([]string{"mock", dir, "--addr", "127.0.0.1:0"}, streams{strings.NewReader(""), &out, &errb})
	want := filepath.ToSlash(dir) + `/bad.yaml:4:7: schema.field_not_allowed: field "statuss" not allowed in mock.routes.0 (did you mean "status"?)`
	want += "\nparley mock: " + dir + " has 1 problem(s)"
	if code != 1 || strings.TrimSpace(errb.String()) != want {
		t.Fatalf("exit %d, stderr:\n%s\nwant:\n%s", code, errb.String(), want)
	}
	// A path that does not exist is a usage error, as for validate, chat and serve.
	errb = lockedBuffer{}
	code = run([]string{"mock", filepath.Join(dir, "missing")}, streams{strings.NewReader(""), &out, &errb})
	if code != 2 || !strings.Contains(errb.String(), "missing: no such file or directory") {
		t.Fatalf("missing path: exit %d, stderr %q", code, errb.String())
	}
}
