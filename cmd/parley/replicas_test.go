package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/parleyhq/parley/plugins/store"
	"github.com/parleyhq/parley/plugins/store/redis/redistest"
)

// counterScenario counts a user's turns: each "bump UID" turn sends the
// user's n to the bump webhook and stores the n+1 it answers, so a lost
// update, a doubled turn or a turn run twice shows in n, in the replies and
// in the webhook's calls.
const counterScenario = `
scenarios: counter: {
	active: true
	attributes: {uid: "string", n: "int"}
	actions: bump: {
		webhook: {url: "{{ secret.COUNTER_URL }}", timeout: "30s", deadline: "30s", retry: attempts: 1}
		inputs: ["uid", "n"]
		outputs: ["n"]
	}
	conversations: main: {
		behaviors: ["starting"]
		scenes: main: {
			behaviors: ["starting"]
			turns: bump: {
				behaviors: ["starting", "open"]
				request: [{
					id: "bump"
					patterns: ["^bump (?P<uid>\\S+)$"]
					expected_attributes: {uid: "user.uid"}
					actions: [{use: "bump", inputs: {uid: "user.uid", n: "user.n"}, outputs: {"user.n": "output.n"}}]
				}]
				response: [
					{id: "counted", conditions: ["user.action_status"], message: text: "count {{ user.n }}"},
					{id: "failed", message: text: "the webhook failed"},
				]
			}
		}
	}
}
`

// counter is the bump webhook: it answers n+1 and counts its calls by user
// and n; while delay is set it waits that long before answering.
type counter struct {
	mu      sync.Mutex
	calls   map[string]map[int]int // user -> n received -> calls
	delay   atomic.Int64           // nanoseconds
	entered chan string            // the user of each call, while someone listens
}

func newCounter() *counter {
	return &counter{calls: map[string]map[int]int{}, entered: make(chan string, 1024)}
}

func (c *counter) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var req struct {
		InputData struct {
			Attributes struct {
				UID string   `json:"uid"`
				N   *float64 `json:"n"`
			} `json:"attributes"`
		} `json:"input_data"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil || req.InputData.Attributes.UID == "" {
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	a := req.InputData.Attributes
	n := 0
	if a.N != nil {
		n = int(*a.N)
	}
	c.mu.Lock()
	if c.calls[a.UID] == nil {
		c.calls[a.UID] = map[int]int{}
	}
	c.calls[a.UID][n]++
	c.mu.Unlock()
	d := time.Duration(c.delay.Load()) // before entered: a test may change delay once it hears of the call
	select {
	case c.entered <- a.UID:
	default:
	}
	if d > 0 {
		select {
		case <-time.After(d):
		case <-r.Context().Done():
			return
		}
	}
	w.Header().Set("Content-Type", "application/json")
	fmt.Fprintf(w, `{"successful":true,"output_data":{"attributes":{"n":%d}}}`, n+1)
}

// callsOf returns how often the webhook received n for user.
func (c *counter) callsOf(user string, n int) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.calls[user][n]
}

// totalOf returns how many calls the webhook had for user.
func (c *counter) totalOf(user string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	total := 0
	for _, k := range c.calls[user] {
		total += k
	}
	return total
}

var (
	parleyBinOnce sync.Once
	parleyBin     string
	parleyBinErr  error
)

// buildParley builds the parley binary once per test run.
func buildParley(t *testing.T) string {
	t.Helper()
	parleyBinOnce.Do(func() {
		dir, err := os.MkdirTemp("", "parley-bin-")
		if err != nil {
			parleyBinErr = err
			return
		}
		parleyBin = filepath.Join(dir, "parley")
		out, err := exec.Command("go", "build", "-o", parleyBin, ".").CombinedOutput()
		if err != nil {
			parleyBinErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if parleyBinErr != nil {
		t.Fatal(parleyBinErr)
	}
	return parleyBin
}

// replica is a `parley serve` process.
type replica struct {
	name   string
	base   string
	cmd    *exec.Cmd
	out    *serveOutput
	exited chan struct{}
}

// startReplica runs `parley serve` on dir with args and waits (bounded)
// until it listens; the process is killed when the test ends.
func startReplica(t *testing.T, name, dir string, env []string, args ...string) *replica {
	t.Helper()
	r := &replica{name: name, out: &serveOutput{}, exited: make(chan struct{})}
	r.cmd = exec.Command(buildParley(t), append([]string{"serve", dir, "--addr", "127.0.0.1:0", "--dev", "--watch=false",
		"--admin-key", serveAdminKey, "--rate", "-1", "--new-user-rate", "off", "--log-level", "warn"}, args...)...)
	r.cmd.Env = append(os.Environ(), env...)
	stdout, err := r.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	r.cmd.Stderr = r.out
	if err := r.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	listening := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			fmt.Fprintln(r.out, sc.Text())
			if m := serveListening.FindStringSubmatch(sc.Text()); m != nil {
				select {
				case listening <- m[1]:
				default:
				}
			}
		}
	}()
	go func() {
		_ = r.cmd.Wait()
		close(r.exited)
	}()
	t.Cleanup(func() {
		r.kill()
		if t.Failed() {
			t.Logf("output of replica %s:\n%s", r.name, r.out.String())
		}
	})
	select {
	case r.base = <-listening:
	case <-r.exited:
		t.Fatalf("replica %s ended at start:\n%s", name, r.out.String())
	case <-time.After(30 * time.Second):
		t.Fatalf("replica %s not listening after 30s:\n%s", name, r.out.String())
	}
	return r
}

// kill ends the process with SIGKILL, as a crash does, and waits for it.
func (r *replica) kill() {
	_ = r.cmd.Process.Signal(syscall.SIGKILL)
	<-r.exited
}

// alive reports whether the process still runs.
func (r *replica) alive() bool {
	select {
	case <-r.exited:
		return false
	default:
		return true
	}
}

var replicaClient = &http.Client{Timeout: 30 * time.Second}

// turnResult is the outcome of one webchat turn.
type turnResult struct {
	status int    // 0: no answer (connection lost)
	n      int    // the count the reply says, for a 200
	code   string // the error code of a JSON error
	body   string
}

var countText = regexp.MustCompile(`count (\d+)`)

// bump sends "bump USER" to r's webchat endpoint.
func (r *replica) bump(user string) turnResult {
	body := fmt.Sprintf(`{"notification":"message","user_id":%q,"author":%[1]q,"content":{"type":"text","author":%[1]q,"data":{"text":"bump %[1]s"}}}`, user)
	req, _ := http.NewRequest("POST", r.base+"/incoming/webchat", bytes.NewReader([]byte(body)))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+serveAdminKey)
	resp, err := replicaClient.Do(req)
	if err != nil {
		return turnResult{body: err.Error()}
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	res := turnResult{status: resp.StatusCode, body: string(b)}
	if resp.StatusCode == http.StatusOK {
		m := countText.FindStringSubmatch(res.body)
		if m == nil {
			res.n = -1
		} else {
			res.n, _ = strconv.Atoi(m[1])
		}
		return res
	}
	var e struct {
		Error struct{ Code string } `json:"error"`
	}
	if json.Unmarshal(b, &e) != nil || e.Error.Code == "" {
		res.code = "not JSON"
	} else {
		res.code = e.Error.Code
	}
	return res
}

// userN returns user.n and the conversation position of user from r's
// context API (status 200), or the status.
func (r *replica) userN(t *testing.T, user string) (int, map[string]any, int) {
	t.Helper()
	var c struct {
		User         map[string]any `json:"user"`
		Conversation map[string]any `json:"conversation"`
	}
	status := serveDo(t, "GET", r.base+"/api/users/"+user+"/context", "", &c)
	n, _ := c.User["n"].(float64)
	return int(n), c.Conversation, status
}

// historyLen returns how many turns r's history API returns for user.
func (r *replica) historyLen(t *testing.T, user string) int {
	t.Helper()
	var wrapped struct {
		History []json.RawMessage `json:"history"`
	}
	req, _ := http.NewRequest("GET", r.base+"/api/users/"+user+"/history", nil)
	req.Header.Set("Authorization", "Bearer "+serveAdminKey)
	resp, err := replicaClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("history of %s: %d %s", user, resp.StatusCode, b)
	}
	if err := json.Unmarshal(b, &wrapped); err != nil {
		t.Fatalf("history of %s: %v: %s", user, err, b)
	}
	return len(wrapped.History)
}

// counterBot writes the counter scenario to a new directory.
func counterBot(t *testing.T) string {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "counter.cue"), []byte("package bot\n"+counterScenario), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestReplicasShareRedis runs two `parley serve` processes on one real Redis
// and sends each user's turns to both at once: no update is lost, no turn
// is doubled, each acknowledged turn's webhook is called exactly once and
// both replicas report the same position. A turn longer than the lease TTL
// keeps its lease, and the same user's turn on the other replica waits for
// it. Then one replica is killed with
// SIGKILL while every user has a turn in flight on it: the users go on on
// the other replica within the lease's TTL.
func TestReplicasShareRedis(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs parley serve")
	}
	srv := redistest.Start(t, redistest.Options{})
	hook := newCounter()
	hs := httptest.NewServer(hook)
	defer hs.Close()
	const leaseTTL = time.Second
	storeURL := srv.URL("lease_ttl=" + leaseTTL.String())
	dir := counterBot(t)
	env := []string{"COUNTER_URL=" + hs.URL}
	a := startReplica(t, "a", dir, env, "--store", storeURL)
	b := startReplica(t, "b", dir, env, "--store", storeURL)
	replicas := []*replica{a, b}

	const users, turns = 8, 15 // turns per user and replica
	acked := make([][]int, users)
	var mu sync.Mutex
	var wg sync.WaitGroup
	var retried atomic.Int64
	for u := 0; u < users; u++ {
		user := fmt.Sprint("user-", u)
		for _, r := range replicas {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; i < turns; {
					res := r.bump(user)
					switch {
					case res.status == http.StatusOK && res.n > 0:
						mu.Lock()
						acked[u] = append(acked[u], res.n)
						mu.Unlock()
						i++
					case res.status == http.StatusConflict && res.code == "conflict":
						retried.Add(1) // the lease stayed held longer than lease_wait: not run, sent again
					default:
						t.Errorf("%s on %s: %d %s", user, r.name, res.status, res.body)
						return
					}
				}
			}()
		}
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	t.Logf("%d turns acknowledged, %d answered 409 and sent again", users*2*turns, retried.Load())
	for u := 0; u < users; u++ {
		user := fmt.Sprint("user-", u)
		got := slices.Sorted(slices.Values(acked[u]))
		for i, n := range got {
			if n != i+1 {
				t.Fatalf("%s: acknowledged counts %v: want 1..%d, each once (an update lost or a turn doubled)", user, got, 2*turns)
			}
		}
		for k := 0; k < 2*turns; k++ {
			if c := hook.callsOf(user, k); c != 1 {
				t.Errorf("%s: the webhook got n=%d %d times, want once", user, k, c)
			}
		}
		if c := hook.totalOf(user); c != 2*turns {
			t.Errorf("%s: %d webhook calls for %d acknowledged turns", user, c, 2*turns)
		}
		na, pa, sa := a.userN(t, user)
		nb, pb, sb := b.userN(t, user)
		if sa != 200 || sb != 200 || na != 2*turns || nb != 2*turns || fmt.Sprint(pa) != fmt.Sprint(pb) {
			t.Errorf("%s: replica a says n=%d %v (%d), b says n=%d %v (%d); want n=%d and one position", user, na, pa, sa, nb, pb, sb, 2*turns)
		}
		if h := b.historyLen(t, user); h != 2*turns {
			t.Errorf("%s: %d turns of history, want %d", user, h, 2*turns)
		}
	}
	if t.Failed() {
		return
	}

	// A turn longer than the lease TTL keeps its lease (renewed): the same
	// user's turn on b waits for it and then runs on its result.
	const long = 2500 * time.Millisecond
	hook.delay.Store(int64(long))
	for len(hook.entered) > 0 {
		<-hook.entered
	}
	first := make(chan turnResult, 1)
	go func() { first <- a.bump("long-user") }()
	select {
	case <-hook.entered:
	case <-time.After(20 * time.Second):
		t.Fatal("the long turn did not reach the webhook")
	}
	hook.delay.Store(0)
	started := time.Now()
	second := b.bump("long-user")
	waited := time.Since(started)
	if r := <-first; r.status != http.StatusOK || r.n != 1 {
		t.Fatalf("the long turn on a: %d %s", r.status, r.body)
	}
	if second.status != http.StatusOK || second.n != 2 || waited < long-500*time.Millisecond {
		t.Fatalf("the turn on b beside a long turn on a: %d %s after %s; want count 2 after about %s", second.status, second.body, waited, long)
	}
	if hook.callsOf("long-user", 0) != 1 || hook.callsOf("long-user", 1) != 1 {
		t.Fatalf("webhook calls of long-user: %d with n=0, %d with n=1; want one each", hook.callsOf("long-user", 0), hook.callsOf("long-user", 1))
	}

	// Every user has a turn in flight on a (its webhook is slow) when a
	// crashes: the turns are lost unacknowledged, the leases a held expire
	// and the users go on on b.
	hook.delay.Store(int64(time.Minute))
	for len(hook.entered) > 0 {
		<-hook.entered
	}
	lost := make(chan turnResult, users)
	for u := 0; u < users; u++ {
		go func() { lost <- a.bump(fmt.Sprint("user-", u)) }()
	}
	for u := 0; u < users; u++ {
		select {
		case <-hook.entered:
		case <-time.After(20 * time.Second):
			t.Fatalf("only %d of %d turns reached the webhook on a", u, users)
		}
	}
	a.kill()
	killed := time.Now()
	hook.delay.Store(0)
	for u := 0; u < users; u++ {
		if res := <-lost; res.status != 0 {
			t.Errorf("a turn in flight on the killed replica was answered: %d %s", res.status, res.body)
		}
	}
	var slowest atomic.Int64
	for u := 0; u < users; u++ {
		user := fmt.Sprint("user-", u)
		wg.Add(1)
		go func() {
			defer wg.Done()
			res := b.bump(user)
			took := time.Since(killed)
			if old := slowest.Load(); int64(took) > old {
				slowest.CompareAndSwap(old, int64(took))
			}
			if res.status != http.StatusOK || res.n != 2*turns+1 {
				t.Errorf("%s on b after a crashed: %d %s, want count %d", user, res.status, res.body, 2*turns+1)
			}
		}()
	}
	wg.Wait()
	// The bound: a lease lives leaseTTL after its last renewal; polling
	// and a loaded machine add a little.
	if took := time.Duration(slowest.Load()); took > leaseTTL+2*time.Second {
		t.Errorf("users waited up to %s after the crash, want at most the lease TTL %s (plus polling)", took, leaseTTL)
	} else {
		t.Logf("after SIGKILL of a, its users went on on b within %s (lease_ttl %s)", took.Round(time.Millisecond), leaseTTL)
	}
	for u := 0; u < users; u++ {
		user := fmt.Sprint("user-", u)
		// n=2*turns reached the webhook twice: the lost turn on a and the acknowledged one on b.
		if c := hook.callsOf(user, 2*turns); c != 2 {
			t.Errorf("%s: the webhook got n=%d %d times, want 2 (lost on a, acknowledged on b)", user, 2*turns, c)
		}
		if n, _, _ := b.userN(t, user); n != 2*turns+1 {
			t.Errorf("%s: n=%d after the crash, want %d", user, n, 2*turns+1)
		}
		if h := b.historyLen(t, user); h != 2*turns+1 {
			t.Errorf("%s: %d turns of history, want %d", user, h, 2*turns+1)
		}
	}
}

// TestServeRedisOutage stops Redis under a load of turns on `parley serve`:
// turns fail fast with JSON 503s, /readyz is not ready, the process lives
// on; Redis comes back and the server serves again by itself, with every
// acknowledged turn kept and nothing half-written.
func TestServeRedisOutage(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs parley serve")
	}
	const password = "outage-secret-pw"
	srv := redistest.Start(t, redistest.Options{Persist: true, Password: password})
	hook := newCounter()
	hs := httptest.NewServer(hook)
	defer hs.Close()
	r := startReplica(t, "a", counterBot(t), []string{"COUNTER_URL=" + hs.URL, "PARLEY_STORE=" + srv.URL("lease_ttl=1s")},
		"--history-limit", "1000000", "--log-level", "debug")

	const users = 8
	var phase atomic.Int32 // 0 before the outage, 1 during, 2 after
	type tally struct{ ok, unavailable [3]int }
	tallies := make([]tally, users)
	acked := make([][]int, users)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for u := 0; u < users; u++ {
		user := fmt.Sprint("user-", u)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				p := phase.Load()
				res := r.bump(user)
				switch {
				case res.status == http.StatusOK && res.n > 0:
					tallies[u].ok[p]++
					acked[u] = append(acked[u], res.n)
				case res.status == http.StatusServiceUnavailable && res.code == "unavailable":
					tallies[u].unavailable[p]++
					time.Sleep(10 * time.Millisecond)
				case res.status == http.StatusConflict && res.code == "conflict":
					time.Sleep(10 * time.Millisecond) // a lease left by a turn cut by the outage
				default:
					t.Errorf("%s in phase %d: %d %q %s", user, p, res.status, res.code, res.body)
					return
				}
			}
		}()
	}
	ready := func() int { return serveDo(t, "GET", r.base+"/readyz", "", nil) }
	time.Sleep(time.Second)
	if ready() != http.StatusOK {
		t.Fatal("not ready before the outage")
	}
	srv.Kill()
	phase.Store(1)
	time.Sleep(time.Second)
	if s := ready(); s != http.StatusServiceUnavailable {
		t.Errorf("/readyz = %d with Redis away, want 503", s)
	}
	if s := serveDo(t, "GET", r.base+"/healthz", "", nil); s != http.StatusOK || !r.alive() {
		t.Fatalf("/healthz = %d with Redis away, alive %v", s, r.alive())
	}
	srv.Restart()
	phase.Store(2)
	deadline := time.Now().Add(15 * time.Second)
	for ready() != http.StatusOK {
		if time.Now().After(deadline) {
			t.Fatal("not ready 15s after Redis came back")
		}
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(2 * time.Second) // leases cut by the outage expire (lease_ttl 1s)
	close(stop)
	wg.Wait()
	if t.Failed() {
		return
	}
	var sum tally
	for u := 0; u < users; u++ {
		for p := 0; p < 3; p++ {
			sum.ok[p] += tallies[u].ok[p]
			sum.unavailable[p] += tallies[u].unavailable[p]
		}
	}
	t.Logf("turns acknowledged before/during/after the outage: %v; answered 503: %v", sum.ok, sum.unavailable)
	if sum.ok[0] == 0 || sum.unavailable[1] == 0 || sum.ok[2] == 0 {
		t.Fatalf("want turns before, 503s during and turns after the outage: ok %v, 503 %v", sum.ok, sum.unavailable)
	}
	for u := 0; u < users; u++ {
		user := fmt.Sprint("user-", u)
		n, _, status := r.userN(t, user)
		h := r.historyLen(t, user)
		got := acked[u]
		// Each acknowledged count once, in order; a turn whose save
		// reached Redis as it died may be stored unacknowledged, so n can
		// exceed the acknowledged turns by the 503s, never fall short.
		for i := 1; i < len(got); i++ {
			if got[i] <= got[i-1] {
				t.Errorf("%s: acknowledged counts %v go back", user, got)
				break
			}
		}
		last := got[len(got)-1]
		if status != 200 || n != last || h != n || n < len(got) || n > len(got)+tallies[u].unavailable[0]+tallies[u].unavailable[1]+tallies[u].unavailable[2] {
			t.Errorf("%s: n=%d, %d turns of history, %d acknowledged (last count %d), %d answered 503",
				user, n, h, len(got), last, tallies[u].unavailable[0]+tallies[u].unavailable[1]+tallies[u].unavailable[2])
		}
	}
	if !r.alive() {
		t.Fatal("parley serve ended")
	}
	if out := r.out.String(); strings.Contains(out, password) {
		t.Error("the password of the store URL is in the output of parley serve")
	} else if !strings.Contains(out, "store failure") || !strings.Contains(out, "xxxxx@127.0.0.1") {
		t.Errorf("the output does not show the outage and the store (password redacted):\n%s", out)
	}
}

// TestRedisURLErrors: a Redis store that cannot be used at start-up is a
// clear error and exit 2, without the password.
func TestRedisURLErrors(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{Password: "right-hunter2"})
	dir := writeScenario(t, chatGreeter)
	wrong := strings.Replace(srv.URL(""), "right-hunter2", "wrong-hunter2", 1)
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"serve, unreachable", []string{"serve", dir, "--addr", "127.0.0.1:0", "--store", "redis://:hunter2@127.0.0.1:1/0"}, "connection refused"},
		{"serve, wrong password", []string{"serve", dir, "--addr", "127.0.0.1:0", "--store", wrong}, "WRONGPASS"},
		{"serve, bad lease_ttl", []string{"serve", dir, "--addr", "127.0.0.1:0", "--store", srv.URL("lease_ttl=1ms")}, "lease_ttl"},
		{"serve, unknown option", []string{"serve", dir, "--addr", "127.0.0.1:0", "--store", srv.URL("leese_ttl=1s")}, "unexpected option: leese_ttl"},
		{"export, unreachable", []string{"state", "export", "--store", "rediss://u:hunter2@127.0.0.1:1/0"}, "store is unavailable"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := runIn("", tc.args...)
			if code != 2 || !strings.Contains(errOut, tc.want) {
				t.Fatalf("exit %d, stderr %q; want 2 and %q", code, errOut, tc.want)
			}
			if strings.Contains(out+errOut, "hunter2") {
				t.Fatalf("the password is shown: %s%s", out, errOut)
			}
		})
	}
}

// TestStateFileToRedis moves users from a file store to Redis with parley
// state export and import, and back: the same records (versions and
// histories) come out of Redis, and a turn can go on from an imported state.
func TestStateFileToRedis(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{Password: "move-hunter2"})
	path := filepath.Join(t.TempDir(), "state.db")
	fillStore(t, path, 30)
	code, exported, errOut := runIn("", "state", "export", "--store", "file:"+path)
	if code != 0 || strings.Count(exported, "\n") != 30 {
		t.Fatalf("export from the file store: exit %d, %d lines, stderr %q", code, strings.Count(exported, "\n"), errOut)
	}
	for round := 1; round <= 2; round++ { // idempotent
		code, _, errOut = runIn(exported, "state", "import", "--store", srv.URL(""))
		if code != 0 || !strings.Contains(errOut, "imported 30 user(s)") || strings.Contains(errOut, "hunter2") {
			t.Fatalf("import into Redis, round %d: exit %d, stderr %q", round, code, errOut)
		}
	}
	code, again, errOut := runIn("", "state", "export", "--store", srv.URL(""))
	if code != 0 || strings.Contains(errOut, "hunter2") {
		t.Fatalf("export from Redis: exit %d, stderr %q", code, errOut)
	}
	sortLines := func(s string) string {
		lines := strings.Split(strings.TrimSpace(s), "\n")
		slices.Sort(lines)
		return strings.Join(lines, "\n")
	}
	if sortLines(again) != sortLines(exported) {
		t.Fatalf("Redis exports other records than the file store's:\n%s\nwant\n%s", sortLines(again), sortLines(exported))
	}
	// A turn of an imported user goes on from its version.
	ctx := context.Background()
	s, err := store.Open(ctx, srv.URL(""), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	st, err := s.Load(ctx, "user-2")
	if err != nil || st.Version != 3 || st.User["name"] != "user-2" {
		t.Fatalf("imported user-2 = %+v, %v", st, err)
	}
	if v, err := s.Save(ctx, "user-2", st, nil); err != nil || v != 4 {
		t.Fatalf("saving an imported user = %d, %v", v, err)
	}
}
