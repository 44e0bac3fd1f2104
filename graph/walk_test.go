package graph_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/parleyhq/parley/dsl"
	"github.com/parleyhq/parley/engine"
	"github.com/parleyhq/parley/graph"
	"github.com/parleyhq/parley/plugins"
)

// TestReachabilityFollowsTheEngine checks the paths the engine takes that are
// easy to miss: a transition into a turn the app opens, a user intent among a
// turn's responses after that, a turn-level no-match, a virtual intent that
// falls back to anywhere in the scenario, and a completing intent that starts
// afresh; and that what none of them leads to is unreachable.
func TestReachabilityFollowsTheEngine(t *testing.T) {
	src := `package scenarios

scenarios: s: conversations: c: {
	behaviors: ["starting"]
	scenes: main: {
		behaviors: ["starting"]
		turns: {
			start: {
				behaviors: ["starting"]
				request: [{id: "intent.core.welcome"}]
				response: [{id: "go_on", message: text: "On.", transition: turn: "app_opens"}]
			}
			app_opens: {
				request: [{id: "app_asks", speaker: "app", message: text: "Yes or no?"}]
				response: [
					{id: "user_answers", speaker: "user", utterances: ["yes"]},
					{id: "intent.core.TurnNoMatch", speaker: "user"},
				]
			}
			after_answer: {
				valid_origins: ["user_answers", "intent.core.TurnNoMatch"]
				request: [{id: "app_replies", speaker: "app", message: text: "Noted.", virtual: "far"}]
			}
			far_away: {
				request: [{id: "far"}]
				response: [{id: "far_reply", message: text: "Far.", behaviors: ["completing"]}]
			}
			never: {
				valid_origins: ["far_reply"]
				request: [{id: "never_asked", utterances: ["never"]}]
			}
		}
	}
}
`
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "main.cue"), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := dsl.LoadDir(dir, dsl.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer cfg.Close()
	s := graph.New(cfg).Scenario("s")
	want := map[string]bool{
		"intent.core.welcome": true, "go_on": true, "app_asks": true, "user_answers": true,
		"intent.core.TurnNoMatch": true, "far": true, "far_reply": true,
		// app_replies answers nobody: after a user intent among a turn's responses the
		// app answers from turns that list it as an origin, which holds app_replies.
		"app_replies": true,
		// far_reply completes the conversation, so never's origin can never precede it.
		"never_asked": false,
	}
	for _, in := range s.Intents() {
		w, ok := want[in.Intent]
		if !ok {
			t.Errorf("unexpected intent %s", in.Intent)
			continue
		}
		if in.Reachable != w {
			t.Errorf("%s: reachable %v, want %v", in.Intent, in.Reachable, w)
		}
	}
	if s.CanPrecede("far_reply") || !s.CanPrecede("user_answers") {
		t.Error("CanPrecede: far_reply completes, user_answers is a response that stays")
	}
	kinds := map[string]int{}
	for _, e := range s.Edges {
		kinds[e.Kind]++
	}
	if kinds[graph.EdgeTransition] == 0 || kinds[graph.EdgeVirtual] == 0 || kinds[graph.EdgeOrigin] == 0 {
		t.Errorf("edge kinds: %v", kinds)
	}

	// The real engine takes these paths: each app intent it says is reachable in the model.
	e, err := engine.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	var said []string
	for _, u := range []plugins.Utterance{{Type: plugins.ChatOpen}, {Type: plugins.Text, Text: "yes"}} {
		reply, err := e.Handle(context.Background(), "u1", u)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range reply.Messages {
			said = append(said, m.Intent)
		}
	}
	if got := strings.Join(said, " "); got != "go_on app_asks app_replies far_reply" {
		t.Fatalf("the engine said %s", got)
	}
	for _, id := range said {
		if in := s.Src().Intents(id); len(in) != 1 || !s.Intent(in[0]).Reachable {
			t.Errorf("the engine said %s, which the model finds unreachable", id)
		}
	}
}
