package engine_test

import (
	"context"
	"strings"
	"testing"

	"github.com/parleyhq/parley/engine"
	"github.com/parleyhq/parley/plugins"
)

// openTurn is a starting and open turn with the given request intents, each
// answered by a response that names the chosen request.
func openTurn(requests string) string {
	return single(`t: {
		behaviors: ["starting", "open"]
		request: [` + requests + `]
		response: [{id: "answer", message: text: "{{ conversation.current_scene }}:{{ session.picked }}"}]
	}`)
}

// picked records which request intent was chosen, through its trace.
func chose(want string) func(*testing.T, *engine.Reply, engine.Contexts) {
	return func(t *testing.T, r *engine.Reply, _ engine.Contexts) {
		t.Helper()
		if len(r.Trace.Selections) == 0 || r.Trace.Selections[0].Chosen != want {
			t.Fatalf("incoming intent: want %q\ntrace: %s", want, dump(r.Trace))
		}
	}
}

func TestInterpretation(t *testing.T) {
	runCases(t, []engineCase{
		{
			name:  "utterances match ignoring case and runs of white space",
			src:   openTurn(`{id: "pizza", utterances: ["I want   Pizza"]}`),
			steps: []step{{u: text("  i WANT pizza \t"), check: chose("pizza")}},
		},
		{
			name: "named pattern groups are stored where expected_attributes says, converted to the declared type",
			src: `scenarios: s: attributes: count: "int"
` + openTurn(`{id: "order", patterns: ["^(?P<count>\\d+) (?P<item>\\w+)$"], expected_attributes: {count: "user.count", item: "user.item"}}`),
			steps: []step{{u: text("3 pizzas"), check: all(chose("order"), userIs("count", 3), userIs("item", "pizzas"))}},
		},
		{
			name:  "interpreted attributes without expected_attributes go to the session",
			src:   openTurn(`{id: "order", patterns: ["^(?P<item>\\w+) please$"]}`),
			steps: []step{{u: text("tea please"), check: all(sessionIs("item", "tea"), userIs("item", nil))}},
		},
		{
			name: "interpreted attributes are visible to the intent's conditions",
			src: `scenarios: s: attributes: n: "int"
` + openTurn(`{id: "big", patterns: ["^(?P<n>\\d+)$"], conditions: ["session.n > 10"]},
				{id: "small", patterns: ["^(?P<n>\\d+)$"]}`),
			steps: []step{
				{u: text("42"), check: all(chose("big"), sessionIs("n", 42))},
				{u: text("3"), check: all(chose("small"), sessionIs("n", 3), traceHas(`"source": "session.n \u003e 10"`))},
			},
		},
		{
			name: "interpreted attributes of an intent not chosen are not stored",
			src: openTurn(`{id: "magic", patterns: ["^(?P<word>\\w+)$"], expected_attributes: word: "user.word", conditions: ["user.word == 'abracadabra'"]},
				{id: "plain", patterns: ["^\\w+$"]}`),
			steps: []step{
				{u: text("hello"), check: all(chose("plain"), userIs("word", nil))},
				{u: text("abracadabra"), check: all(chose("magic"), userIs("word", "abracadabra"))},
			},
		},
		{
			name: "an interpreted attribute that does not fit its declared type rejects the intent",
			src: `scenarios: s: attributes: n: "int"
` + openTurn(`{id: "num", patterns: ["^(?P<n>\\w+)$"]}, {id: "other", patterns: ["^\\w+$"]}`),
			steps: []step{{u: text("abc"), check: all(chose("other"), sessionIs("n", nil), traceHas("interpreted attribute n"))}},
		},
		{
			name:  "the highest confidence wins",
			src:   openTurn(`{id: "partial", patterns: ["pizza"]}, {id: "exact", utterances: ["i want pizza please"]}`),
			steps: []step{{u: text("I want pizza please"), check: all(chose("exact"), traceHas(`"confidence": 0.8`, "ranked below exact"))}},
		},
		{
			name:  "on equal confidence more interpreted attributes win",
			src:   openTurn(`{id: "bare", patterns: ["^(\\w+) (\\w+)$"]}, {id: "named", patterns: ["^(?P<first>\\w+) (?P<second>\\w+)$"]}`),
			steps: []step{{u: text("ada lovelace"), check: chose("named")}},
		},
		{
			name:  "on a full tie the intent declared first wins",
			src:   openTurn(`{id: "first", utterances: ["same"]}, {id: "second", utterances: ["same"]}`),
			steps: []step{{u: text("same"), check: all(chose("first"), traceHas(`"outcome": "outranked"`))}},
		},
		{
			name:  "a confidence below the intent's minimum rejects it",
			src:   openTurn(`{id: "strict", patterns: ["pizza"], confidence: 0.9}, {id: "lenient", patterns: ["pizza"]}`),
			steps: []step{{u: text("some pizza"), check: all(chose("lenient"), traceHas("confidence 0.8 below the intent's minimum 0.9"))}},
		},
		{
			name:  "an utterance no interpreter understands is traced as no interpretation",
			src:   openTurn(`{id: "pizza", utterances: ["pizza"]}`),
			steps: []step{{u: text("sushi"), want: []string{engine.DefaultNoMatchText}, check: traceHas(`"reason": "no interpretation"`)}},
		},
		{
			name:  "a button response is interpreted by its callback whatever the default interpreter",
			src:   openTurn(`{id: "pizza", utterances: ["pizza"]}`),
			steps: []step{{u: click("pizza"), check: all(chose("pizza"), traceHas(`"interpreter": "callback"`))}},
		},
		{
			name:  "text is not matched by an intent's callback id",
			src:   openTurn(`{id: "pizza"}`),
			steps: []step{{u: text("pizza"), want: []string{engine.DefaultNoMatchText}}},
		},
	})
}

// keyword is a test interpreter: it matches an intent whose id appears in the text, with confidence 0.5.
type keyword struct{}

func (keyword) Interpret(_ context.Context, u plugins.Utterance, cands []*plugins.Hints) []plugins.Match {
	var out []plugins.Match
	for i, h := range cands {
		if strings.Contains(strings.ToLower(u.Text), h.IntentID) {
			out = append(out, plugins.Match{Index: i, Confidence: 0.5})
		}
	}
	return out
}

func TestInterpreterPlugins(t *testing.T) {
	cases := []struct {
		name, src, say, want string
	}{
		{
			name: "an intent's interpreter overrides the scenario default",
			src:  openTurn(`{id: "help", interpreter: "keyword"}, {id: "hi", utterances: ["hi"]}`),
			say:  "I need HELP now", want: "help",
		},
		{
			name: "the scenario default interpreter applies to intents without one",
			src:  `scenarios: s: interpreter: "keyword"` + "\n" + openTurn(`{id: "help"}, {id: "hi", interpreter: "text", utterances: ["hi"]}`),
			say:  "help me", want: "help",
		},
		{
			name: "candidates of different interpreters are ranked together",
			src:  openTurn(`{id: "help", interpreter: "keyword"}, {id: "exact", utterances: ["help"]}`),
			say:  "help", want: "exact",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			env := newEnv(t, nil)
			if err := env.RegisterInterpreter("keyword", keyword{}); err != nil {
				t.Fatal(err)
			}
			e := openEnv(t, tc.src, env)
			play(t, e, "u", []step{{u: text(tc.say), check: chose(tc.want)}})
		})
	}
}

// noMatchScenario declares the no-match intents named in levels, each in its scope.
func noMatchScenario(levels ...string) string {
	has := map[string]bool{}
	for _, l := range levels {
		has[l] = true
	}
	turnNM, sceneNM, convNM, anyNM := "", "", "", ""
	if has["turn"] {
		turnNM = `{id: "intent.core.TurnNoMatch"}`
	}
	if has["scene"] {
		sceneNM = `nm: {
			request: [{id: "intent.core.SceneNoMatch"}]
			response: [{id: "scene_nm", message: text: "scene no match"}]
		}`
	}
	if has["conversation"] {
		convNM = `scenarios: s: conversations: c: scenes: other: turns: nm: {
			request: [{id: "intent.core.ConversationNoMatch"}]
			response: [{id: "conv_nm", message: text: "conversation no match"}]
		}`
	}
	if has["scenario"] {
		anyNM = `scenarios: s: conversations: fallback: scenes: s: turns: nm: {
			request: [{id: "intent.core.NoMatch"}]
			response: [{id: "any_nm", message: text: "no match"}]
		}`
	}
	return single(`start: {
			behaviors: ["starting"]
			request: [{id: "intent.core.welcome"}, `+turnNM+`]
			response: [
				{id: "hello", conditions: ["conversation.current_intent == 'intent.core.welcome'"], message: text: "Hello"},
				{id: "turn_nm", message: text: "turn no match"},
			]
		}
		`+sceneNM) + convNM + "\n" + anyNM
}

func TestNoMatchEscalation(t *testing.T) {
	cases := []struct {
		name     string
		declared []string
		want     string
		event    string
	}{
		{"TurnNoMatch of the current turn comes first", []string{"turn", "scene", "conversation", "scenario"}, "turn no match", "intent.core.TurnNoMatch"},
		{"without TurnNoMatch SceneNoMatch of the current scene answers", []string{"scene", "conversation", "scenario"}, "scene no match", "intent.core.SceneNoMatch"},
		{"without SceneNoMatch ConversationNoMatch of the current conversation answers", []string{"conversation", "scenario"}, "conversation no match", "intent.core.ConversationNoMatch"},
		{"without ConversationNoMatch NoMatch of the scenario answers", []string{"scenario"}, "no match", "intent.core.NoMatch"},
		{"with no no-match intent the default message answers", nil, engine.DefaultNoMatchText, "default reply"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := open(t, noMatchScenario(tc.declared...), nil)
			play(t, e, "u", []step{
				{u: chatOpen, want: []string{"Hello"}},
				{u: text("gibberish"), want: []string{tc.want}, check: traceHas(tc.event)},
			})
		})
	}
}

func TestDefaultNoMatchKeepsState(t *testing.T) {
	e := open(t, greeter, map[string]plugins.ActionFunc{"full_name": fullName}, engine.WithNoMatchText("Pardon?"))
	play(t, e, "u", []step{
		{u: chatOpen},
		{u: text("what?"), want: []string{"Pardon?"}, check: func(t *testing.T, r *engine.Reply, _ engine.Contexts) {
			if r.Trace.Start != r.Trace.End {
				t.Fatalf("position moved from %+v to %+v", r.Trace.Start, r.Trace.End)
			}
		}},
		// The conversation goes on where it was.
		{u: click("ok"), set: map[string]any{"first_name": "A", "last_name": "B"}, want: []string{"Hello A B!"}},
	})
}

func TestNoMatchOutsideAConversation(t *testing.T) {
	e := open(t, noMatchScenario("scenario"), nil)
	play(t, e, "u", []step{{u: text("gibberish"), want: []string{"no match"}}})
}
