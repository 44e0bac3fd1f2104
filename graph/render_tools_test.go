package graph_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/parleyhq/parley/graph"
)

// Tools the rendering tests use. Without one the test is skipped, unless CI
// is set: then it fails (.ci/run installs them).
const (
	// envChromium names the Chromium binary (default: chromium on PATH, then /usr/bin/chromium).
	envChromium = "PARLEY_CHROMIUM"
	// envMermaid names a directory holding node_modules/mermaid (npm install mermaid);
	// default $HOME/.cache/parley/mermaid, where .ci/run installs it.
	envMermaid = "PARLEY_MERMAID_DIR"
)

func need(t *testing.T, what, how string) {
	t.Helper()
	if os.Getenv("CI") != "" {
		t.Fatalf("%s is missing and CI is set: %s", what, how)
	}
	t.Skipf("%s is missing (%s); skipping", what, how)
}

func findChromium() string {
	if p := os.Getenv(envChromium); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if _, err := os.Stat("/usr/bin/chromium"); err == nil {
		return "/usr/bin/chromium"
	}
	return ""
}

// mermaidJS returns the path of mermaid.min.js, or "".
func mermaidJS() string {
	dir := os.Getenv(envMermaid)
	if dir == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return ""
		}
		dir = filepath.Join(home, ".cache", "parley", "mermaid")
	}
	p := filepath.Join(dir, "node_modules", "mermaid", "dist", "mermaid.min.js")
	if _, err := os.Stat(p); err != nil {
		return ""
	}
	return p
}

// mermaidCases are the diagrams the browser renders: each example, and one
// with every kind of highlight and an unreachable turn.
func mermaidCases(t *testing.T) map[string]string {
	cfg := examples(t)
	t.Cleanup(func() { cfg.Close() })
	g := graph.New(cfg)
	out := map[string]string{}
	for _, name := range exampleNames {
		out[name] = g.Mermaid(graph.Options{Scenario: name})
	}
	s := g.Scenario("booking")
	classes := map[string]string{}
	turns := map[string]bool{}
	for i, in := range s.Intents() {
		if i%3 == 0 {
			classes[in.ID] = graph.ClassAdded
		} else if i%3 == 1 {
			classes[in.ID] = graph.ClassChanged
		}
		if i < 8 {
			turns[s.Turn(in.Src.Turn).ID] = true
		}
	}
	out["all-with-highlights"] = g.Mermaid(graph.Options{Classes: classes})
	out["booking-part"] = g.Mermaid(graph.Options{Scenario: "booking", Turns: turns, Classes: classes})
	// The graph of parley diff --format markdown's golden output.
	md, err := os.ReadFile("../cmd/parley/testdata/diff.md")
	if err != nil {
		t.Fatal(err)
	}
	_, block, ok := strings.Cut(string(md), "```mermaid\n")
	block, _, ok2 := strings.Cut(block, "```")
	if !ok || !ok2 {
		t.Fatal("cmd/parley/testdata/diff.md holds no mermaid block")
	}
	out["diff-markdown"] = block
	return out
}

// TestMermaidRendersInChromium renders the Mermaid output with the mermaid npm
// package in a headless Chromium: a syntax error fails mermaid.render.
func TestMermaidRendersInChromium(t *testing.T) {
	chromium := findChromium()
	if chromium == "" {
		need(t, "chromium", "apt-get install chromium, or set "+envChromium)
	}
	js := mermaidJS()
	if js == "" {
		need(t, "the mermaid npm package", "npm install --prefix ~/.cache/parley/mermaid mermaid, or set "+envMermaid)
	}
	script, err := os.ReadFile(js)
	if err != nil {
		t.Fatal(err)
	}
	cases := mermaidCases(t)
	mux := http.NewServeMux()
	mux.HandleFunc("/mermaid.min.js", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/javascript")
		w.Write(script)
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `<!doctype html><html><head><meta charset="utf-8"><script src="/mermaid.min.js"></script></head><body><div id="out"></div></body></html>`)
	})
	srv := httptest.NewServer(mux) // 127.0.0.1
	defer srv.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(ctx,
		chromedp.ExecPath(chromium), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-dev-shm-usage", true), chromedp.UserDataDir(t.TempDir()))
	defer cancelAlloc()
	bctx, cancelBrowser := chromedp.NewContext(allocCtx, chromedp.WithLogf(t.Logf))
	defer cancelBrowser()
	if err := chromedp.Do(bctx, chromedp.Navigate(srv.URL+"/"),
		chromedp.Poll[chromedp.Void](`typeof mermaid !== "undefined"`, chromedp.WithPollingTimeout(30*time.Second))); err != nil {
		t.Fatalf("loading mermaid in chromium: %v", err)
	}
	if _, err := chromedp.Run(bctx, chromedp.Evaluate[bool](`mermaid.initialize({startOnLoad: false, securityLevel: "strict"}); true`)); err != nil {
		t.Fatal(err)
	}
	for name, text := range cases {
		expr := fmt.Sprintf(`mermaid.render(%q, %s).then(r => r.svg, e => "ERROR: " + (e && e.message || String(e)))`,
			"g_"+strings.ReplaceAll(name, "-", "_"), jsString(text))
		result, err := chromedp.Run(bctx, chromedp.Evaluate[string](expr, chromedp.EvalAwaitPromise))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if strings.HasPrefix(result, "ERROR: ") || !strings.Contains(result, "<svg") {
			t.Errorf("%s: mermaid does not render it: %.300s\n%s", name, result, text)
		}
		if strings.Contains(result, "Syntax error") {
			t.Errorf("%s: mermaid drew a syntax error", name)
		}
	}
}

// TestDOTRendersWithGraphviz runs Graphviz dot over the DOT output of each example.
func TestDOTRendersWithGraphviz(t *testing.T) {
	dot, err := exec.LookPath("dot")
	if err != nil {
		need(t, "graphviz dot", "apt-get install graphviz")
	}
	cfg := examples(t)
	defer cfg.Close()
	g := graph.New(cfg)
	for _, name := range append(exampleNames, "") {
		cmd := exec.Command(dot, "-Tsvg")
		cmd.Stdin = strings.NewReader(g.DOT(graph.Options{Scenario: name}))
		var out, errOut bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errOut
		if err := cmd.Run(); err != nil || errOut.Len() > 0 {
			t.Errorf("dot over %q: %v\n%s", name, err, errOut.String())
		}
		if !strings.Contains(out.String(), "<svg") {
			t.Errorf("dot over %q printed no SVG", name)
		}
	}
}

// jsString quotes s as a JavaScript string literal.
func jsString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch r {
		case '"', '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case '\n':
			b.WriteString(`\n`)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}
