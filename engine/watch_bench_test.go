package engine_test

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/parleyhq/parley/dsl"
	"github.com/parleyhq/parley/dsl/dsltest"
	"github.com/parleyhq/parley/engine"
	"github.com/parleyhq/parley/plugins"
	_ "github.com/parleyhq/parley/plugins/all" // webhook actions for the generated scenarios
)

// writeShop writes generated scenario i at revision rev (see dsltest.WriteShop).
func writeShop(dir string, i, rev int) error { return dsltest.WriteShop(dir, i, rev) }

// benchWatchWriteToLive measures, through an engine opened with WithWatch,
// the time from a file write to the new version being live (the reload
// event received): the debounce, the watcher's scan, the incremental load and
// the swap. A turn then checks that it runs on the new version; its own time
// is reported apart (ms/first-turn).
func benchWatchWriteToLive(b *testing.B, dir string, env *plugins.Environment, edit func(rev int) error) {
	e, err := engine.Open(dir, engine.WithEnvironment(env), engine.WithWatch(engine.WatchOptions{}))
	if err != nil {
		b.Fatal(err)
	}
	defer e.Close()
	events, cancel := e.Watcher().Subscribe()
	defer cancel()
	var total, applying, turn time.Duration
	n := 0
	for rev := 1; b.Loop(); rev++ {
		start := time.Now()
		if err := edit(rev); err != nil {
			b.Fatal(err)
		}
		ev := applied(b, events)
		live := time.Since(start)
		// A turn (of an utterance that runs no action) on the new version.
		r, err := e.Handle(context.Background(), "bench", plugins.Utterance{Type: plugins.Text, Text: "no such words"})
		if err != nil || r.Trace.ConfigVersion != ev.Version {
			b.Fatalf("turn after reload: %v, version %s, want %s", err, r.Trace.ConfigVersion, ev.Version)
		}
		total += live
		turn += time.Since(start) - live
		applying += ev.Duration
		n++
	}
	b.ReportMetric(float64(total.Microseconds())/float64(n)/1000, "ms/write-to-live")
	b.ReportMetric(float64(applying.Microseconds())/float64(n)/1000, "ms/scan+load")
	b.ReportMetric(float64(turn.Microseconds())/float64(n)/1000, "ms/first-turn")
}

// BenchmarkWatchWriteToLiveExamples edits one file of a copy of the example
// scenarios (../scenarios). Target: under 150ms.
func BenchmarkWatchWriteToLiveExamples(b *testing.B) {
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
	benchWatchWriteToLive(b, dir, plugins.Global(), func(rev int) error {
		return os.WriteFile(target, fmt.Appendf(append([]byte(nil), original...), "\n// revision %d\n", rev), 0o644)
	})
}

// BenchmarkWatchWriteToLive1000 edits one of 1,000 generated scenarios.
// Target: under 1s.
func BenchmarkWatchWriteToLive1000(b *testing.B) {
	dir := b.TempDir()
	for i := range 1000 {
		if err := writeShop(dir, i, 0); err != nil {
			b.Fatal(err)
		}
	}
	benchWatchWriteToLive(b, dir, plugins.Global(), func(rev int) error {
		return writeShop(dir, rev%1000, rev)
	})
}
