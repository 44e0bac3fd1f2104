package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// binDir holds the parley binary the process tests build once; TestMain removes it.
var (
	binDir   string
	binOnce  sync.Once
	binPath  string
	binError error
)

// parleyBinary builds the parley command once per test run.
func parleyBinary(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds and runs the parley binary; skipped with -short")
	}
	binOnce.Do(func() {
		dir, err := os.MkdirTemp("", "parley-bin-")
		if err != nil {
			binError = err
			return
		}
		binDir = dir
		binPath = filepath.Join(dir, "parley")
		out, err := exec.Command(filepath.Join(runtime.GOROOT(), "bin", "go"), "build", "-o", binPath, ".").CombinedOutput()
		if err != nil {
			binError = fmt.Errorf("building parley: %v\n%s", err, out)
		}
	})
	if binError != nil {
		t.Fatal(binError)
	}
	return binPath
}

// crashScenario answers hello; every other text is a turn that matches
// nothing, recorded in the history all the same.
const crashScenario = `scenarios: crash: conversations: main: {
	behaviors: ["starting"]
	scenes: main: {
		behaviors: ["starting"]
		turns: say: {
			behaviors: ["starting", "open"]
			request: [{id: "hello", utterances: ["hello"]}]
			response: [{id: "said", message: text: "n={{ user.n }}"}]
		}
	}
}
`

// serveProc is a `parley serve` process.
type serveProc struct {
	cmd    *exec.Cmd
	base   string
	stderr *procOutput
	done   chan error
}

// procOutput is a process's output, safe for its writer and readers at once.
type procOutput struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *procOutput) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *procOutput) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startServeProc starts `parley serve` in dir with args and, when wait is
// set, waits for it to listen.
func startServeProc(t *testing.T, exe, dir string, wait bool, args ...string) *serveProc {
	t.Helper()
	cmd := exec.Command(exe, append([]string{"serve", "bot", "--addr", "127.0.0.1:0", "--watch=false", "--rate", "-1"}, args...)...)
	cmd.Dir = dir
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, envStore+"=") {
			env = append(env, kv)
		}
	}
	cmd.Env = env
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	p := &serveProc{cmd: cmd, stderr: &procOutput{}, done: make(chan error, 1)}
	cmd.Stderr = p.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string, 16)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			select {
			case lines <- sc.Text():
			default:
			}
		}
		io.Copy(io.Discard, stdout)
		close(lines)
	}()
	go func() { p.done <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-p.done
	})
	if !wait {
		return p
	}
	timeout := time.After(30 * time.Second)
	for {
		select {
		case line, ok := <-lines:
			if !ok {
				t.Fatalf("parley serve ended before listening: %s", p.stderr)
			}
			if _, rest, found := strings.Cut(line, "listening on "); found {
				p.base, _, _ = strings.Cut(rest, " ")
				return p
			}
		case <-timeout:
			t.Fatalf("parley serve did not listen within 30s: %s", p.stderr)
		}
	}
}

var crashClient = &http.Client{Timeout: 10 * time.Second}

// post sends a JSON body and reports whether the answer was a 200.
func post(url, body string) (bool, error) {
	resp, err := crashClient.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		return false, err
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, resp.Body)
	return resp.StatusCode == http.StatusOK, nil
}

func getJSON(t *testing.T, url string, v any) {
	t.Helper()
	resp, err := crashClient.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %s", url, resp.StatusCode, b)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("GET %s: %v: %s", url, err, b)
	}
}

// TestKillDuringLoad kills `parley serve` on a file store with SIGKILL in
// the middle of a load of turns and context writes, starts it again on the
// same file and finds every acknowledged write, each by its value. A second
// serve on the file while the first runs fails at once with a clear message.
func TestKillDuringLoad(t *testing.T) {
	exe := parleyBinary(t)
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "bot"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "bot", "main.cue"), []byte(crashScenario), 0o644); err != nil {
		t.Fatal(err)
	}
	db := filepath.Join(dir, "state.db")
	args := []string{"--store", "file:" + db, "--history-limit", "100000"}
	p := startServeProc(t, exe, dir, true, args...)

	const workers = 16
	// For each worker's user: the last context value and the last turn acknowledged.
	var ackN, ackTurn [workers]atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var acks atomic.Int64
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			user := fmt.Sprint("w", w)
			for i := int64(1); ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				ok, err := post(p.base+"/api/users/"+user+"/context", fmt.Sprintf(`{"key":"n","value":%d}`, i))
				if err != nil || !ok {
					return // the server is gone
				}
				ackN[w].Store(i)
				acks.Add(1)
				body := fmt.Sprintf(`{"notification":"message","user_id":%q,"author":%q,"content":{"type":"text","author":%q,"data":{"text":"say %d"}}}`, user, user, user, i)
				ok, err = post(p.base+"/incoming/webchat", body)
				if err != nil || !ok {
					return
				}
				ackTurn[w].Store(i)
				acks.Add(1)
			}
		}()
	}
	// Under load, a second serve on the same file fails clearly and fast.
	start := time.Now()
	second := startServeProc(t, exe, dir, false, args...)
	select {
	case err := <-second.done:
		ee, ok := err.(*exec.ExitError)
		if !ok || ee.ExitCode() != 2 || !strings.Contains(second.stderr.String(), "in use by another process") {
			t.Fatalf("second serve: %v, stderr %q; want exit 2 and a clear message", err, second.stderr)
		}
		if d := time.Since(start); d > 20*time.Second {
			t.Fatalf("the second serve took %s to fail", d)
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("a second serve on the same file still runs after 30s: %s", second.stderr)
	}
	second.done <- nil // for the cleanup
	deadline := time.Now().Add(30 * time.Second)
	for acks.Load() < 600 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	// SIGKILL in the middle of the load: writes are in flight.
	if err := p.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-p.done
	p.done <- nil
	close(stop)
	wg.Wait()
	if acks.Load() < 100 {
		t.Fatalf("only %d writes acknowledged before the kill", acks.Load())
	}

	p = startServeProc(t, exe, dir, true, args...)
	turns := 0
	for w := range workers {
		user := fmt.Sprint("w", w)
		var c struct {
			User map[string]any `json:"user"`
		}
		getJSON(t, p.base+"/api/users/"+user+"/context", &c)
		n, _ := c.User["n"].(float64)
		// The value acknowledged, or the next one if its write was on disk
		// when the server died before answering.
		if want := ackN[w].Load(); int64(n) != want && int64(n) != want+1 {
			t.Errorf("%s: n = %v after the restart, acknowledged %d", user, c.User["n"], want)
		}
		var h struct {
			History []struct {
				Utterance struct {
					Text string `json:"text"`
				} `json:"utterance"`
			} `json:"history"`
		}
		getJSON(t, p.base+"/api/users/"+user+"/history", &h)
		acked := int(ackTurn[w].Load())
		if len(h.History) != acked && len(h.History) != acked+1 {
			t.Errorf("%s: %d turns in the history after the restart, %d acknowledged", user, len(h.History), acked)
		}
		for k, e := range h.History {
			if want := fmt.Sprint("say ", k+1); e.Utterance.Text != want {
				t.Errorf("%s: turn %d is %q, want %q", user, k+1, e.Utterance.Text, want)
				break
			}
		}
		turns += acked
	}
	t.Logf("%d context writes and %d turns acknowledged before SIGKILL, all found after the restart", acks.Load()-int64(turns), turns)
}
