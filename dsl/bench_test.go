package dsl

import (
	"fmt"
	"github.com/parleyhq/parley/dsl/dsltest"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// writeScenario writes generated scenario i (see dsltest.WriteShop).
func writeScenario(dir string, i int) error { return dsltest.WriteShop(dir, i, 0) }

func generate(tb testing.TB, n int) string {
	dir := tb.TempDir()
	for i := 0; i < n; i++ {
		if err := writeScenario(dir, i); err != nil {
			tb.Fatal(err)
		}
	}
	return dir
}

// BenchmarkLoad1000 loads, validates and compiles 1,000 generated scenarios
// (see writeScenario). Besides wall time it reports the CPU time of the
// process per load (cpu-ms/op), which other work on a shared machine
// disturbs less.
func BenchmarkLoad1000(b *testing.B) {
	benchLoad(b, generate(b, 1000), 1000)
}

// BenchmarkLoad1000Greeter loads 1,000 copies of the greeter walkthrough,
// a smaller scenario (one conversation, one action, 5 intents).
func BenchmarkLoad1000Greeter(b *testing.B) {
	src, err := os.ReadFile("testdata/good/greeter/greeter.cue")
	if err != nil {
		b.Fatal(err)
	}
	dir := b.TempDir()
	for i := range 1000 {
		name := fmt.Sprintf("greeter%04d", i)
		d := filepath.Join(dir, name)
		if err := os.MkdirAll(d, 0o755); err != nil {
			b.Fatal(err)
		}
		body := strings.Replace(string(src), "scenarios: greeter:", "scenarios: "+name+":", 1)
		if err := os.WriteFile(filepath.Join(d, "main.cue"), []byte(body), 0o644); err != nil {
			b.Fatal(err)
		}
	}
	benchLoad(b, dir, 1000)
}

func benchLoad(b *testing.B, dir string, n int) {
	env := testEnv()
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := cpuTime()
	for b.Loop() {
		cfg, err := LoadDir(dir, Options{Env: env})
		if err != nil {
			b.Fatal(err)
		}
		if len(cfg.Scenarios) != n {
			b.Fatalf("%d scenarios", len(cfg.Scenarios))
		}
		cfg.Close()
	}
	b.ReportMetric(float64((cpuTime()-cpu0).Milliseconds())/float64(b.N), "cpu-ms/op")
}

// cpuTime is the user and system CPU time of the process so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func TestGeneratedScenarioLoads(t *testing.T) {
	dir := generate(t, 2)
	cfg, err := LoadDir(dir, Options{Env: testEnv()})
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Scenarios) != 2 {
		t.Fatalf("%d scenarios", len(cfg.Scenarios))
	}
}
