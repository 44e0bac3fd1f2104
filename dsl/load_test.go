package dsl

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"testing/fstest"

	"cuelang.org/go/cue"

	"github.com/parleyhq/parley/diag"
)

func mustLoad(t *testing.T, fsys fstest.MapFS) *Config {
	t.Helper()
	cfg, err := Load(fsys, Options{Env: testEnv()})
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	t.Cleanup(func() { cfg.Close() })
	return cfg
}

func file(s string) *fstest.MapFile { return &fstest.MapFile{Data: []byte(s)} }

func TestLoadGreeterDefaults(t *testing.T) {
	cfg, err := LoadDir("testdata/good/greeter", Options{Env: testEnv()})
	if err != nil {
		t.Fatal(err)
	}
	defer cfg.Close()
	if !reflect.DeepEqual(cfg.Files, []string{"greeter.cue"}) || len(cfg.Version) != 16 {
		t.Errorf("files %v version %q", cfg.Files, cfg.Version)
	}
	s := cfg.Scenario("greeter")
	if s == nil {
		t.Fatal("no scenario greeter")
	}
	if !s.Active || s.Interpreter != "text" {
		t.Errorf("defaults: active %v interpreter %q", s.Active, s.Interpreter)
	}
	if s.Attributes["first_name"] != TypeString || s.Attributes["age"] != TypeInt {
		t.Errorf("attributes %v", s.Attributes)
	}
	conv := s.Conversation("welcome")
	if conv == nil || !conv.Behaviors.Has(Starting) || conv.Behaviors.Has(Open) {
		t.Fatalf("conversation %+v", conv)
	}
	scene := conv.Scene("main")
	if got := []string{scene.Turns[0].Name, scene.Turns[1].Name}; !reflect.DeepEqual(got, []string{"welcome", "greet"}) {
		t.Errorf("turn order %v", got)
	}
	welcome := s.Intents("intent.core.welcome")[0]
	if welcome.Speaker != "user" || welcome.Role != Request {
		t.Errorf("request intent speaker %q role %v", welcome.Speaker, welcome.Role)
	}
	resp := s.Intents("welcome_response")[0]
	if resp.Speaker != "app" || resp.Role != Response || resp.Message == nil {
		t.Fatalf("response intent %+v", resp)
	}
	if len(resp.Message.Buttons) != 1 || resp.Message.Buttons[0].Callback != "ok" {
		t.Errorf("buttons %+v", resp.Message.Buttons)
	}
	if got, _ := resp.Message.Text.Render(nil); got != "Hi! Press OK." {
		t.Errorf("text %q", got)
	}
	if got := s.TurnsWithOrigin("welcome_response"); len(got) != 1 || got[0].Name != "greet" {
		t.Errorf("turns with origin %v", got)
	}
	greeting := s.Intents("greeting")[0]
	if !greeting.Completing || len(greeting.Conditions) != 1 || greeting.Conditions[0].Pos != "testdata/good/greeter/greeter.cue:37:36" {
		t.Errorf("greeting %+v cond %+v", greeting, greeting.Conditions[0])
	}
	out, err := greeting.Message.Text.Render(map[string]any{"user": map[string]any{"full_name": "John Smith"}})
	if err != nil || out != "Hello John Smith!" {
		t.Errorf("render %q %v", out, err)
	}
	act := s.Actions["full_name"]
	if act == nil || act.Kind != "webhook" || !act.Active || act.Impl == nil {
		t.Fatalf("action %+v", act)
	}
	if !reflect.DeepEqual(act.Inputs, []string{"first_name", "last_name"}) || !reflect.DeepEqual(act.Outputs, []string{"full_name"}) {
		t.Errorf("inputs %v outputs %v", act.Inputs, act.Outputs)
	}
}

func TestLoadIntentOrderAndDefaultMappings(t *testing.T) {
	cfg := mustLoad(t, fstest.MapFS{"a.cue": file(`
scenarios: s: {
	actions: lookup: {
		webhook: url: "https://example.com"
		inputs: ["first_name", "last_name", "city"]
		outputs: ["full_name", "score", "status"]
	}
	conversations: c: scenes: m: turns: t: {
		request: [{id: "z"}, {id: "a"}, {id: "m", interpreter: "callback"}]
		response: [
			{id: "r3", speaker: "app"},
			{id: "r1", actions: [{
				use: "lookup"
				inputs: {last_name: "upper(user.last_name)"}
				outputs: {"session.total": "output.score * 2", "user.name": "output[\"full_name\"]"}
			}]},
			{id: "r2"},
		]
	}
}`)})
	turn := cfg.Scenario("s").Conversation("c").Scene("m").Turn("t")
	var req, resp []string
	for _, in := range turn.Request {
		req = append(req, in.ID)
	}
	for _, in := range turn.Response {
		resp = append(resp, in.ID)
	}
	if !reflect.DeepEqual(req, []string{"z", "a", "m"}) || !reflect.DeepEqual(resp, []string{"r3", "r1", "r2"}) {
		t.Errorf("order: request %v response %v", req, resp)
	}
	if turn.Request[2].Interpreter != "callback" || turn.Request[0].Interpreter != "" {
		t.Errorf("interpreters %q %q", turn.Request[2].Interpreter, turn.Request[0].Interpreter)
	}
	call := turn.Response[1].Actions[0]
	var inputs []string
	for _, in := range call.Inputs {
		if in.Prog != nil {
			inputs = append(inputs, in.Name+"="+in.Prog.Source)
		} else {
			inputs = append(inputs, in.Name+"<-"+in.From.String())
		}
	}
	if want := []string{"last_name=upper(user.last_name)", "first_name<-user.first_name", "city<-user.city"}; !reflect.DeepEqual(inputs, want) {
		t.Errorf("inputs %v, want %v", inputs, want)
	}
	var outputs []string
	for _, o := range call.Outputs {
		if o.Prog != nil {
			outputs = append(outputs, o.Target.String()+"="+o.Prog.Source)
		} else {
			outputs = append(outputs, o.Target.String()+"<-output."+o.From)
		}
	}
	// score and full_name are read by mappings; status is not, so it goes to user.status.
	if want := []string{"session.total=output.score * 2", `user.name=output["full_name"]`, "user.status<-output.status"}; !reflect.DeepEqual(outputs, want) {
		t.Errorf("outputs %v, want %v", outputs, want)
	}
}

func TestLoadSplitAcrossFilesAndYAML(t *testing.T) {
	cfg := mustLoad(t, fstest.MapFS{
		"main.cue": file(`package x
scenarios: shop: {
	description: "The shop"
	conversations: welcome: scenes: main: turns: hello: request: [{id: "hi", utterances: ["Hello  THERE"]}]
}`),
		"actions/lookup.yaml": file(`scenarios:
  shop:
    actions:
      lookup:
        webhook: {url: "https://example.com/{{ secret.TOKEN }}"}
        inputs: [order_id]
`),
		"other.yml": file(`scenarios:
  faq:
    active: false
    interpreter: callback
    conversations:
      help:
        behaviors: [open]
        scenes:
          s:
            turns:
              t:
                request: [{id: help, patterns: ['(?i)help (?P<topic>\w+)'], expected_attributes: {topic: session.topic}, confidence: 0.5}]
global:
  company: ACME
  limits: {max: 3}
`),
	})
	if len(cfg.Scenarios) != 2 || cfg.Scenarios[0].Name != "faq" || cfg.Scenarios[1].Name != "shop" {
		t.Fatalf("scenarios %v", cfg.Scenarios)
	}
	shop := cfg.Scenario("shop")
	if shop.Description != "The shop" || shop.Actions["lookup"] == nil {
		t.Errorf("shop %+v", shop)
	}
	if u := shop.Intents("hi")[0].Hints.Utterances; !reflect.DeepEqual(u, []string{"hello there"}) {
		t.Errorf("normalised utterances %v", u)
	}
	faq := cfg.Scenario("faq")
	if faq.Active || faq.Interpreter != "callback" {
		t.Errorf("faq active %v interpreter %q", faq.Active, faq.Interpreter)
	}
	help := faq.Intents("help")[0]
	if help.Confidence != 0.5 || help.ExpectedAttributes["topic"] != (Path{"session", "topic"}) || len(help.Hints.Patterns) != 1 {
		t.Errorf("help %+v", help)
	}
	if !faq.Conversation("help").Behaviors.Has(Open) {
		t.Error("help is not open")
	}
	if cfg.Global["company"] != "ACME" || cfg.Global["limits"].(map[string]any)["max"] != 3 {
		t.Errorf("global %v", cfg.Global)
	}
	if !reflect.DeepEqual(cfg.Files, []string{"actions/lookup.yaml", "main.cue", "other.yml"}) {
		t.Errorf("files %v", cfg.Files)
	}
}

func TestLoadGlobalInExpressions(t *testing.T) {
	_, err := Load(fstest.MapFS{"a.cue": file(`
global: {company: "ACME", max: 3}
scenarios: s: conversations: c: scenes: m: turns: t: response: [
	{id: "ok", conditions: ["global.max > 2"], message: text: "{{ global.company + \"!\" }}"},
	{id: "bad", conditions: ["global.company > 2"]},
]`)}, Options{Env: testEnv()})
	var list diag.List
	if !errors.As(err, &list) || len(list) != 1 || list[0].Code != diag.CodeExprType || list[0].Line != 5 {
		t.Fatalf("want one expr.type on line 5, got %v", err)
	}
}

// TestLoadFilesSkipped checks which files are read: hidden files and
// directories, conversation tests and other extensions are not; symbolic
// links to files are followed.
func TestLoadFilesSkipped(t *testing.T) {
	dir := t.TempDir()
	write := func(rel, src string) {
		p := filepath.Join(dir, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	broken := "this is { not valid"
	write("a.cue", `scenarios: a: description: "a"`)
	write(".hidden.cue", broken)
	write(".git/x.cue", broken)
	write("..2026_01_01/data.yaml", broken) // a Kubernetes ConfigMap's hidden data directory
	write("a_test.cue", broken)
	write("sub/b_test.yaml", broken)
	write("sub/c_test.yml", broken)
	write("notes.txt", broken)
	write("sub/readme.md", broken)
	outside := t.TempDir()
	if err := os.WriteFile(filepath.Join(outside, "linked.yaml"), []byte("scenarios: {linked: {description: linked}}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(outside, "linked.yaml"), filepath.Join(dir, "linked.yaml")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(outside, "missing.yaml"), filepath.Join(dir, "dangling.yaml")); err != nil {
		t.Fatal(err)
	}
	cfg, err := LoadDir(dir, Options{Env: testEnv()})
	if err != nil {
		t.Fatal(err)
	}
	defer cfg.Close()
	if !reflect.DeepEqual(cfg.Files, []string{"a.cue", "linked.yaml"}) {
		t.Errorf("files %v", cfg.Files)
	}
	if cfg.Scenario("linked") == nil || cfg.Scenario("linked").Description != "linked" {
		t.Error("the symlinked file was not loaded")
	}
	for name, want := range map[string]bool{"a.cue": true, "b.yaml": true, "c.yml": true, "a_test.cue": false, ".a.cue": false, "a.json": false, "test.cue": true} {
		if IsScenarioFile(name) != want {
			t.Errorf("IsScenarioFile(%q) = %v", name, !want)
		}
	}
}

func TestLoadDirErrors(t *testing.T) {
	_, err := LoadDir(filepath.Join(t.TempDir(), "nope"), Options{Env: testEnv()})
	var list diag.List
	if !errors.As(err, &list) || len(list) != 1 || list[0].Code != diag.CodeIO || !strings.Contains(list[0].Message, "no such file") {
		t.Errorf("missing dir: %v", err)
	}
	f := filepath.Join(t.TempDir(), "f.cue")
	os.WriteFile(f, nil, 0o644)
	if _, err := LoadDir(f, Options{Env: testEnv()}); err == nil || !strings.Contains(err.Error(), "not a directory") {
		t.Errorf("file: %v", err)
	}
}

// TestLoadCUEFeatures checks files that are not plain data (references,
// definitions, defaults, string interpolation): they go through CUE's own
// evaluation and give the same configuration.
func TestLoadCUEFeatures(t *testing.T) {
	cfg := mustLoad(t, fstest.MapFS{
		"a.cue": file(`package x

#greeting: {id: string, message: text: "Hello from \(id)"}

scenarios: shop: {
	_name: "shop"
	description: "The \(_name)"
	conversations: welcome: scenes: main: turns: hello: {
		request: [{id: "hi"}]
		response: [#greeting & {id: "hello"}, {id: "bye", message: text: scenarios.shop.description}]
	}
}`),
		"b.cue": file(`package x
scenarios: shop: conversations: welcome: behaviors: ["starting"]
`),
	})
	s := cfg.Scenario("shop")
	if s.Description != "The shop" {
		t.Errorf("description %q", s.Description)
	}
	if !s.Conversation("welcome").Behaviors.Has(Starting) {
		t.Error("split file not merged")
	}
	for id, want := range map[string]string{"hello": "Hello from hello", "bye": "The shop"} {
		in := s.Intents(id)
		if len(in) != 1 {
			t.Fatalf("intent %s: %v", id, in)
		}
		if got, _ := in[0].Message.Text.Render(nil); got != want {
			t.Errorf("%s says %q, want %q", id, got, want)
		}
	}
}

// TestLoadBatchesAgree loads the same directory split into parallel batches
// and as one batch, and checks the results are the same.
func TestLoadBatchesAgree(t *testing.T) {
	dir := generate(t, 6)
	files, err := readFiles(os.DirFS(dir), "")
	if err != nil {
		t.Fatal(err)
	}
	parsed, diags := parseAll(files)
	if len(diags) > 0 {
		t.Fatal(diags)
	}
	if n := len(partition(parsed, 3)); n != 3 {
		t.Fatalf("%d batches, want 3", n)
	}
	// One file touching two scenarios joins their groups; a global value makes one batch.
	parsed = append(parsed, mustParse(t, "z.cue", `scenarios: shop0000: description: "x"
scenarios: shop0001: description: "y"`))
	if n := len(partition(parsed, 8)); n != 5 {
		t.Errorf("%d batches, want 5", n)
	}
	parsed = append(parsed, mustParse(t, "zz.cue", `global: x: 1`))
	if n := len(partition(parsed, 8)); n != 1 {
		t.Errorf("%d batches, want 1", n)
	}
	one := &loader{env: testEnv(), files: parsed[:6], sources: map[string][]byte{}}
	single := one.load()
	if len(one.diags) > 0 {
		t.Fatal(one.diags)
	}
	multi, err := LoadDir(dir, Options{Env: testEnv()})
	if err != nil {
		t.Fatal(err)
	}
	if len(single.Scenarios) != len(multi.Scenarios) {
		t.Fatalf("%d vs %d scenarios", len(single.Scenarios), len(multi.Scenarios))
	}
	for i, s := range single.Scenarios {
		m := multi.Scenarios[i]
		if s.Name != m.Name || len(s.Conversations) != len(m.Conversations) || len(s.intentsByID) != len(m.intentsByID) {
			t.Errorf("scenario %s differs", s.Name)
		}
	}
}

func mustParse(t *testing.T, name, src string) parsedFile {
	t.Helper()
	f := sourceFile{rel: name, name: name, data: []byte(src)}
	af, err := parseFile(f)
	if err != nil {
		t.Fatal(err)
	}
	return parsedFile{sourceFile: f, ast: af}
}

// TestPlainTreeMatchesCUE checks that the tree built from syntax equals the
// tree extracted from CUE's evaluation for plain files.
func TestPlainTreeMatchesCUE(t *testing.T) {
	dir := generate(t, 2)
	extra := "scenarios: shop0000: {active: true, conversations: welcome: scenes: main: turns: extra: request: [{id: \"x\", confidence: 0.5}]}\nglobal: {n: -1, f: -2.5, z: null, t: false, s: #\"raw\"#}\n"
	if err := os.WriteFile(filepath.Join(dir, "extra.cue"), []byte(extra), 0o644); err != nil {
		t.Fatal(err)
	}
	files, _ := readFiles(os.DirFS(dir), "")
	parsed, _ := parseAll(files)
	l := &loader{env: testEnv(), files: parsed, sources: map[string][]byte{}}
	if l.load() == nil {
		t.Fatal(l.diags)
	}
	if l.tree == nil {
		t.Fatal("generated files are plain data, but no plain tree was built")
	}
	fromCUE := extract(l.userValue(), nil, cue.Selector{})
	var compare func(path string, a, b *tree)
	compare = func(path string, a, b *tree) {
		if a.kind != b.kind || a.s != b.s || a.b != b.b || a.f != b.f || len(a.fields) != len(b.fields) || len(a.list) != len(b.list) {
			t.Errorf("%s: plain %+v, CUE %+v", path, a, b)
			return
		}
		if a.kind != cue.StructKind && (a.pos != b.pos || a.vpos != b.vpos) {
			t.Errorf("%s: positions plain %v/%v, CUE %v/%v", path, a.pos, a.vpos, b.pos, b.vpos)
		}
		// Fields merged from several files may come in another order
		// (CUE sorts them topologically); each file's own order is kept.
		for _, f := range a.fields {
			other := b.lookup(f.name)
			if other == nil {
				t.Errorf("%s: field %s missing from the CUE tree", path, f.name)
				continue
			}
			compare(path+"."+f.name, f.t, other)
		}
		for i := range a.list {
			compare(path+"["+string(rune('0'+i))+"]", a.list[i], b.list[i])
		}
	}
	compare("", l.tree, fromCUE)
}

func TestReadsOutput(t *testing.T) {
	for _, c := range []struct {
		src  string
		want bool
	}{
		{"output.score", true},
		{"output . score * 2", true},
		{`output["score"]`, true},
		{`output[ 'score' ]`, true},
		{"output.scores", false},
		{"myoutput.score", false},
		{"user.score", false},
		{"output.other + output.score", true},
	} {
		if got := readsOutput([]string{c.src}, "score"); got != c.want {
			t.Errorf("readsOutput(%q) = %v", c.src, got)
		}
	}
}

func TestEditDistance(t *testing.T) {
	for _, c := range []struct {
		a, b string
		d    int
	}{{"behaviours", "behaviors", 1}, {"", "abc", 3}, {"utterance", "utterances", 1}, {"same", "same", 0}} {
		if got := EditDistance(c.a, c.b); got != c.d {
			t.Errorf("EditDistance(%q, %q) = %d, want %d", c.a, c.b, got, c.d)
		}
	}
}

// TestCompileMemo checks that an expression compiled once per environment is
// shared, and that each of its uses still reports its own errors.
func TestCompileMemo(t *testing.T) {
	src := `scenarios: s: {
	attributes: n: "string"
	conversations: c: scenes: m: turns: t: response: [
		{id: "a", conditions: ["user.n == \"x\""], message: text: "{{ user.n }}"},
		{id: "b", conditions: ["user.n == \"x\""], message: text: "{{ user.n }}"},
	]
}
scenarios: other: {
	attributes: n: "int"
	conversations: c: scenes: m: turns: t: response: [{id: "a", conditions: ["user.n == \"x\""]}]
}
`
	_, err := Load(fstest.MapFS{"a.cue": file(src)}, Options{Env: testEnv()})
	var list diag.List
	// In scenario other, n is an int: comparing it with a string is an error there only.
	if !errors.As(err, &list) || len(list) != 1 || list[0].Line != 10 || list[0].Code != diag.CodeExprType {
		t.Fatalf("want one expr.type on line 10, got %v", err)
	}
	cfg := mustLoad(t, fstest.MapFS{"a.cue": file(strings.Replace(src, `attributes: n: "int"`, `attributes: n: "string"`, 1))})
	a, b := cfg.Scenario("s").Intents("a")[0], cfg.Scenario("s").Intents("b")[0]
	if a.Conditions[0].Prog != b.Conditions[0].Prog || a.Message.Text != b.Message.Text {
		t.Error("equal expressions in equal environments were compiled twice")
	}
	if a.Conditions[0].Pos == b.Conditions[0].Pos {
		t.Error("shared programs lost their own positions")
	}
	twice := strings.Replace(src, `"user.n == \"x\""], message: text: "{{ user.n }}"},`, `"user.n > 1"], message: text: "{{ user.n }}"},`, 2)
	_, err = Load(fstest.MapFS{"a.cue": file(twice)}, Options{Env: testEnv()})
	if !errors.As(err, &list) || len(list) != 3 || list[0].Line != 4 || list[1].Line != 5 {
		t.Fatalf("want errors on lines 4, 5 and 10, got %v", err)
	}
}
