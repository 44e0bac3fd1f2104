package reload_test

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parleyhq/parley/diag"
	"github.com/parleyhq/parley/dsl"
	"github.com/parleyhq/parley/dsl/dsltest"
	_ "github.com/parleyhq/parley/plugins/all"
	"github.com/parleyhq/parley/reload"
)

// writeScenario writes generated scenario i at revision rev (see dsltest.WriteShop).
func writeScenario(dir string, i, rev int) error { return dsltest.WriteShop(dir, i, rev) }

func generate(tb testing.TB, n int) string {
	tb.Helper()
	dir := tb.TempDir()
	for i := 0; i < n; i++ {
		if err := writeScenario(dir, i, 0); err != nil {
			tb.Fatal(err)
		}
	}
	return dir
}

// engine stands in for engine.Engine: an atomic pointer to the live
// configuration, swapped by the reload callback, the retired one closed.
type engine struct {
	dir string
	cfg atomic.Pointer[dsl.Config]
}

func (e *engine) apply(ctx context.Context, c reload.Change) error {
	next, err := dsl.LoadDir(e.dir, dsl.Options{})
	if err != nil {
		return err
	}
	if old := e.cfg.Swap(next); old != nil {
		old.Close()
	}
	return nil
}

func openEngine(tb testing.TB, dir string) (*engine, *reload.Watcher, <-chan reload.Event) {
	tb.Helper()
	e := &engine{dir: dir}
	cfg, err := dsl.LoadDir(dir, dsl.Options{})
	if err != nil {
		tb.Fatalf("loading %s: %v", dir, err)
	}
	e.cfg.Store(cfg)
	w, err := reload.New(dir, reload.Options{Version: cfg.Version, Include: dsl.IsScenarioFile, Apply: e.apply})
	if err != nil {
		tb.Fatal(err)
	}
	events, cancel := w.Subscribe()
	if err := w.Start(context.Background()); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		cancel()
		w.Close()
		e.cfg.Load().Close()
	})
	return e, w, events
}

// next returns the next event that is not Unchanged, failing after 30 s.
func next(tb testing.TB, events <-chan reload.Event) reload.Event {
	tb.Helper()
	timeout := time.NewTimer(30 * time.Second)
	defer timeout.Stop()
	for {
		select {
		case ev := <-events:
			if ev.Outcome != reload.Unchanged {
				return ev
			}
		case <-timeout.C:
			tb.Fatal("no reload within 30s")
		}
	}
}

func TestHashMatchesLoader(t *testing.T) {
	t.Parallel()
	dir := generate(t, 3)
	if err := os.WriteFile(filepath.Join(dir, "README.md"), []byte("not read"), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := dsl.LoadDir(dir, dsl.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer cfg.Close()
	for name, include := range map[string]func(string) bool{"default": nil, "dsl.IsScenarioFile": dsl.IsScenarioFile} {
		got, err := reload.Hash(dir, include)
		if err != nil {
			t.Fatal(err)
		}
		if got != cfg.Version {
			t.Errorf("%s: Hash = %s, dsl Config.Version = %s", name, got, cfg.Version)
		}
	}
	for _, name := range []string{"a.cue", "a.yaml", "a.yml", "a_test.cue", "a_test.yml", ".a.cue", "a.json", "..data", "x.cue.swp"} {
		if reload.IsConfigFile(name) != dsl.IsScenarioFile(name) {
			t.Errorf("IsConfigFile(%q) = %v, dsl.IsScenarioFile = %v", name, reload.IsConfigFile(name), dsl.IsScenarioFile(name))
		}
	}
}

func TestRealLoaderRejectsInvalidEdit(t *testing.T) {
	t.Parallel()
	dir := generate(t, 2)
	e, w, events := openEngine(t, dir)
	good := e.cfg.Load()

	file := filepath.Join(dir, "shop0001", "main.cue")
	src, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	broken := strings.Replace(string(src), `description: "Order desk number 1"`, `description: "Order desk number 1"
	colour: "blue"`, 1)
	if err := os.WriteFile(file, []byte(broken), 0o644); err != nil {
		t.Fatal(err)
	}
	ev := next(t, events)
	var diags diag.List
	if ev.Outcome != reload.Rejected || !errors.As(ev.Err, &diags) || len(diags) == 0 {
		t.Fatalf("invalid edit: outcome %s, err %v", ev.Outcome, ev.Err)
	}
	if !strings.Contains(diags[0].File, "shop0001/main.cue") || diags[0].Line == 0 {
		t.Errorf("diagnostic %v does not point at the edit", diags[0])
	}
	if e.cfg.Load() != good || w.Version() != good.Version {
		t.Error("the old configuration no longer serves")
	}

	if err := writeScenario(dir, 1, 1); err != nil {
		t.Fatal(err)
	}
	ev = next(t, events)
	if ev.Outcome != reload.Applied || e.cfg.Load().Version != ev.Version || len(e.cfg.Load().Scenarios) != 2 {
		t.Fatalf("fix: outcome %s err %v, live version %s event %s", ev.Outcome, ev.Err, e.cfg.Load().Version, ev.Version)
	}
}

// benchWriteToLive measures the time from a file write to the new version
// being live (the reload event received by a subscriber).
func benchWriteToLive(b *testing.B, dir string, apply reload.ApplyFunc, edit func(rev int) error) {
	w, err := reload.New(dir, reload.Options{Include: dsl.IsScenarioFile, Apply: apply})
	if err != nil {
		b.Fatal(err)
	}
	events, cancel := w.Subscribe()
	defer cancel()
	if err := w.Start(context.Background()); err != nil {
		b.Fatal(err)
	}
	defer w.Close()
	var total, applying time.Duration
	n := 0
	for rev := 1; b.Loop(); rev++ {
		start := time.Now()
		if err := edit(rev); err != nil {
			b.Fatal(err)
		}
		ev := next(b, events)
		if ev.Outcome != reload.Applied {
			b.Fatalf("revision %d: %s: %v", rev, ev.Outcome, ev.Err)
		}
		total += time.Since(start)
		applying += ev.Duration
		n++
	}
	b.ReportMetric(float64(total.Microseconds())/float64(n)/1000, "ms/write-to-live")
	b.ReportMetric(float64(applying.Microseconds())/float64(n)/1000, "ms/scan+apply")
}

// BenchmarkWriteToLiveTrivial uses a loader that only reads the file: the
// latency is the debounce plus the watcher's own work.
func BenchmarkWriteToLiveTrivial(b *testing.B) {
	dir := b.TempDir()
	file := filepath.Join(dir, "a.cue")
	if err := os.WriteFile(file, []byte("rev: 0"), 0o644); err != nil {
		b.Fatal(err)
	}
	var live atomic.Pointer[[]byte]
	apply := func(ctx context.Context, c reload.Change) error {
		data, err := os.ReadFile(file)
		if err == nil {
			live.Store(&data)
		}
		return err
	}
	benchWriteToLive(b, dir, apply, func(rev int) error {
		return os.WriteFile(file, []byte(fmt.Sprintf("rev: %d", rev)), 0o644)
	})
}

// BenchmarkWriteToLiveExamples reloads a copy of the example scenarios
// (/work/main/scenarios, that is ../scenarios) with the real loader after
// an edit of one file.
func BenchmarkWriteToLiveExamples(b *testing.B) {
	dir := b.TempDir()
	var target string
	err := os.CopyFS(dir, os.DirFS("../scenarios"))
	if err == nil {
		err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
			if err == nil && target == "" && !d.IsDir() && strings.HasSuffix(p, ".cue") && dsl.IsScenarioFile(d.Name()) {
				target = p
			}
			return err
		})
	}
	if err != nil || target == "" {
		b.Skipf("no example scenarios in ../scenarios (%v)", err)
	}
	original, err := os.ReadFile(target)
	if err != nil {
		b.Fatal(err)
	}
	e := &engine{dir: dir}
	if err := e.apply(context.Background(), reload.Change{}); err != nil {
		b.Fatalf("the example scenarios do not load: %v", err)
	}
	defer func() { e.cfg.Load().Close() }()
	benchWriteToLive(b, dir, e.apply, func(rev int) error {
		return os.WriteFile(target, fmt.Appendf(append([]byte(nil), original...), "\n// revision %d\n", rev), 0o644)
	})
}

// BenchmarkWriteToLive1000 reloads 1,000 generated scenarios with the real
// loader after an edit of one of them.
func BenchmarkWriteToLive1000(b *testing.B) {
	dir := generate(b, 1000)
	e := &engine{dir: dir}
	if err := e.apply(context.Background(), reload.Change{}); err != nil {
		b.Fatal(err)
	}
	defer func() { e.cfg.Load().Close() }()
	if n := len(e.cfg.Load().Scenarios); n != 1000 {
		b.Fatalf("%d scenarios", n)
	}
	benchWriteToLive(b, dir, e.apply, func(rev int) error {
		return writeScenario(dir, rev%1000, rev)
	})
}

// BenchmarkHash1000 measures the watcher's own work per reload on 1,000
// scenarios: walking the tree and hashing every file.
func BenchmarkHash1000(b *testing.B) {
	dir := generate(b, 1000)
	for b.Loop() {
		if _, err := reload.Hash(dir, nil); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkWriteToLive1000Incremental is BenchmarkWriteToLive1000 with the
// incremental dsl.Loader (what engine.Watch uses): only the edited
// scenario is compiled again. Target: under 1s.
func BenchmarkWriteToLive1000Incremental(b *testing.B) {
	dir := generate(b, 1000)
	ld := dsl.NewDirLoader(dir, dsl.Options{})
	defer ld.Close()
	var live atomic.Pointer[dsl.Config]
	apply := func(ctx context.Context, c reload.Change) error {
		next, err := ld.Load()
		if err != nil {
			return err
		}
		if old := live.Swap(next); old != nil {
			old.Close()
		}
		return nil
	}
	if err := apply(context.Background(), reload.Change{}); err != nil {
		b.Fatal(err)
	}
	defer func() { live.Load().Close() }()
	benchWriteToLive(b, dir, apply, func(rev int) error {
		return writeScenario(dir, rev%1000, rev)
	})
}
