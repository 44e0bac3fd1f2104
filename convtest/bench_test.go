package convtest_test

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/parleyhq/parley/convtest"
)

// benchSuite writes 1,000 tests of five steps each (chat opening, a button
// press with a mocked action, a no-match, a second opening and a press of
// the other button), every step with expectations, beside the shop scenario.
func benchSuite(b *testing.B) string {
	dir := b.TempDir()
	copyFile(b, "testdata/expect/shop.cue", filepath.Join(dir, "shop.cue"))
	var src strings.Builder
	src.WriteString("tests: {\n")
	for i := range 1000 {
		fmt.Fprintf(&src, `	t%04d: {
		fixtures: user: vip: %t
		mocks: quote: calls: [{outputs: price: %d}, {fail: "timeout"}]
		steps: [
			{open: true, reply: [{text: "Which size?", buttons: [{text: "Small"}, {text: "Large"}]}]},
			{click_text: "Large", actions: [{name: "quote", inputs: size: "L", success: true}], context: "user.price": %d},
			{say: "hello?", no_match: true},
			{open: true, intents: ["intent.core.welcome", "pick_size"]},
			{click: "size_chosen", reply: ["No price today."], completed: true},
		]
	}
`, i, i%2 == 0, 10+i, 10+i)
	}
	src.WriteString("}\n")
	writeFile(b, filepath.Join(dir, "bench_test.cue"), src.String())
	return dir
}

// BenchmarkRun1000 runs 1,000 test conversations of five steps (the target
// is under one second); the suite is loaded once, outside the timing.
func BenchmarkRun1000(b *testing.B) {
	s := load(b, benchSuite(b))
	if n := len(s.Tests()); n != 1000 {
		b.Fatalf("%d tests", n)
	}
	b.ResetTimer()
	cpu0 := cpuTime()
	for b.Loop() {
		res := convtest.Run(context.Background(), s, convtest.Options{})
		if !res.Passed() {
			b.Fatalf("a test failed:\n%s", convtest.FormatResult(res.Tests[firstFailed(res)]))
		}
	}
	b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/1000-tests")
	// The process's CPU time, steadier than wall time on a shared machine.
	b.ReportMetric(float64((cpuTime()-cpu0).Milliseconds())/float64(b.N), "cpu-ms/op")
}

// BenchmarkLoadAndRun1000 is the same with the test file's loading (CUE
// validation, reference checks) and the scenario's loading included, as
// `parley test` does on every run.
func BenchmarkLoadAndRun1000(b *testing.B) {
	dir := benchSuite(b)
	b.ResetTimer()
	var load time.Duration
	cpu0 := cpuTime()
	for b.Loop() {
		start := time.Now()
		s, err := convtest.Load([]string{dir}, convtest.Options{})
		if err != nil {
			b.Fatal(err)
		}
		load += time.Since(start)
		if res := convtest.Run(context.Background(), s, convtest.Options{}); !res.Passed() {
			b.Fatal("a test failed")
		}
		s.Close()
	}
	b.ReportMetric(float64(load.Milliseconds())/float64(b.N), "load-ms/op")
	b.ReportMetric(float64((cpuTime()-cpu0).Milliseconds())/float64(b.N), "cpu-ms/op")
}

func firstFailed(res *convtest.Results) int {
	for i, r := range res.Tests {
		if !r.Passed {
			return i
		}
	}
	return 0
}

// cpuTime is the CPU time the process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
