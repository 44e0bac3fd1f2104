package format_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/parleyhq/parley/diff"
	"github.com/parleyhq/parley/dsl"
	"github.com/parleyhq/parley/format"
	"github.com/parleyhq/parley/graph"
	"github.com/parleyhq/parley/lint"
	_ "github.com/parleyhq/parley/plugins/all"
)

// corpus is the loader's test corpus and the examples: name -> content.
func corpus(t testing.TB) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	for _, pattern := range []string{"../dsl/testdata/*/*/*.cue", "../dsl/testdata/*/*/*.y*ml", "../scenarios/*/*.cue", "../scenarios/*/*.y*ml"} {
		paths, err := filepath.Glob(pattern)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range paths {
			b, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			out[p] = b
		}
	}
	if len(out) < 10 {
		t.Fatalf("the corpus holds %d files", len(out))
	}
	return out
}

const messyYAML = `# Order status, head comment.
scenarios:
    "order_status":   # line comment on a quoted key
        description: 'Tells a customer where their order is.'
        attributes: {order_id: string, "eta": string}
        conversations:
            order_status:
                behaviors: [starting]
                # a comment before scenes
                scenes:
                    lookup:
                        behaviors: [ starting ]
                        turns:
                            welcome:
                                behaviors: [starting]
                                request:
                                -   id: intent.core.welcome
                                response:
                                -   id: order_welcome
                                    message:
                                        text: |
                                            Hello!
                                            Ask me where your order is.
                                    "true": "a key that must stay quoted"
# foot comment
`

const messyCUE = `package scenarios

// head comment
scenarios: greeter: {
  active: true   // line comment
      description: "Greets."
  conversations: welcome: {behaviors: ["starting"]
    scenes: main: turns: t: request: [{id: "intent.core.welcome"}]
  }
}
`

func TestFormatKeepsComments(t *testing.T) {
	for name, src := range map[string]string{"a.yaml": messyYAML, "a.cue": messyCUE} {
		out, err := format.Source(name, []byte(src))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		for _, line := range strings.Split(src, "\n") {
			if i := strings.IndexAny(line, "#/"); i >= 0 && (strings.HasPrefix(strings.TrimSpace(line[i:]), "#") || strings.HasPrefix(strings.TrimSpace(line[i:]), "//")) {
				c := strings.TrimSpace(line[i:])
				if !strings.Contains(string(out), c) {
					t.Errorf("%s: the comment %q is lost:\n%s", name, c, out)
				}
			}
		}
		if string(out) == src {
			t.Errorf("%s: nothing was normalised", name)
		}
	}
}

func TestFormatYAMLNormalises(t *testing.T) {
	out, err := format.Source("a.yaml", []byte(messyYAML))
	if err != nil {
		t.Fatal(err)
	}
	s := string(out)
	for _, want := range []string{
		"scenarios:\n  order_status: # line comment on a quoted key\n    description: 'Tells a customer where their order is.'\n",
		"        scenes:\n          lookup:\n",
		`"true": "a key that must stay quoted"`,
		"text: |\n",
	} {
		if !strings.Contains(s, want) {
			t.Errorf("output lacks %q:\n%s", want, s)
		}
	}
}

func TestFormatIdempotentAndMeaningKept(t *testing.T) {
	files := corpus(t)
	files["messy.yaml"] = []byte(messyYAML)
	files["messy.cue"] = []byte(messyCUE)
	for name, src := range files {
		checkFormat(t, name, src)
	}
}

// checkFormat checks one file: formatting it twice gives the same result, and
// the configuration loaded from it is the same before and after.
func checkFormat(t *testing.T, name string, src []byte) {
	t.Helper()
	out, err := format.Source(name, src)
	if err != nil {
		return // a file that does not parse is left alone
	}
	again, err := format.Source(name, out)
	if err != nil {
		t.Fatalf("%s: formatting the output: %v", name, err)
	}
	if string(again) != string(out) {
		t.Fatalf("%s: not idempotent:\n%s\n---\n%s", name, out, again)
	}
	base := "a" + filepath.Ext(name)
	before, errBefore := dsl.Load(fstest.MapFS{base: {Data: src}}, dsl.Options{})
	after, errAfter := dsl.Load(fstest.MapFS{base: {Data: out}}, dsl.Options{})
	if (errBefore == nil) != (errAfter == nil) {
		t.Fatalf("%s: loads before: %v, after: %v\n%s", name, errBefore, errAfter, out)
	}
	if errBefore != nil {
		return
	}
	defer before.Close()
	defer after.Close()
	// The other readers of a configuration must not fail on it either.
	g := graph.New(after)
	g.Mermaid(graph.Options{})
	g.DOT(graph.Options{})
	if _, err := g.JSON(graph.Options{}); err != nil {
		t.Fatalf("%s: graph as JSON: %v", name, err)
	}
	lint.Check(after, g, lint.Options{ReadFile: func(string) ([]byte, error) { return out, nil }})
	if r := diff.Compare("before", before, "after", after); !r.Empty() {
		var b strings.Builder
		r.Text(&b, false)
		t.Fatalf("%s: formatting changed the configuration:\n%s", name, b.String())
	}
}

// FuzzFormat formats fuzzed CUE and YAML files seeded with the loader's
// corpus: never a panic, always idempotent, and the loaded configuration is
// the same before and after (and graph and lint read it without a panic).
//
//	go test ./format -run XXX -fuzz FuzzFormat -fuzztime 60s
func FuzzFormat(f *testing.F) {
	for name, src := range corpus(f) {
		f.Add(filepath.Ext(name) != ".cue", src)
	}
	f.Add(true, []byte(messyYAML))
	f.Add(false, []byte(messyCUE))
	f.Fuzz(func(t *testing.T, yamlFile bool, src []byte) {
		name := "f.cue"
		if yamlFile {
			name = "f.yaml"
		}
		checkFormat(t, name, src)
	})
}
