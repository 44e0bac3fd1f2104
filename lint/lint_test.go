package lint_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/parleyhq/parley/dsl"
	"github.com/parleyhq/parley/lint"
	_ "github.com/parleyhq/parley/plugins/all"
)

// base is a scenario that is lint-clean; each case edits it.
const base = `package scenarios

scenarios: shop: {
	attributes: {full_name: "string", first_name: "string"}
	actions: lookup: {
		webhook: url: "https://people.example.com/opendialog"
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
					request: [{id: "ok", utterances: ["ok", "fine"], actions: [{use: "lookup"}]}]
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

// load writes src to a temporary directory and loads it.
func load(t *testing.T, src string) (*dsl.Config, string) {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, "main.cue")
	if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := dsl.LoadDir(dir, dsl.Options{})
	if err != nil {
		t.Fatalf("loading:\n%v", err)
	}
	t.Cleanup(func() { cfg.Close() })
	return cfg, filepath.ToSlash(path)
}

// at is file:line:col of marker inside the first line of src holding text.
func at(t *testing.T, file, src, text, marker string) string {
	t.Helper()
	for i, line := range strings.Split(src, "\n") {
		if j := strings.Index(line, text); j >= 0 {
			k := strings.Index(text, marker)
			if k < 0 {
				t.Fatalf("marker %q not in %q", marker, text)
			}
			return fmt.Sprintf("%s:%d:%d", file, i+1, j+k+1)
		}
	}
	t.Fatalf("source holds no %q", text)
	return ""
}

func replace(t *testing.T, src, old, new string) string {
	t.Helper()
	if strings.Count(src, old) != 1 {
		t.Fatalf("source holds %q %d times", old, strings.Count(src, old))
	}
	return strings.Replace(src, old, new, 1)
}

func TestBaseIsClean(t *testing.T) {
	cfg, _ := load(t, base)
	if got := lint.Check(cfg, nil, lint.Options{}); len(got) > 0 {
		t.Fatalf("base scenario has lints:\n%v", got)
	}
}

func TestExamplesAreClean(t *testing.T) {
	cfg, err := dsl.LoadDir("../scenarios", dsl.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer cfg.Close()
	if got := lint.Check(cfg, nil, lint.Options{}); len(got) > 0 {
		t.Fatalf("examples have lints:\n%v", got)
	}
}

type want struct{ line, marker, diag string }

func TestLints(t *testing.T) {
	cases := []struct {
		name  string
		edits [][2]string
		want  []want
	}{{
		name:  "template reads an undeclared attribute",
		edits: [][2]string{{"{{ user.full_name }}", "{{ user.ful_name }}"}},
		want: []want{{"actions: lookup: {", "lookup", "lint.unread_output: output full_name of action lookup is written to user.full_name, " +
			"which no expression, template or input reads"}, {`Hello {{ user.ful_name }}`, "user.ful", "lint.unknown_attribute: user.ful_name is read but no scenario declares it, " +
			"no action outputs it and no interpreter sets it (did you mean user.full_name?)"}},
	}, {
		name:  "condition reads an undeclared session attribute",
		edits: [][2]string{{`conditions: ["user.action_status"]`, `conditions: ["user.action_status && session.frist_name != nil"]`}},
		want: []want{{`session.frist_name`, "session", "lint.unknown_attribute: session.frist_name is read but no scenario declares it, " +
			"no action outputs it and no interpreter sets it (did you mean session.first_name?)"}},
	}, {
		name:  "unreachable turn",
		edits: [][2]string{{"\t\t\t\tgreet: {", "\t\t\t\tlost: {\n\t\t\t\t\trequest: [{id: \"lost\", utterances: [\"lost\"]}]\n\t\t\t\t}\n\t\t\t\tgreet: {"}},
		want: []want{{"lost: {", "lost", "lint.unreachable_turn: turn lost (scene s, conversation main) is never reached: " +
			"no starting or open behaviour, valid origin, transition, virtual intent or no-match leads to it"}},
	}, {
		name: "unreachable intent of a reachable turn",
		edits: [][2]string{{`{id: "sorry", message: text: "Sorry.", behaviors: ["completing"]},`, `{id: "sorry", message: text: "Sorry.", behaviors: ["completing"]},
						{id: "late", speaker: "user", utterances: ["late"]},`}},
		want: []want{{`{id: "late"`, "{", "lint.unreachable_intent: intent late (turn greet, scene s, conversation main) is never reached: " +
			"a user intent among a turn's responses is a candidate only when no app intent answers the turn's request"}},
	}, {
		name: "button whose callback no turn accepts after its message",
		edits: [][2]string{
			{`buttons: [{text: "OK", callback: "ok"}]`, `buttons: [{text: "OK", callback: "ok"}, {text: "Later", callback: "later"}]`},
			{"\t\t\t\tgreet: {", "\t\t\t\tother: {\n\t\t\t\t\tbehaviors: [\"starting\"]\n\t\t\t\t\trequest: [{id: \"later\", utterances: [\"later\"]}]\n" +
				"\t\t\t\t\tresponse: [{id: \"bye\", message: text: \"Bye.\", behaviors: [\"completing\"]}]\n\t\t\t\t}\n\t\t\t\tgreet: {"},
		},
		want: []want{{`{text: "Later"`, `{text: "Later"`, `lint.unaccepted_button: button "Later" of hello sends callback "later", which no turn accepts ` +
			`after that message (add "hello" to a turn's valid_origins whose request intent is "later", or make that turn open)`}},
	}, {
		name:  "action never used",
		edits: [][2]string{{"\tconversations: main: {", "\tactions: spare: webhook: url: \"https://spare.example.com/a\"\n\tconversations: main: {"}},
		want:  []want{{"actions: spare:", "spare", "lint.unused_action: action spare of scenario shop is never used: no intent's actions name it"}},
	}, {
		name:  "output never read",
		edits: [][2]string{{`outputs: ["full_name"]`, `outputs: ["full_name", "nick"]`}},
		want: []want{{"actions: lookup: {", "lookup", "lint.unread_output: output nick of action lookup is written to user.nick, " +
			"which no expression, template or input reads"}},
	}, {
		name:  "valid origin that can never precede its turn",
		edits: [][2]string{{`valid_origins: ["hello"]`, `valid_origins: ["hello", "greeting"]`}},
		want: []want{{`valid_origins: ["hello", "greeting"]`, `"greeting"`, `lint.impossible_origin: valid origin "greeting" of turn greet can never precede it: ` +
			"it completes the conversation, so the next utterance starts afresh"}},
	}, {
		name: "app intent after one whose conditions always pass",
		edits: [][2]string{{`{id: "greeting", conditions: ["user.action_status"], message: text: "Hello {{ user.full_name }}!", behaviors: ["completing"]},
						{id: "sorry", message: text: "Sorry.", behaviors: ["completing"]},`, `{id: "sorry", message: text: "Sorry.", behaviors: ["completing"]},
						{id: "greeting", conditions: ["user.action_status"], message: text: "Hello {{ user.full_name }}!", behaviors: ["completing"]},`}},
		want: []want{{`{id: "greeting"`, "{", "lint.shadowed_intent: app intent greeting is never chosen: sorry comes before it and its conditions always pass"}},
	}, {
		name:  "two user intents of one candidate set with the same utterance",
		edits: [][2]string{{`request: [{id: "ok", utterances: ["ok", "fine"], actions: [{use: "lookup"}]}]`, `request: [{id: "ok", utterances: ["ok", "fine"], actions: [{use: "lookup"}]}, {id: "okay", utterances: ["  OK "]}]`}},
		want: []want{{`{id: "okay"`, `{id: "okay"`, `lint.duplicate_utterance: utterance "ok" of intent okay is also an utterance of intent ok, ` +
			"a candidate at the same time: the text interpreter cannot tell them apart"}},
	}, {
		name: "silenced on the line above and on its line",
		edits: [][2]string{
			{"\tconversations: main: {", "\t// parley:ignore lint.unused_action: kept for the next release\n\tactions: spare: webhook: url: \"https://spare.example.com/a\"\n" +
				"\tactions: spare2: webhook: url: \"https://spare.example.com/b\" // parley:ignore lint.unused_action\n\tconversations: main: {"},
		},
	}, {
		name: "a comment naming another code silences nothing",
		edits: [][2]string{
			{"\tconversations: main: {", "\t// parley:ignore lint.unread_output\n\tactions: spare: webhook: url: \"https://spare.example.com/a\"\n\tconversations: main: {"},
		},
		want: []want{{"actions: spare:", "spare", "lint.unused_action: action spare of scenario shop is never used: no intent's actions name it"}},
	}}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			src := base
			for _, e := range tc.edits {
				src = replace(t, src, e[0], e[1])
			}
			cfg, file := load(t, src)
			var wants []string
			for _, w := range tc.want {
				wants = append(wants, at(t, file, src, w.line, w.marker)+": "+w.diag)
			}
			var got []string
			for _, d := range lint.Check(cfg, nil, lint.Options{}) {
				got = append(got, d.String())
			}
			if strings.Join(got, "\n") != strings.Join(wants, "\n") {
				t.Errorf("lints:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(wants, "\n"))
			}
		})
	}
}

func TestLintYAMLPositionAndSilence(t *testing.T) {
	src := `scenarios:
  shop:
    attributes:
      full_name: string
    conversations:
      main:
        behaviors: [starting]
        scenes:
          s:
            behaviors: [starting]
            turns:
              welcome:
                behaviors: [starting]
                request:
                  - id: intent.core.welcome
                response:
                  - id: hello
                    message:
                      text: "Hello {{ user.fullname }}, {{ session.nick }}!"
                    # parley:ignore lint.shadowed_intent
                  - id: never
                    message:
                      text: Never.
`
	dir := t.TempDir()
	path := filepath.Join(dir, "main.yaml")
	if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := dsl.LoadDir(dir, dsl.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer cfg.Close()
	file := filepath.ToSlash(path)
	want := []string{
		at(t, file, src, "{{ user.fullname }}, {{ session.nick }}", "user.fullname") + ": lint.unknown_attribute: user.fullname is read but no scenario declares it, no action outputs it and no interpreter sets it (did you mean user.full_name?)",
		at(t, file, src, "{{ user.fullname }}, {{ session.nick }}", "session.nick") + ": lint.unknown_attribute: session.nick is read but no scenario declares it, no action outputs it and no interpreter sets it",
	}
	var got []string
	for _, d := range lint.Check(cfg, nil, lint.Options{}) {
		got = append(got, d.String())
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("lints:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestDuplicateUtteranceAcrossScenarios: a new conversation considers the
// starting intents of every active scenario together.
func TestDuplicateUtteranceAcrossScenarios(t *testing.T) {
	second := `
scenarios: other: conversations: c: {
	behaviors: ["starting"]
	scenes: s: {
		behaviors: ["starting"]
		turns: t: {
			behaviors: ["starting"]
			request: [{id: "hi", utterances: ["Hello"]}]
			response: [{id: "hi_back", message: text: "Hi.", behaviors: ["completing"]}]
		}
	}
}
`
	src := replace(t, base, `request: [{id: "intent.core.welcome"}]`, `request: [{id: "intent.core.welcome"}, {id: "hello_there", utterances: ["hello"]}]`) + second
	cfg, file := load(t, src)
	// Scenarios are considered in name order: other's intent comes first.
	want := at(t, file, src, `{id: "hello_there"`, `{id: "hello_there"`) + `: lint.duplicate_utterance: utterance "hello" of intent hello_there is also an utterance of intent hi of scenario other, ` +
		"a candidate at the same time: the text interpreter cannot tell them apart"
	var got []string
	for _, d := range lint.Check(cfg, nil, lint.Options{}) {
		got = append(got, d.String())
	}
	if strings.Join(got, "\n") != want {
		t.Errorf("lints:\n%s\nwant:\n%s", strings.Join(got, "\n"), want)
	}
}
