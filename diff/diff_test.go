package diff_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/parleyhq/parley/diff"
	"github.com/parleyhq/parley/dsl"
	_ "github.com/parleyhq/parley/plugins/all"
)

// base is the configuration every case edits.
const base = `package scenarios

scenarios: shop: {
	attributes: {full_name: "string", first_name: "string", party_size: "string"}
	actions: lookup: {
		webhook: {
			url: "{{ secret.SHOP_URL }}/people"
			headers: Authorization: "Bearer {{ secret.SHOP_TOKEN }}"
			timeout: "2s"
		}
		inputs: ["first_name"]
		outputs: ["full_name"]
	}
	conversations: main: {
		behaviors: ["starting"]
		scenes: s: {
			behaviors: ["starting"]
			turns: {
				welcome: {
					behaviors: ["starting"]
					request: [{id: "intent.core.welcome"}]
					response: [{
						id: "hello"
						message: {text: "Hi! Press OK.", buttons: [{text: "OK", callback: "ok"}]}
					}]
				}
				greet: {
					valid_origins: ["hello"]
					request: [{
						id: "ok"
						utterances: ["ok", "fine"]
						patterns: ["(?i)for (?P<party_size>\\d+)"]
						expected_attributes: party_size: "session.party_size"
						actions: [{use: "lookup", inputs: {first_name: "user.first_name"}, outputs: {"user.full_name": "output.full_name"}}]
					}]
					response: [
						{id: "greeting", conditions: ["user.action_status"], message: text: "Hello {{ user.full_name }}!", behaviors: ["completing"]},
						{id: "sorry", message: text: "Sorry.", behaviors: ["completing"]},
					]
				}
			}
		}
	}
}
`

// load writes files (name -> content) to a new directory and loads it.
func load(t testing.TB, files map[string]string) *dsl.Config {
	t.Helper()
	dir := t.TempDir()
	for name, src := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cfg, err := dsl.LoadDir(dir, dsl.Options{})
	if err != nil {
		t.Fatalf("loading:\n%v", err)
	}
	t.Cleanup(func() { cfg.Close() })
	return cfg
}

// summary renders changes one a line: kind what path [reachability] {field: old -> new; ...}.
func summary(r *diff.Report) string {
	var lines []string
	for _, c := range r.Changes {
		l := c.Kind + " " + c.What + " " + c.Path
		if c.Reachability != "" {
			l += " [" + c.Reachability + "]"
		}
		for _, f := range c.Fields {
			l += fmt.Sprintf(" {%s: %s -> %s}", f.Name, f.Old, f.New)
		}
		lines = append(lines, l)
	}
	return strings.Join(lines, "\n")
}

func edit(t *testing.T, src string, edits ...[2]string) string {
	t.Helper()
	for _, e := range edits {
		if strings.Count(src, e[0]) != 1 {
			t.Fatalf("source holds %q %d times", e[0], strings.Count(src, e[0]))
		}
		src = strings.Replace(src, e[0], e[1], 1)
	}
	return src
}

func TestChanges(t *testing.T) {
	const greet = "main/s/greet"
	cases := []struct {
		name  string
		edits [][2]string
		want  string
	}{{
		name:  "nothing",
		edits: nil,
		want:  "",
	}, {
		name:  "conditions",
		edits: [][2]string{{`conditions: ["user.action_status"]`, `conditions: ["user.action_status", "user.full_name != nil"]`}},
		want:  `changed intent ` + greet + `/response/greeting {conditions[1]:  -> user.full_name != nil}`,
	}, {
		name:  "message text",
		edits: [][2]string{{`"Hello {{ user.full_name }}!"`, `"Welcome back, {{ user.full_name }}!"`}},
		want:  `changed intent ` + greet + `/response/greeting {message.text: Hello {{ user.full_name }}! -> Welcome back, {{ user.full_name }}!}`,
	}, {
		name:  "buttons",
		edits: [][2]string{{`buttons: [{text: "OK", callback: "ok"}]`, `buttons: [{text: "Sure", callback: "ok", value: "yes"}]`}},
		want:  `changed intent main/s/welcome/response/hello {message.buttons[0].text: OK -> Sure} {message.buttons[0].value:  -> yes}`,
	}, {
		name:  "actions and their mappings",
		edits: [][2]string{{`outputs: {"user.full_name": "output.full_name"}`, `outputs: {"user.full_name": "upper(output.full_name)"}`}, {`inputs: {first_name: "user.first_name"}`, `inputs: {}`}},
		want: `changed intent ` + greet + `/request/ok {actions[0].inputs.first_name: user.first_name -> (default) user.first_name} ` +
			`{actions[0].outputs.user.full_name: output.full_name -> upper(output.full_name)}`,
	}, {
		name:  "transition",
		edits: [][2]string{{`{id: "sorry", message: text: "Sorry.", behaviors: ["completing"]}`, `{id: "sorry", message: text: "Sorry.", transition: turn: "welcome"}`}},
		want:  `changed intent ` + greet + `/response/sorry {completing: true -> } {transition.turn:  -> main/s/welcome}`,
	}, {
		name:  "virtual",
		edits: [][2]string{{`{id: "sorry", message: text: "Sorry.", behaviors: ["completing"]}`, `{id: "sorry", message: text: "Sorry.", virtual: "ok", behaviors: ["completing"]}`}},
		want:  `changed intent ` + greet + `/response/sorry {virtual:  -> ok}`,
	}, {
		name:  "expected attributes",
		edits: [][2]string{{`expected_attributes: party_size: "session.party_size"`, `expected_attributes: party_size: "user.party_size"`}},
		want:  `changed intent ` + greet + `/request/ok {expected_attributes.party_size: session.party_size -> user.party_size}`,
	}, {
		name:  "patterns and utterances",
		edits: [][2]string{{`utterances: ["ok", "fine"]`, `utterances: ["ok", "Fine ", "good"]`}, {`"(?i)for (?P<party_size>\\d+)"`, `"(?i)for (?P<party_size>\\d{1,2})"`}},
		want:  `changed intent ` + greet + `/request/ok {patterns: ["(?i)for (?P<party_size>\\d+)"] -> ["(?i)for (?P<party_size>\\d{1,2})"]} {utterances: ["ok","fine"] -> ["ok","fine","good"]}`,
	}, {
		name: "action URL, headers, timeouts, retry and protocol (as written)",
		edits: [][2]string{{`url: "{{ secret.SHOP_URL }}/people"`, `url: "{{ secret.SHOP_URL }}/v2/people"`},
			{`headers: Authorization: "Bearer {{ secret.SHOP_TOKEN }}"`, `headers: {Authorization: "Bearer {{ secret.SHOP_TOKEN2 }}", Accept: "application/json"}`},
			{`timeout: "2s"`, `timeout: "3s", deadline: "9s", retry: {attempts: 4}, protocol: "http", method: "PUT"`}},
		want: `changed action lookup {webhook.deadline: 10s -> 9s} {webhook.headers.Accept:  -> application/json} ` +
			`{webhook.headers.Authorization: Bearer {{ secret.SHOP_TOKEN }} -> Bearer {{ secret.SHOP_TOKEN2 }}} {webhook.method:  -> PUT} ` +
			`{webhook.protocol: opendialog -> http} {webhook.retry.attempts:  -> 4} ` +
			`{webhook.timeout: 2s -> 3s} {webhook.url: {{ secret.SHOP_URL }}/people -> {{ secret.SHOP_URL }}/v2/people}`,
	}, {
		name:  "attributes added, removed and retyped",
		edits: [][2]string{{`attributes: {full_name: "string", first_name: "string", party_size: "string"}`, `attributes: {full_name: "string", first_name: "string", party_size: "int", vip: "bool"}`}},
		want:  "changed attribute party_size {type: string -> int}\nadded attribute vip {type:  -> bool}",
	}, {
		name: "a turn added (unreachable) and an intent removed",
		edits: [][2]string{{"\t\t\t\tgreet: {", "\t\t\t\tlost: request: [{id: \"lost\", utterances: [\"lost\"]}]\n\t\t\t\tgreet: {"},
			{`						{id: "sorry", message: text: "Sorry.", behaviors: ["completing"]},
`, ""}},
		want: "added turn main/s/lost [unreachable]\n" +
			`added intent main/s/lost/request/lost [unreachable] {speaker:  -> user} {utterances:  -> ["lost"]}` + "\n" +
			"removed intent " + greet + "/response/sorry {completing: true -> } {message.text: Sorry. -> } {speaker: app -> }",
	}, {
		name:  "what became unreachable",
		edits: [][2]string{{`valid_origins: ["hello"]`, `valid_origins: ["greeting"]`}},
		want: "changed turn " + greet + " [unreachable] {valid_origins: [\"hello\"] -> [\"greeting\"]}\n" +
			"changed intent " + greet + "/request/ok [unreachable]\n" +
			"changed intent " + greet + "/response/greeting [unreachable]\n" +
			"changed intent " + greet + "/response/sorry [unreachable]",
	}, {
		name: "order of response intents",
		edits: [][2]string{{`						{id: "sorry", message: text: "Sorry.", behaviors: ["completing"]},
`, ""}, {`					response: [
						{id: "greeting"`, `					response: [
						{id: "sorry", message: text: "Sorry.", behaviors: ["completing"]},
						{id: "greeting"`}},
		want: "changed turn " + greet + " {response order: greeting, sorry -> sorry, greeting}",
	}, {
		name:  "a conversation added and scenario fields",
		edits: [][2]string{{"\tconversations: main: {", "\tdescription: \"The shop.\"\n\tconversations: extra: scenes: x: turns: t: request: [{id: \"x\"}]\n\tconversations: main: {"}},
		want: "changed scenario shop {description:  -> The shop.}\nadded conversation extra [unreachable]\nadded scene extra/x [unreachable]\n" +
			"added turn extra/x/t [unreachable]\nadded intent extra/x/t/request/x [unreachable] {speaker:  -> user}",
	}}
	old := load(t, map[string]string{"main.cue": base})
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			newCfg := load(t, map[string]string{"main.cue": edit(t, base, tc.edits...)})
			r := diff.Compare("old", old, "new", newCfg)
			if got := summary(r); got != tc.want {
				t.Errorf("changes:\n%s\nwant:\n%s", got, tc.want)
			}
		})
	}
}

// TestMovesAreNoChange: renaming a file, splitting a scenario across files,
// YAML instead of CUE and reformatting change nothing.
func TestMovesAreNoChange(t *testing.T) {
	old := load(t, map[string]string{"main.cue": base})
	renamed := load(t, map[string]string{"bots/shop/renamed.cue": base})
	if r := diff.Compare("old", old, "new", renamed); !r.Empty() {
		t.Errorf("a renamed file: %s", summary(r))
	}
	split := edit(t, base, [2]string{"\tactions: lookup: {", "}\nscenarios: shop: {\n\tactions: lookup: {"})
	reformatted := strings.ReplaceAll(split, "\t", "    ")
	if r := diff.Compare("old", old, "new", load(t, map[string]string{"a.cue": reformatted})); !r.Empty() {
		t.Errorf("split and reformatted: %s", summary(r))
	}
}

// TestNoResolvedSecret: with the secrets set in the environment, neither the
// diff's text, Markdown nor JSON holds their values.
func TestNoResolvedSecret(t *testing.T) {
	t.Setenv("SHOP_URL", "https://secret-host.example.com")
	t.Setenv("SHOP_TOKEN", "s3cr3t-token-value")
	old := load(t, map[string]string{"main.cue": base})
	newCfg := load(t, map[string]string{"main.cue": edit(t, base, [2]string{`"Bearer {{ secret.SHOP_TOKEN }}"`, `"Token {{ secret.SHOP_TOKEN }}"`})})
	r := diff.Compare("old", old, "new", newCfg)
	var b strings.Builder
	r.Text(&b, false)
	r.Markdown(&b)
	r.JSON(&b)
	out := b.String()
	if !strings.Contains(out, "Token {{ secret.SHOP_TOKEN }}") {
		t.Fatalf("the header's change is missing:\n%s", out)
	}
	for _, secret := range []string{"secret-host", "s3cr3t-token-value"} {
		if strings.Contains(out, secret) {
			t.Errorf("the diff shows a secret value %q", secret)
		}
	}
}

// TestFlattenIsGeneric: fields the DSL may gain (a struct, a list of structs
// with templates, a map, an interface holding a value) are compared without
// a change to the comparer.
func TestFlattenIsGeneric(t *testing.T) {
	type card struct {
		Title string
		Tags  []string
		Pos   string
	}
	type message struct {
		Text    string
		Cards   []card
		Extra   map[string]any
		Payload any
		TextPos string
	}
	a := message{Text: "hi", Cards: []card{{Title: "A", Tags: []string{"x"}, Pos: "a.cue:1:1"}}, Extra: map[string]any{"k": 1.0}, Payload: card{Title: "P"}, TextPos: "a.cue:1:1"}
	b := message{Text: "hi", Cards: []card{{Title: "B", Tags: []string{"x", "y"}, Pos: "b.cue:9:9"}}, Extra: map[string]any{"k": 2.0}, Payload: card{Title: "Q"}, TextPos: "b.cue:2:2"}
	got := diff.FlattenForTest(a, b)
	want := "cards[0].tags: [\"x\"] -> [\"x\",\"y\"]; cards[0].title: A -> B; extra.k: 1 -> 2; payload.title: P -> Q"
	if got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}

// TestScenarioAddedAndRemoved: an added scenario lists its parts; a removed one too.
func TestScenarioAddedAndRemoved(t *testing.T) {
	extra := `package scenarios

scenarios: hello: {
	description: "Says hello."
	conversations: c: {
		behaviors: ["starting"]
		scenes: s: {
			behaviors: ["starting"]
			turns: t: {
				behaviors: ["starting"]
				request: [{id: "intent.core.welcome"}]
				response: [{id: "hi", message: text: "Hi!"}]
			}
		}
	}
}
`
	old := load(t, map[string]string{"main.cue": base})
	both := load(t, map[string]string{"main.cue": base, "hello.cue": extra})
	want := "added scenario hello {active:  -> true} {description:  -> Says hello.} {interpreter:  -> text}\n" +
		`added conversation c {behaviors:  -> ["starting"]}` + "\n" +
		`added scene c/s {behaviors:  -> ["starting"]}` + "\n" +
		`added turn c/s/t {behaviors:  -> ["starting"]}` + "\n" +
		"added intent c/s/t/request/intent.core.welcome {speaker:  -> user}\n" +
		"added intent c/s/t/response/hi {message.text:  -> Hi!} {speaker:  -> app}"
	if got := summary(diff.Compare("old", old, "new", both)); got != want {
		t.Errorf("added:\n%s\nwant:\n%s", got, want)
	}
	removed := summary(diff.Compare("new", both, "old", old))
	if !strings.HasPrefix(removed, "removed scenario hello {active: true -> }") || strings.Count(removed, "\nremoved ") != 5 {
		t.Errorf("removed:\n%s", removed)
	}
}
