package diff_test

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/parleyhq/parley/diff"
	"github.com/parleyhq/parley/dsl"
	"github.com/parleyhq/parley/dsl/dsltest"
)

// shops writes 1,000 generated scenarios (dsltest.WriteShop) to a new
// directory; edited ones get another description and greeting.
func shops(b *testing.B, rev int, edited map[int]bool) string {
	b.Helper()
	dir := b.TempDir()
	for i := range 1000 {
		if err := dsltest.WriteShop(dir, i, rev); err != nil {
			b.Fatal(err)
		}
		if edited[i] {
			p := filepath.Join(dir, fmt.Sprintf("shop%04d", i), "main.cue")
			src, err := os.ReadFile(p)
			if err != nil {
				b.Fatal(err)
			}
			s := strings.Replace(string(src), "Order desk number", "Order and returns desk number", 1)
			s = strings.Replace(s, "How can I help with", "What can I do for you at", 1)
			if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
				b.Fatal(err)
			}
		}
	}
	return dir
}

func benchConfigs(b *testing.B) (*dsl.Config, *dsl.Config, map[int]bool) {
	edited := map[int]bool{}
	for i := 0; i < 1000; i += 100 {
		edited[i] = true
	}
	oldCfg, err := dsl.LoadDir(shops(b, 0, nil), dsl.Options{})
	if err != nil {
		b.Fatal(err)
	}
	newCfg, err := dsl.LoadDir(shops(b, 1, edited), dsl.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { oldCfg.Close(); newCfg.Close() })
	return oldCfg, newCfg, edited
}

// BenchmarkDiff1000 compares two configurations of 1,000 generated scenarios,
// ten of them edited, and renders the Markdown, as parley diff does after
// loading both sides. Target: under 2 s.
func BenchmarkDiff1000(b *testing.B) {
	oldCfg, newCfg, edited := benchConfigs(b)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		r := diff.Compare("old", oldCfg, "new", newCfg)
		if len(r.Changes) != 2*len(edited) {
			b.Fatalf("%d changes, want %d", len(r.Changes), 2*len(edited))
		}
		r.Markdown(io.Discard)
	}
}

// BenchmarkDiff1000WithLoad is BenchmarkDiff1000 plus loading both sides
// from their directories: all that parley diff OLD NEW does.
func BenchmarkDiff1000WithLoad(b *testing.B) {
	edited := map[int]bool{0: true, 500: true}
	oldDir, newDir := shops(b, 0, nil), shops(b, 1, edited)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		oldCfg, err := dsl.LoadDir(oldDir, dsl.Options{})
		if err != nil {
			b.Fatal(err)
		}
		newCfg, err := dsl.LoadDir(newDir, dsl.Options{})
		if err != nil {
			b.Fatal(err)
		}
		r := diff.Compare("old", oldCfg, "new", newCfg)
		if len(r.Changes) != 2*len(edited) {
			b.Fatalf("%d changes", len(r.Changes))
		}
		oldCfg.Close()
		newCfg.Close()
	}
}
