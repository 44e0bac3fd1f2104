package engine_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parleyhq/parley/diag"
	"github.com/parleyhq/parley/engine"
	"github.com/parleyhq/parley/plugins"
	"github.com/parleyhq/parley/reload"
)

// probe is an action that holds a resource: it fails the turn when it runs
// after its configuration was closed, and says which revision built it.
type probe struct {
	rev     int
	closed  atomic.Bool
	closes  atomic.Int32
	running atomic.Int32
	bad     *atomic.Int32 // runs seen on a closed probe, and closes during a run
}

func (p *probe) Run(_ context.Context, _ plugins.ActionRequest) plugins.ActionResult {
	p.running.Add(1)
	defer p.running.Add(-1)
	if p.closed.Load() {
		p.bad.Add(1)
		return plugins.ActionResult{Error: "probe ran after its configuration was closed"}
	}
	time.Sleep(time.Duration(rand.IntN(300)) * time.Microsecond)
	if p.closed.Load() {
		p.bad.Add(1)
	}
	return plugins.ActionResult{Success: true, Outputs: map[string]any{"rev": p.rev}}
}

func (p *probe) Close() error {
	if p.running.Load() != 0 {
		p.bad.Add(1)
	}
	p.closed.Store(true)
	p.closes.Add(1)
	return nil
}

// probeEnv is a plugin environment with the action kind "probe".
type probeEnv struct {
	*plugins.Environment
	bad    atomic.Int32
	mu     sync.Mutex
	probes []*probe
}

func newProbeEnv(t testing.TB) *probeEnv {
	t.Helper()
	pe := &probeEnv{Environment: newEnv(t, nil)}
	err := pe.RegisterAction(plugins.ActionKind{Name: "probe", Schema: "package schema\n\n#Probe: {rev: int}\n", Definition: "#Probe",
		New: func(c plugins.ActionConfig) (plugins.Action, error) {
			var cfg struct{ Rev int }
			if err := json.Unmarshal(c.Config, &cfg); err != nil {
				return nil, err
			}
			p := &probe{rev: cfg.Rev, bad: &pe.bad}
			pe.mu.Lock()
			pe.probes = append(pe.probes, p)
			pe.mu.Unlock()
			return p, nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	return pe
}

// revScenario is revision rev of the scenario "live": its texts and its
// probe action carry rev, and turnName names its first turn.
func revScenario(rev int, turnName string) string {
	return fmt.Sprintf(`scenarios: live: {
	attributes: rev: "int"
	actions: probe: {probe: rev: %[1]d, outputs: ["rev"]}
	conversations: c: {
		behaviors: ["starting"]
		scenes: s: {
			behaviors: ["starting"]
			turns: %[2]s: {
				behaviors: ["starting"]
				request: [{id: "intent.core.welcome", actions: [{use: "probe"}]}]
				response: [{id: "hello", message: text: "v%[1]d {{ user.rev }}"}]
			}
			turns: ping: {
				behaviors: ["open"]
				request: [{id: "ping", utterances: ["ping"], actions: [{use: "probe"}]}]
				response: [{id: "pong", message: text: "v%[1]d {{ user.rev }} pong"}]
			}
		}
	}
}
`, rev, turnName)
}

// otherScenario never changes: the incremental loader reuses it.
const otherScenario = `scenarios: other: {
	active: false
	conversations: c: scenes: s: turns: t: {
		request: [{id: "other"}]
		response: [{id: "other_back", message: text: "Other"}]
	}
}
`

func writeFile(t testing.TB, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// watched opens dir with WithWatch and subscribes to its reload events.
func watched(t *testing.T, dir string, env *plugins.Environment, opts ...engine.Option) (*engine.Engine, <-chan reload.Event) {
	t.Helper()
	opts = append([]engine.Option{engine.WithEnvironment(env), engine.WithWatch(engine.WatchOptions{Debounce: 20 * time.Millisecond})}, opts...)
	e, err := engine.Open(dir, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	w := e.Watcher()
	if w == nil {
		t.Fatal("WithWatch started no watcher")
	}
	events, cancel := w.Subscribe()
	t.Cleanup(cancel)
	return e, events
}

// decided returns the next event that is not Unchanged, failing after 20s.
func decided(t testing.TB, events <-chan reload.Event) reload.Event {
	t.Helper()
	timeout := time.After(20 * time.Second)
	for {
		select {
		case ev, ok := <-events:
			if !ok {
				t.Fatal("reload events closed")
			}
			if ev.Outcome != reload.Unchanged {
				return ev
			}
		case <-timeout:
			t.Fatal("no reload within 20s")
		}
	}
}

// applied waits for the next applied version. A rejection for leaving no
// active scenario is skipped: the tests write files in place (truncate, then
// write), and on a loaded machine the watcher may read the emptied file
// twice in a row, which the guard then refuses, as it should.
func applied(t testing.TB, events <-chan reload.Event) reload.Event {
	t.Helper()
	for {
		ev := decided(t, events)
		if list := engine.Diagnostics(ev.Err); ev.Outcome == reload.Rejected && len(list) == 1 && list[0].Code == diag.CodeNoActiveScenario {
			t.Logf("skipping a rejection of a file being written: %v", ev.Err)
			continue
		}
		if ev.Outcome != reload.Applied {
			t.Fatalf("reload %s: %v", ev.Outcome, ev.Err)
		}
		return ev
	}
}

// say sends u as user and returns the reply's texts joined by "|".
func say(t testing.TB, e *engine.Engine, user string, u plugins.Utterance) (string, *engine.Reply) {
	t.Helper()
	r, err := e.Handle(context.Background(), user, u)
	if err != nil {
		t.Fatal(err)
	}
	var texts []string
	for _, m := range r.Messages {
		texts = append(texts, m.Text)
	}
	return strings.Join(texts, "|"), r
}

func TestWatchRejectsInvalidEditWhileOldVersionAnswers(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "live.cue")
	writeFile(t, file, revScenario(1, "start"))
	var logs syncBuffer
	env := newProbeEnv(t)
	e, events := watched(t, dir, env.Environment, engine.WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
	good := e.Config().Version

	writeFile(t, file, strings.Replace(revScenario(2, "start"), "attributes:", "colour: \"blue\"\n\tattributes:", 1))
	ev := decided(t, events)
	diags := engine.Diagnostics(ev.Err)
	if ev.Outcome != reload.Rejected || len(diags) == 0 {
		t.Fatalf("invalid edit: %s %v", ev.Outcome, ev.Err)
	}
	if d := diags[0]; !strings.HasSuffix(d.File, "live.cue") || d.Line != 2 || d.Code != "schema.field_not_allowed" {
		t.Errorf("diagnostic %v does not point at the edit", d)
	}
	if last, ok := e.Watcher().Last(); !ok || last.Outcome != reload.Rejected || engine.Diagnostics(last.Err) == nil {
		t.Errorf("Last() = %+v, %v", last, ok)
	}
	if got, r := say(t, e, "u", chatOpen); got != "v1 1" || r.Trace.ConfigVersion != good || e.Config().Version != good {
		t.Errorf("after a rejected edit: %q on version %s, want v1 on %s", got, r.Trace.ConfigVersion, good)
	}
	if !strings.Contains(logs.String(), "reload rejected") || !strings.Contains(logs.String(), `field \"colour\" not allowed`) {
		t.Errorf("rejection not logged with its diagnostics:\n%s", logs.String())
	}

	writeFile(t, file, revScenario(3, "start"))
	ev = applied(t, events)
	if got, r := say(t, e, "u", chatOpen); got != "v3 3" || r.Trace.ConfigVersion != ev.Version {
		t.Errorf("after the fix: %q on %s, want v3 on %s", got, r.Trace.ConfigVersion, ev.Version)
	}
	if !strings.Contains(logs.String(), "scenarios reloaded") {
		t.Errorf("reload not logged:\n%s", logs.String())
	}
}

func TestWatchRemovedTurnContinues(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "live.cue")
	writeFile(t, file, revScenario(1, "start"))
	e, events := watched(t, dir, newProbeEnv(t).Environment)
	if got, _ := say(t, e, "u", chatOpen); got != "v1 1" {
		t.Fatalf("welcome: %q", got)
	}
	// The user now stands in turn "start", which the edit renames.
	writeFile(t, file, revScenario(2, "begin"))
	applied(t, events)
	got, r := say(t, e, "u", text("ping"))
	if got != "v2 2 pong" {
		t.Errorf("after the turn was removed: %q\n%s", got, dump(r.Trace))
	}
	if !strings.Contains(strings.Join(r.Trace.Events, "\n"), `turn "start" no longer exists`) {
		t.Errorf("trace does not say why the position changed: %q", r.Trace.Events)
	}
	if got, _ := say(t, e, "u", chatOpen); got != "v2 2" {
		t.Errorf("chat opened again: %q", got)
	}
}

// TestWatchFileOperations reloads through each way files change on disk.
func TestWatchFileOperations(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "live.cue")
	writeFile(t, file, revScenario(1, "start"))
	writeFile(t, filepath.Join(dir, "other.cue"), otherScenario)
	e, events := watched(t, dir, newProbeEnv(t).Environment)
	check := func(step, want string) {
		t.Helper()
		ev := applied(t, events)
		if got, r := say(t, e, "u", chatOpen); got != want || r.Trace.ConfigVersion != ev.Version {
			t.Fatalf("%s: %q on %s, want %q on %s", step, got, r.Trace.ConfigVersion, want, ev.Version)
		}
	}

	writeFile(t, file, revScenario(2, "start"))
	check("edit in place", "v2 2")

	tmp := filepath.Join(dir, ".live.cue.swp")
	writeFile(t, tmp, revScenario(3, "start"))
	if err := os.Rename(tmp, file); err != nil {
		t.Fatal(err)
	}
	check("rename-save", "v3 3")

	if err := os.Remove(file); err != nil {
		t.Fatal(err)
	}
	// "live" is gone and "other" is not active: a change that leaves no
	// active scenario is rejected, and v3 keeps answering.
	ev := decided(t, events)
	if list := engine.Diagnostics(ev.Err); ev.Outcome != reload.Rejected || len(list) != 1 || list[0].Code != diag.CodeNoActiveScenario {
		t.Fatalf("delete: %s %v", ev.Outcome, ev.Err)
	}
	if got, _ := say(t, e, "u", chatOpen); got != "v3 3" {
		t.Fatalf("after the delete: %q", got)
	}
	writeFile(t, file, revScenario(4, "start"))
	check("delete and recreate", "v4 4")

	if err := os.Remove(file); err != nil {
		t.Fatal(err)
	}
	decided(t, events)
	writeFile(t, filepath.Join(dir, "sub", "deeper", "live.cue"), revScenario(5, "start"))
	check("new subdirectory", "v5 5")
	writeFile(t, filepath.Join(dir, "sub", "deeper", "live.cue"), revScenario(6, "start"))
	check("edit in the new subdirectory", "v6 6")
}

// configMapUpdate writes files as Kubernetes updates a mounted ConfigMap: into
// a new timestamped directory, then swaps the ..data symlink to it.
func configMapUpdate(t *testing.T, root, stamp string, files map[string]string) {
	t.Helper()
	dir := "..2026_01_01_00_00_" + stamp
	for name, content := range files {
		writeFile(t, filepath.Join(root, dir, name), content)
	}
	old, _ := os.Readlink(filepath.Join(root, "..data"))
	if err := os.Symlink(dir, filepath.Join(root, "..data_tmp")); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(filepath.Join(root, "..data_tmp"), filepath.Join(root, "..data")); err != nil {
		t.Fatal(err)
	}
	for name := range files {
		link := filepath.Join(root, name)
		if _, err := os.Lstat(link); errors.Is(err, fs.ErrNotExist) {
			if err := os.Symlink(filepath.Join("..data", name), link); err != nil {
				t.Fatal(err)
			}
		}
	}
	if old != "" {
		if err := os.RemoveAll(filepath.Join(root, old)); err != nil {
			t.Fatal(err)
		}
	}
}

func TestWatchConfigMapSymlinkSwap(t *testing.T) {
	root := t.TempDir()
	configMapUpdate(t, root, "01", map[string]string{"live.cue": revScenario(1, "start"), "other.cue": otherScenario})
	e, events := watched(t, root, newProbeEnv(t).Environment)
	if got, _ := say(t, e, "u", chatOpen); got != "v1 1" {
		t.Fatalf("initial: %q", got)
	}
	for rev := 2; rev <= 3; rev++ {
		configMapUpdate(t, root, strconv.Itoa(rev), map[string]string{"live.cue": revScenario(rev, "start"), "other.cue": otherScenario})
		ev := applied(t, events)
		if len(ev.Modified) != 1 || ev.Modified[0] != "live.cue" {
			t.Errorf("swap %d: modified %v", rev, ev.Modified)
		}
		want := fmt.Sprintf("v%d %d", rev, rev)
		if got, r := say(t, e, "u", chatOpen); got != want || r.Trace.ConfigVersion != ev.Version {
			t.Fatalf("swap %d: %q on %s, want %q on %s", rev, got, r.Trace.ConfigVersion, want, ev.Version)
		}
	}
}

func TestWatchBurstOfWrites(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "live.cue")
	writeFile(t, file, revScenario(0, "start"))
	e, events := watched(t, dir, newProbeEnv(t).Environment)
	for rev := 1; rev <= 100; rev++ {
		writeFile(t, file, revScenario(rev, "start"))
	}
	reloads := 0
	for {
		ev := applied(t, events)
		reloads++
		if e.Config().Version == ev.Version {
			if got, _ := say(t, e, "u", chatOpen); got == "v100 100" {
				break
			}
		}
	}
	// Nothing more comes.
	select {
	case ev := <-events:
		if ev.Outcome != reload.Unchanged {
			reloads++
		}
	case <-time.After(300 * time.Millisecond):
	}
	if reloads < 1 || reloads > 2 {
		t.Errorf("100 writes gave %d reloads, want 1 or 2", reloads)
	}
}

// TestWatchParallelTurnsAcrossReloads runs turns of several users in
// parallel while the scenario is rewritten: every reply must come from one
// version (its literal text, the output of its action and the trace's
// version agree), and no action runs after, or is closed during, its
// configuration's retirement. Run it with -race.
func TestWatchParallelTurnsAcrossReloads(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "live.cue")
	writeFile(t, file, revScenario(0, "start"))
	writeFile(t, filepath.Join(dir, "other.cue"), otherScenario)
	env := newProbeEnv(t)
	e, events := watched(t, dir, env.Environment)
	versions := map[string]int{e.Config().Version: 0}

	type seen struct {
		version string
		text    string
	}
	const workers, usersPerWorker, revisions = 4, 3, 8
	done := make(chan struct{})
	results := make([][]seen, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-done:
					return
				default:
				}
				user := fmt.Sprintf("user-%d-%d", w, i%usersPerWorker)
				for _, u := range []plugins.Utterance{chatOpen, text("ping")} {
					r, err := e.Handle(context.Background(), user, u)
					if err != nil {
						t.Error(err)
						return
					}
					for _, m := range r.Messages {
						results[w] = append(results[w], seen{r.Trace.ConfigVersion, m.Text})
					}
					if len(r.Trace.Errors) > 0 {
						t.Errorf("turn problems: %q", r.Trace.Errors)
					}
				}
			}
		}()
	}
	for rev := 1; rev <= revisions; rev++ {
		writeFile(t, file, revScenario(rev, "start"))
		ev := applied(t, events)
		versions[ev.Version] = rev
		time.Sleep(20 * time.Millisecond) // let turns run on this version
	}
	close(done)
	wg.Wait()

	turns := 0
	perVersion := map[int]int{}
	for _, rs := range results {
		for _, s := range rs {
			turns++
			rev, ok := versions[s.version]
			if !ok {
				t.Fatalf("reply %q on unknown version %s", s.text, s.version)
			}
			want := fmt.Sprintf("v%d %d", rev, rev)
			if s.text != want && s.text != want+" pong" {
				t.Fatalf("reply %q on version %s (revision %d): a mix of versions", s.text, s.version, rev)
			}
			perVersion[rev]++
		}
	}
	if len(perVersion) < 3 {
		t.Errorf("turns ran on only %d versions (%v): the test did not overlap reloads", len(perVersion), perVersion)
	}
	if n := env.bad.Load(); n != 0 {
		t.Errorf("%d actions ran after their configuration was closed, or were closed while running", n)
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	env.mu.Lock()
	defer env.mu.Unlock()
	for _, p := range env.probes {
		if n := p.closes.Load(); n != 1 {
			t.Errorf("probe of revision %d closed %d times, want once", p.rev, n)
		}
	}
	t.Logf("%d replies over %d versions: %v", turns, len(perVersion), perVersion)
}

// syncBuffer is a bytes.Buffer safe for concurrent writes (log records
// come from the watcher's goroutine).
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
