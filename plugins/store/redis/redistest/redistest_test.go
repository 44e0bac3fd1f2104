package redistest_test

import (
	"net"
	"strings"
	"testing"

	"github.com/parleyhq/parley/plugins/store/redis/redistest"
)

// recorder is a testing.TB that records Fatalf and Skipf instead of
// stopping the test.
type recorder struct {
	testing.TB
	fatal, skip string
}

func (r *recorder) Helper()                           {}
func (r *recorder) Fatalf(format string, args ...any) { r.fatal = format }
func (r *recorder) Skipf(format string, args ...any)  { r.skip = format }

func TestMissingRedisSkipsOrFailsInCI(t *testing.T) {
	t.Setenv("PATH", t.TempDir()) // no redis-server there
	t.Setenv("CI", "")            // empty is unset for Binary
	r := &recorder{TB: t}
	redistest.Binary(r)
	if r.skip == "" || r.fatal != "" {
		t.Errorf("without CI: skip %q, fatal %q; want a skip", r.skip, r.fatal)
	}
	t.Setenv("CI", "true")
	r = &recorder{TB: t}
	redistest.Binary(r)
	if r.fatal == "" || r.skip != "" || !strings.Contains(r.fatal, "CI is set") {
		t.Errorf("with CI: skip %q, fatal %q; want a failure", r.skip, r.fatal)
	}
}

func TestKillAndRestart(t *testing.T) {
	s := redistest.Start(t, redistest.Options{Persist: true})
	if !strings.HasPrefix(s.Addr, "127.0.0.1:") || !strings.HasPrefix(s.URL("a=b"), "redis://127.0.0.1:") || !strings.HasSuffix(s.URL("a=b"), "/0?a=b") {
		t.Fatalf("Addr %s, URL %s", s.Addr, s.URL("a=b"))
	}
	dial := func() error {
		c, err := net.Dial("tcp", s.Addr)
		if err == nil {
			c.Close()
		}
		return err
	}
	if err := dial(); err != nil {
		t.Fatal(err)
	}
	s.Kill()
	if dial() == nil {
		t.Fatal("the server still answers after Kill")
	}
	s.Kill() // killing a stopped server does nothing
	s.Restart()
	if err := dial(); err != nil {
		t.Fatalf("after Restart: %v", err)
	}
}
