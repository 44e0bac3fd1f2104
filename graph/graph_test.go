package graph_test

import (
	"flag"
	"os"
	"path/filepath"
	"testing"
	"testing/fstest"

	"github.com/parleyhq/parley/dsl"
	"github.com/parleyhq/parley/graph"
	_ "github.com/parleyhq/parley/plugins/all"
)

var update = flag.Bool("update", false, "rewrite the golden files of testdata/")

// examples loads the example scenarios.
func examples(t testing.TB) *dsl.Config {
	t.Helper()
	cfg, err := dsl.LoadDir("../scenarios", dsl.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// renderings are the three formats of one example.
func renderings(t testing.TB, g *graph.Graph, name string) map[string]string {
	t.Helper()
	o := graph.Options{Scenario: name}
	js, err := g.JSON(o)
	if err != nil {
		t.Fatal(err)
	}
	return map[string]string{".mmd": g.Mermaid(o), ".dot": g.DOT(o), ".json": string(js)}
}

var exampleNames = []string{"greeter", "booking", "order_status"}

// TestGolden compares graph's output in each format for the examples with
// testdata/NAME.{mmd,dot,json}; go test ./graph -update rewrites them.
func TestGolden(t *testing.T) {
	cfg := examples(t)
	defer cfg.Close()
	g := graph.New(cfg)
	for _, name := range exampleNames {
		for ext, got := range renderings(t, g, name) {
			path := filepath.Join("testdata", name+ext)
			if *update {
				if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				continue
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (go test ./graph -update writes it)", err)
			}
			if got != string(want) {
				t.Errorf("%s differs from the golden file (go test ./graph -update rewrites it):\n%s", path, got)
			}
		}
	}
}

// TestStable: the same configuration gives the same output, and so does a
// copy of it in other files.
func TestStable(t *testing.T) {
	cfg := examples(t)
	defer cfg.Close()
	a := graph.New(cfg).Mermaid(graph.Options{})
	b := graph.New(cfg).Mermaid(graph.Options{})
	if a != b {
		t.Fatal("two graphs of one configuration differ")
	}
	dir := t.TempDir()
	src, err := os.ReadFile("../scenarios/greeter/greeter.cue")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "renamed.cue"), src, 0o644); err != nil {
		t.Fatal(err)
	}
	moved, err := dsl.LoadDir(dir, dsl.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer moved.Close()
	if got, want := graph.New(moved).Mermaid(graph.Options{}), graph.New(cfg).Mermaid(graph.Options{Scenario: "greeter"}); got != want {
		t.Errorf("the greeter in another file draws differently:\n%s\nwant:\n%s", got, want)
	}
}

// TestReachability checks the model on the booking example: what starts,
// what a transition enters, what only a no-match reaches.
func TestReachability(t *testing.T) {
	cfg := examples(t)
	defer cfg.Close()
	s := graph.New(cfg).Scenario("booking")
	starting := map[string]bool{}
	for _, in := range s.Intents() {
		if !in.Reachable {
			t.Errorf("%s is unreachable", in.ID)
		}
		if in.Starting {
			starting[in.Intent] = true
		}
	}
	for _, id := range []string{"intent.core.welcome", "book_with_details", "book_with_size", "book", "book_by_form"} {
		if !starting[id] {
			t.Errorf("%s does not start a conversation", id)
		}
	}
	if len(starting) != 5 {
		t.Errorf("starting intents: %v", starting)
	}
	var transitions, buttons int
	for _, e := range s.Edges {
		switch e.Kind {
		case graph.EdgeTransition:
			transitions++
		case graph.EdgeButton:
			buttons++
		}
	}
	// confirm_booking, confirm_booking_after_time and confirm_booking_after_form
	// each enter the confirm scene (confirm, cancel and the open turn's
	// TurnNoMatch) and each has a Yes and a No button, as confirm_unclear has.
	if transitions != 9 || buttons != 8 {
		t.Errorf("transitions %d, buttons %d; want 9 and 8", transitions, buttons)
	}
}

func TestIntentLookup(t *testing.T) {
	cfg := examples(t)
	defer cfg.Close()
	g := graph.New(cfg)
	for _, sc := range cfg.Scenarios {
		for _, in := range sc.Intents("intent.core.welcome") {
			n := g.Intent(in)
			if n == nil || n.Src != in || !n.Starting {
				t.Errorf("%s: the welcome intent's node is %+v", sc.Name, n)
			}
			if g.Scenario(sc.Name).Node(n.ID) != n {
				t.Errorf("%s: Node(%s) is not the intent", sc.Name, n.ID)
			}
		}
	}
	if g.Intent(nil) != nil {
		t.Error("a nil intent has a node")
	}
}

// TestMappedButtonCallback: a button whose callback the scenario's callbacks
// map reaches the intent it maps to.
func TestMappedButtonCallback(t *testing.T) {
	cfg, err := dsl.Load(fstest.MapFS{"a.cue": {Data: []byte(`
scenarios: s: {
	callbacks: BOOK: "book"
	conversations: c: {
		behaviors: ["starting"]
		scenes: m: {
			behaviors: ["starting"]
			turns: w: {
				behaviors: ["starting"]
				request: [{id: "intent.core.welcome"}]
				response: [{id: "hi", message: {text: "Hi", buttons: [{text: "Book", callback: "BOOK"}]}}]
			}
			turns: b: {
				valid_origins: ["hi"]
				request: [{id: "book"}]
				response: [{id: "booked", message: text: "Booked"}]
			}
		}
	}
}`)}}, dsl.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer cfg.Close()
	s := graph.New(cfg).Scenario("s")
	hi := cfg.Scenario("s").Intents("hi")[0]
	if got := s.ButtonTargets(hi, "BOOK"); len(got) != 1 || got[0].ID != "book" {
		t.Fatalf("BOOK reaches %v", got)
	}
}
