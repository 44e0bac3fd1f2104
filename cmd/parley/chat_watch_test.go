package main

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// safeBuffer is a bytes.Buffer read by the test while the chat writes it.
type safeBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *safeBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *safeBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// waitFor waits until buf holds want n times, failing after 15s.
func waitFor(t *testing.T, buf *safeBuffer, want string, n int) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for strings.Count(buf.String(), want) < n {
		if time.Now().After(deadline) {
			t.Fatalf("no %q (x%d) within 15s:\n%s", want, n, buf.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestChatWatchReloads(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"notify", nil},
		{"poll", []string{"--poll", "100ms"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			withGoActions(t)
			dir := writeScenario(t, chatGreeter)
			file := filepath.Join(dir, "greeter.cue")
			in, feed := io.Pipe()
			var out, errOut safeBuffer
			code := make(chan int, 1)
			go func() {
				code <- run(append([]string{"chat", dir}, tc.args...), streams{in: in, out: &out, err: &errOut})
			}()
			defer func() {
				feed.Close()
				select {
				case c := <-code:
					if c != 0 {
						t.Errorf("exit %d\nstdout:\n%s\nstderr:\n%s", c, out.String(), errOut.String())
					}
				case <-time.After(15 * time.Second):
					t.Error("chat did not end")
				}
			}()
			waitFor(t, &out, "bot: Hi! Press OK.", 1)

			edited := strings.Replace(chatGreeter, "Hi! Press OK.", "Hi again! Press OK.", 1)
			if err := os.WriteFile(file, []byte(edited), 0o644); err != nil {
				t.Fatal(err)
			}
			waitFor(t, &errOut, "is live (1 file(s) changed)", 1)
			io.WriteString(feed, "/restart\n")
			waitFor(t, &out, "bot: Hi again! Press OK.", 1)

			if err := os.WriteFile(file, []byte(strings.Replace(edited, "active: true", "active: maybe", 1)), 0o644); err != nil {
				t.Fatal(err)
			}
			waitFor(t, &errOut, "rejected", 1)
			waitFor(t, &errOut, "greeter.cue:3:", 1)
			io.WriteString(feed, "/restart\n")
			waitFor(t, &out, "bot: Hi again! Press OK.", 2)
		})
	}
}

func TestChatWatchOff(t *testing.T) {
	withGoActions(t)
	dir := writeScenario(t, chatGreeter)
	code, out, errOut := chat(t, "/quit\n", dir, "--watch=false")
	if code != 0 || !strings.Contains(out, "bot: Hi! Press OK.") || errOut != "" {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	if code, _, errOut := chat(t, "", dir, "--poll", "-1s"); code != 2 || !strings.Contains(errOut, "--poll") {
		t.Fatalf("negative --poll: exit %d, %s", code, errOut)
	}
}
