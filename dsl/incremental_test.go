package dsl

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/parleyhq/parley/diag"
	"github.com/parleyhq/parley/expression"
	"github.com/parleyhq/parley/plugins"
)

// resAction is an action holding a resource: it counts its Close calls.
type resAction struct {
	plugins.ActionFunc
	id     string
	mu     sync.Mutex
	closed int
}

func (a *resAction) Close() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.closed++
	return nil
}

func (a *resAction) closes() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.closed
}

// resEnv is testEnv plus the action kind "res", whose actions are recorded.
type resEnv struct {
	*plugins.Environment
	mu      sync.Mutex
	actions []*resAction
}

func newResEnv() *resEnv {
	r := &resEnv{Environment: testEnv()}
	r.MustRegisterAction(plugins.ActionKind{Name: "res", Schema: "package schema\n\n#Res: {id: string}\n", Definition: "#Res",
		New: func(c plugins.ActionConfig) (plugins.Action, error) {
			a := &resAction{id: string(c.Config)}
			r.mu.Lock()
			r.actions = append(r.actions, a)
			r.mu.Unlock()
			return a, nil
		}})
	return r
}

func (r *resEnv) all() []*resAction {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]*resAction(nil), r.actions...)
}

// incScenario is a small scenario with a resource action; text changes its message.
func incScenario(name, text string) string {
	return fmt.Sprintf(`scenarios: %s: {
	attributes: n: "int"
	actions: r: {res: id: %q, inputs: ["n"]}
	conversations: c: {
		behaviors: ["starting"]
		scenes: s: {
			behaviors: ["starting"]
			turns: t: {
				behaviors: ["starting"]
				request: [{id: "intent.core.welcome", actions: [{use: "r"}]}]
				response: [{id: "hi", conditions: ["user.n > 1"], message: text: "%s {{ user.n }}"}]
			}
		}
	}
}
`, name, name, text)
}

// dumpConfig renders a configuration canonically: every exported and
// unexported field, map keys sorted, compiled expressions as their source,
// plugin actions as their type, and a pointer seen before as a back reference.
func dumpConfig(c *Config) string {
	var b strings.Builder
	seen := map[uintptr]int{}
	var walk func(v reflect.Value, depth int)
	progT := reflect.TypeOf((*expression.Program)(nil))
	tmplT := reflect.TypeOf((*expression.Template)(nil))
	reT := reflect.TypeOf((*regexp.Regexp)(nil))
	actT := reflect.TypeOf((*plugins.Action)(nil)).Elem()
	walk = func(v reflect.Value, depth int) {
		if depth > 60 {
			b.WriteString("…")
			return
		}
		if v.Type() == actT {
			if v.IsNil() {
				b.WriteString("nil")
			} else {
				fmt.Fprintf(&b, "%s", v.Elem().Type())
			}
			return
		}
		switch v.Kind() {
		case reflect.Pointer:
			if v.IsNil() {
				b.WriteString("nil")
				return
			}
			switch v.Type() {
			case progT:
				fmt.Fprintf(&b, "prog(%q)", v.Elem().FieldByName("Source").String())
				return
			case tmplT:
				fmt.Fprintf(&b, "tmpl(%q)", v.Elem().FieldByName("Source").String())
				return
			case reT:
				fmt.Fprintf(&b, "re(%q)", v.Interface().(*regexp.Regexp).String())
				return
			}
			if id, ok := seen[v.Pointer()]; ok {
				fmt.Fprintf(&b, "ref#%d", id)
				return
			}
			seen[v.Pointer()] = len(seen)
			fmt.Fprintf(&b, "#%d&", len(seen)-1)
			walk(v.Elem(), depth+1)
		case reflect.Interface:
			if v.IsNil() {
				b.WriteString("nil")
				return
			}
			walk(v.Elem(), depth+1)
		case reflect.Struct:
			if v.Type().PkgPath() == "sync/atomic" {
				return // Config.closed
			}
			b.WriteString(v.Type().Name() + "{")
			for i := range v.NumField() {
				f := v.Type().Field(i)
				if f.Name == "groups" {
					continue // how the scenarios are shared, not what they are
				}
				b.WriteString(f.Name + ":")
				walk(v.Field(i), depth+1)
				b.WriteString(" ")
			}
			b.WriteString("}")
		case reflect.Slice, reflect.Array:
			b.WriteString("[")
			for i := range v.Len() {
				walk(v.Index(i), depth+1)
				b.WriteString(",")
			}
			b.WriteString("]")
		case reflect.Map:
			keys := v.MapKeys()
			sort.Slice(keys, func(i, j int) bool { return fmt.Sprint(keys[i]) < fmt.Sprint(keys[j]) })
			b.WriteString("map[")
			for _, k := range keys {
				fmt.Fprintf(&b, "%v:", k)
				walk(v.MapIndex(k), depth+1)
				b.WriteString(",")
			}
			b.WriteString("]")
		case reflect.Func:
			b.WriteString("func")
		case reflect.String:
			fmt.Fprintf(&b, "%q", v.String())
		default:
			fmt.Fprintf(&b, "%v", v)
		}
	}
	walk(reflect.ValueOf(c), 0)
	return b.String()
}

// TestLoaderMatchesFullLoad applies a series of edits to a directory and
// checks after each that the incremental Loader gives exactly what a full
// Load gives: the same configuration or the same diagnostics.
func TestLoaderMatchesFullLoad(t *testing.T) {
	dir := t.TempDir()
	write := func(rel, src string) {
		t.Helper()
		p := filepath.Join(dir, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	remove := func(rel string) {
		t.Helper()
		if err := os.Remove(filepath.Join(dir, rel)); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 6 {
		write(fmt.Sprintf("s%d/main.cue", i), incScenario(fmt.Sprintf("s%d", i), "Hello"))
	}
	// Two files of one scenario form one group.
	write("pair/a.cue", incScenario("pair", "Pair"))
	write("pair/b.yaml", "scenarios:\n  pair:\n    description: the pair\n")

	env := newResEnv()
	opts := Options{Env: env.Environment}
	ld := NewDirLoader(dir, opts)
	var live []*Config
	steps := []struct {
		name       string
		edit       func()
		wantReused int // -1: any
		wantErr    bool
	}{
		{"first load", func() {}, 0, false},
		{"nothing changed", func() {}, 7, false},
		{"edit one scenario", func() { write("s1/main.cue", incScenario("s1", "Hi")) }, 6, false},
		{"edit one file of a group", func() { write("pair/b.yaml", "scenarios:\n  pair:\n    description: changed\n") }, 6, false},
		{"add a scenario in a new subdirectory", func() { write("new/deep/x.cue", incScenario("x", "New")) }, 7, false},
		{"schema error", func() {
			write("s2/main.cue", strings.Replace(incScenario("s2", "Hello"), "attributes:", "colour: \"blue\"\n\tattributes:", 1))
		}, 7, true},
		{"type error in an expression", func() {
			write("s3/main.cue", strings.Replace(incScenario("s3", "Hello"), "user.n > 1", "user.n + 'a'", 1))
		}, 6, true},
		{"syntax error", func() { write("s4/main.cue", "scenarios: s4: {") }, -1, true},
		{"fix everything", func() {
			write("s2/main.cue", incScenario("s2", "Fixed"))
			write("s3/main.cue", incScenario("s3", "Fixed"))
			write("s4/main.cue", incScenario("s4", "Fixed"))
		}, 5, false},
		{"move a scenario to another file", func() {
			remove("s5/main.cue")
			write("s0/more.cue", incScenario("s5", "Moved"))
		}, 7, false},
		{"the same scenario in two groups' files joins them", func() { write("s1/extra.yaml", "scenarios:\n  s0:\n    description: joined\n") }, 7, false},
		{"conflicting values across files", func() { write("s1/extra.yaml", "scenarios:\n  s0:\n    active: 3\n") }, -1, true},
		{"remove a file", func() { remove("s1/extra.yaml") }, -1, false},
		{"global values: a full load", func() { write("global.cue", "global: brand: \"Acme\"\n") }, 0, false},
		{"back to plain scenarios", func() { remove("global.cue") }, 0, false},
		{"edit after the full loads", func() { write("s0/main.cue", incScenario("s0", "Again")) }, 7, false},
		{"an unknown reference", func() {
			write("s0/main.cue", strings.Replace(incScenario("s0", "Again"), `use: "r"`, `use: "nope"`, 1))
		}, 7, true},
		{"delete everything but one", func() {
			for _, rel := range []string{"s0/main.cue", "s0/more.cue", "s1/main.cue", "s2/main.cue", "s3/main.cue", "s4/main.cue", "pair/a.cue", "pair/b.yaml"} {
				remove(rel)
			}
		}, 1, false},
	}
	for _, st := range steps {
		st.edit()
		full, fullErr := LoadDir(dir, opts)
		inc, incErr := ld.Load()
		stats := ld.Stats()
		if (fullErr != nil) != st.wantErr || (incErr != nil) != st.wantErr {
			t.Fatalf("%s: full load error %v, incremental error %v, want error %v", st.name, fullErr, incErr, st.wantErr)
		}
		if fullErr != nil {
			var fd, id diag.List
			if !errors.As(fullErr, &fd) || !errors.As(incErr, &id) {
				t.Fatalf("%s: errors are not diagnostics: %v / %v", st.name, fullErr, incErr)
			}
			if !reflect.DeepEqual(fd, id) {
				t.Fatalf("%s: diagnostics differ\nfull:\n%v\nincremental:\n%v", st.name, fd, id)
			}
		} else {
			if a, b := dumpConfig(full), dumpConfig(inc); a != b {
				t.Fatalf("%s: configurations differ\nfull:\n%s\nincremental:\n%s", st.name, a, b)
			}
			full.Close()
			live = append(live, inc)
		}
		if st.wantReused >= 0 && stats.Reused != st.wantReused {
			t.Errorf("%s: reused %d groups of %d, want %d (stats %+v)", st.name, stats.Reused, stats.Groups, st.wantReused, stats)
		}
		// Retire all but the latest configuration, as an engine does.
		for len(live) > 1 {
			if err := live[0].Close(); err != nil {
				t.Fatal(err)
			}
			live = live[1:]
		}
		// Every action the live configuration uses is open.
		if len(live) == 1 {
			for _, s := range live[0].Scenarios {
				for _, a := range s.Actions {
					if r, ok := a.Impl.(*resAction); ok && r.closes() != 0 {
						t.Fatalf("%s: action of live scenario %s is closed", st.name, s.Name)
					}
				}
			}
		}
	}
	live[0].Close()
	live[0].Close() // a second Close does nothing
	if err := ld.Close(); err != nil {
		t.Fatal(err)
	}
	for _, a := range env.all() {
		if a.closes() != 1 {
			t.Errorf("action %s closed %d times, want once", a.id, a.closes())
		}
	}
	if _, err := ld.Load(); err == nil {
		t.Error("Load after Close succeeded")
	}
}

// TestLoaderMissingDirectory reports a missing directory as LoadDir does.
func TestLoaderMissingDirectory(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "missing")
	_, want := LoadDir(dir, Options{Env: testEnv()})
	_, got := NewDirLoader(dir, Options{Env: testEnv()}).Load()
	if want == nil || got == nil || want.Error() != got.Error() {
		t.Fatalf("LoadDir: %v, Loader: %v", want, got)
	}
}

// BenchmarkLoaderEdit1000 reloads 1,000 generated scenarios (see
// writeScenario) with a Loader after one file changed: the loader's share
// of the write-to-live latency.
func BenchmarkLoaderEdit1000(b *testing.B) {
	dir := generate(b, 1000)
	ld := NewDirLoader(dir, Options{Env: testEnv()})
	defer ld.Close()
	cfg, err := ld.Load()
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	cpu0 := cpuTime()
	for rev := 1; b.Loop(); rev++ {
		file := filepath.Join(dir, fmt.Sprintf("shop%04d", rev%1000), "main.cue")
		data, err := os.ReadFile(file)
		if err != nil {
			b.Fatal(err)
		}
		if err := os.WriteFile(file, fmt.Appendf(data, "\n// revision %d\n", rev), 0o644); err != nil {
			b.Fatal(err)
		}
		next, err := ld.Load()
		if err != nil {
			b.Fatal(err)
		}
		if st := ld.Stats(); st.Reused != 999 || len(next.Scenarios) != 1000 {
			b.Fatalf("stats %+v, %d scenarios", st, len(next.Scenarios))
		}
		cfg.Close()
		cfg = next
	}
	b.ReportMetric(float64((cpuTime()-cpu0).Milliseconds())/float64(b.N), "cpu-ms/op")
	cfg.Close()
}
