package interpreters_test

import (
	"context"
	"fmt"
	"regexp"
	"testing"

	"github.com/parleyhq/parley/dsl"
	"github.com/parleyhq/parley/plugins"
	"github.com/parleyhq/parley/plugins/interpreters"
)

func hints(id string, utterances []string, patterns ...string) *plugins.Hints {
	h := &plugins.Hints{IntentID: id}
	for _, u := range utterances {
		h.Utterances = append(h.Utterances, dsl.NormalizeText(u))
	}
	for _, p := range patterns {
		h.Patterns = append(h.Patterns, regexp.MustCompile(p))
	}
	return h
}

func TestCallback(t *testing.T) {
	cands := []*plugins.Hints{hints("intent.core.welcome", nil), hints("ok", nil), hints("ok", nil)}
	cases := []struct {
		name string
		u    plugins.Utterance
		want string
	}{
		{"a button response matches the intent named by its callback", plugins.Utterance{Type: plugins.ButtonResponse, CallbackID: "ok"}, "[{1 1 map[]} {2 1 map[]}]"},
		{"chat_open means intent.core.welcome", plugins.Utterance{Type: plugins.ChatOpen}, "[{0 1 map[]}]"},
		{"a trigger matches by callback id", plugins.Utterance{Type: plugins.Trigger, CallbackID: "intent.core.welcome"}, "[{0 1 map[]}]"},
		{"an unknown callback matches nothing", plugins.Utterance{Type: plugins.ButtonResponse, CallbackID: "nope"}, "[]"},
		{"text without a callback matches nothing", plugins.Utterance{Type: plugins.Text, Text: "ok"}, "[]"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := fmt.Sprint(interpreters.Callback{}.Interpret(context.Background(), tc.u, cands))
			if got != tc.want {
				t.Fatalf("got %s, want %s", got, tc.want)
			}
		})
	}
}

func TestText(t *testing.T) {
	cands := []*plugins.Hints{
		hints("pizza", []string{"I want   PIZZA"}),
		hints("order", nil, `^(?P<n>\d+) (?P<item>\w+)$`),
		hints("mention", nil, `(?i)pasta`),
		hints("both", []string{"pasta please"}, `pasta`),
		nil,
	}
	cases := []struct {
		name, text, want string
	}{
		{"an utterance matches ignoring case and white space", "  i want\tpizza ", "[{0 1 map[]}]"},
		{"a pattern matching the whole text has confidence 1 and named groups", "3 pies", "[{1 1 map[item:pies n:3]}]"},
		{"a pattern matching part of the text has partial confidence", "some Pasta here", fmt.Sprintf("[{2 %v map[]}]", interpreters.PartialConfidence)},
		{"an exact utterance beats a partial pattern of the same intent", "pasta please", fmt.Sprintf("[{2 %v map[]} {3 1 map[]}]", interpreters.PartialConfidence)},
		{"empty text matches nothing", "   ", "[]"},
		{"unrelated text matches nothing", "sushi", "[]"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := fmt.Sprint(interpreters.Text{}.Interpret(context.Background(), plugins.Utterance{Type: plugins.Text, Text: tc.text}, cands))
			if got != tc.want {
				t.Fatalf("got %s, want %s", got, tc.want)
			}
		})
	}
}

func TestNormalizeAgreesWithTheLoader(t *testing.T) {
	for _, s := range []string{"", " ", "hello", "Hello", "a  b", " a b", "a b ", "a\tb", "ÉCOLE été", "already normal", "x\n"} {
		if got, want := interpreters.Normalize(s), dsl.NormalizeText(s); got != want {
			t.Errorf("Normalize(%q) = %q, loader says %q", s, got, want)
		}
	}
}

func TestRegisteredGlobally(t *testing.T) {
	for _, name := range []string{interpreters.CallbackName, interpreters.TextName} {
		if _, ok := plugins.Global().Interpreter(name); !ok {
			t.Errorf("interpreter %q is not in plugins.Global()", name)
		}
	}
}

func BenchmarkTextUtterance(b *testing.B) {
	cands := []*plugins.Hints{hints("a", []string{"hello"}), hints("b", []string{"bye"})}
	u := plugins.Utterance{Type: plugins.Text, Text: "hello"}
	b.ReportAllocs()
	for b.Loop() {
		interpreters.Text{}.Interpret(context.Background(), u, cands)
	}
}
