package dsl_test

import (
	"testing"

	"github.com/parleyhq/parley/dsl"
	"github.com/parleyhq/parley/plugins"
	_ "github.com/parleyhq/parley/plugins/all"
)

// BenchmarkLoad1000RealPlugins is BenchmarkLoad1000 with the plugins of the
// parley binary (the real webhook action kind) instead of the test fixtures.
func BenchmarkLoad1000RealPlugins(b *testing.B) {
	dir := b.TempDir()
	for i := range 1000 {
		if err := dsl.WriteScenarioForTest(dir, i); err != nil {
			b.Fatal(err)
		}
	}
	env := plugins.NewEnvironment()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		cfg, err := dsl.LoadDir(dir, dsl.Options{Env: env})
		if err != nil {
			b.Fatal(err)
		}
		cfg.Close()
	}
}

// TestExamplesLoadWithRealPlugins loads the example scenarios with the
// plugins of the parley binary.
func TestExamplesLoadWithRealPlugins(t *testing.T) {
	cfg, err := dsl.LoadDir("../scenarios", dsl.Options{Env: plugins.NewEnvironment()})
	if err != nil {
		t.Fatal(err)
	}
	defer cfg.Close()
	for _, name := range []string{"booking", "greeter", "order_status"} {
		if cfg.Scenario(name) == nil {
			t.Errorf("no scenario %s", name)
		}
	}
	if a := cfg.Scenario("greeter").Actions["full_name"]; a == nil || a.Kind != "webhook" || a.Impl == nil {
		t.Errorf("greeter's full_name action: %+v", a)
	}
}
