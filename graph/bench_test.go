package graph_test

import (
	"testing"

	"github.com/parleyhq/parley/dsl"
	"github.com/parleyhq/parley/dsl/dsltest"
	"github.com/parleyhq/parley/graph"
)

// BenchmarkGraph1000 builds the graph of 1,000 generated scenarios (dsltest.WriteShop)
// and renders it as Mermaid, as parley graph does after loading. Target: under 2 s.
func BenchmarkGraph1000(b *testing.B) {
	dir := b.TempDir()
	for i := range 1000 {
		if err := dsltest.WriteShop(dir, i, 0); err != nil {
			b.Fatal(err)
		}
	}
	cfg, err := dsl.LoadDir(dir, dsl.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer cfg.Close()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		g := graph.New(cfg)
		if len(g.Mermaid(graph.Options{})) == 0 || len(g.Scenarios) != 1000 {
			b.Fatal("no graph")
		}
	}
}
