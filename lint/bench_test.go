package lint_test

import (
	"testing"

	"github.com/parleyhq/parley/dsl"
	"github.com/parleyhq/parley/dsl/dsltest"
	"github.com/parleyhq/parley/lint"
)

// BenchmarkLint1000 lints 1,000 generated scenarios (dsltest.WriteShop), the
// work parley validate adds to loading them.
func BenchmarkLint1000(b *testing.B) {
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
		lint.Check(cfg, nil, lint.Options{})
	}
}
