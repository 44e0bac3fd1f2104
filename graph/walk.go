package graph

import (
	"github.com/parleyhq/parley/dsl"
)

// kind of a position in a conversation.
type kind uint8

const (
	atStart kind = iota // no conversation under way
	atEnter             // a transition moved here; the next intent enters it
	atAfter             // after an intent, in its turn
)

// state is an abstract position of a user in a scenario, as the engine keeps
// it between intents (engine/turn.go: position).
type state struct {
	kind   kind
	conv   *dsl.Conversation
	scene  *dsl.Scene
	turn   *dsl.Turn
	intent *dsl.Intent
}

// Candidate is an intent that may be selected at a position, with whether
// conditions above the intent's own (of its turn, scene or conversation)
// take part in selecting it.
type Candidate struct {
	Intent *dsl.Intent
	// Gated: conditions of a turn, scene or conversation apply too.
	Gated bool
}

// walker explores every position a scenario's conversations can reach.
type walker struct {
	sc *dsl.Scenario
	// reached are the intents some path selects.
	reached map[*dsl.Intent]bool
	// userStates are the positions at which the user speaks next.
	userStates map[state]bool
	order      []state
	said       map[sayKey]bool
	// appSets are the app candidate lists computed, for the shadowing lint.
	appSets map[state][]Candidate
	appKeys []state
	// explored is how many of appKeys the exploration itself computed.
	explored int
}

type sayKey struct {
	in   *dsl.Intent
	from state
	comp bool
}

func newWalker(sc *dsl.Scenario) *walker {
	return &walker{sc: sc, reached: map[*dsl.Intent]bool{}, userStates: map[state]bool{},
		said: map[sayKey]bool{}, appSets: map[state][]Candidate{}}
}

// run explores from the start until no new position appears.
func (w *walker) run() {
	w.addUserState(state{})
	for i := 0; i < len(w.order); i++ {
		s := w.order[i]
		for _, c := range w.userCandidates(s, "") {
			w.reached[c.Intent] = true
			w.record(c.Intent, false)
		}
		for _, in := range w.noMatch(s) {
			w.reached[in] = true
			w.record(in, false)
		}
	}
}

func (w *walker) addUserState(s state) {
	if !w.userStates[s] {
		w.userStates[s] = true
		w.order = append(w.order, s)
	}
}

// next is the position after intent in is recorded (engine: turn.record).
func next(in *dsl.Intent) state {
	if tr := in.Transition; tr != nil {
		switch {
		case tr.Turn != nil:
			return state{kind: atEnter, conv: tr.Turn.Scene.Conversation, scene: tr.Turn.Scene, turn: tr.Turn, intent: in}
		case tr.Scene != nil:
			return state{kind: atEnter, conv: tr.Scene.Conversation, scene: tr.Scene, intent: in}
		case tr.Conversation != nil:
			return state{kind: atEnter, conv: tr.Conversation, intent: in}
		}
	}
	return state{kind: atAfter, conv: in.Turn.Scene.Conversation, scene: in.Turn.Scene, turn: in.Turn, intent: in}
}

// record follows a selected user intent: the app answers from the position after it.
func (w *walker) record(in *dsl.Intent, comp bool) {
	comp = comp || completing(in)
	s := next(in)
	outs := w.appCandidates(s)
	if len(outs) == 0 {
		if comp {
			w.addUserState(state{})
		} else {
			w.addUserState(s)
		}
		return
	}
	for _, c := range outs {
		w.say(c.Intent, s, comp)
	}
}

// say follows an app intent said at position from (engine: the loop of turn.run).
func (w *walker) say(out *dsl.Intent, from state, comp bool) {
	k := sayKey{out, from, comp}
	if w.said[k] {
		return
	}
	w.said[k] = true
	w.reached[out] = true
	comp = comp || completing(out)
	s := next(out)
	if comp {
		s = state{}
	}
	switch {
	case out.Virtual != "":
		for _, in := range w.virtual(s, out.Virtual) {
			w.reached[in] = true
			w.record(in, comp)
		}
	case s.kind == atEnter:
		// The app goes on talking from where the transition moved it, or the user speaks there.
		w.addUserState(s)
		for _, c := range w.appCandidates(s) {
			w.say(c.Intent, s, comp)
		}
	default:
		w.addUserState(s)
	}
}

// virtual is the user intents a virtual intent id may select at s (engine: selectVirtual).
func (w *walker) virtual(s state, id string) []*dsl.Intent {
	var out []*dsl.Intent
	for _, c := range w.userCandidates(s, id) {
		out = append(out, c.Intent)
	}
	if len(out) == 0 && s.kind != atStart {
		for _, in := range w.sc.Intents(id) {
			if in.Speaker == "user" {
				out = append(out, in)
			}
		}
	}
	return out
}

// userCands returns the user intents that are candidates at s.
func (w *walker) userCands(s state, only string) []*dsl.Intent {
	var out []*dsl.Intent
	for _, c := range w.userCandidates(s, only) {
		out = append(out, c.Intent)
	}
	return out
}

func (w *walker) userCandidates(s state, only string) []Candidate {
	return w.structural(s, "user", only)
}

func (w *walker) appCandidates(s state) []Candidate {
	if c, ok := w.appSets[s]; ok {
		return c
	}
	c := w.structural(s, "app", "")
	w.appSets[s] = c
	w.appKeys = append(w.appKeys, s)
	return c
}

// structural lists the intents speaker may say next at s, in the engine's order (engine: turn.structural).
func (w *walker) structural(s state, speaker, only string) []Candidate {
	var out []Candidate
	add := func(list []*dsl.Intent, gated bool) {
		for _, in := range list {
			if in.Speaker == speaker && (only == "" || in.ID == only) {
				out = append(out, Candidate{Intent: in, Gated: gated})
			}
		}
	}
	enterScene := func(sc *dsl.Scene, gated bool) {
		gated = gated || len(sc.Conditions) > 0
		for _, t := range sc.Turns {
			if t.Behaviors&(dsl.Starting|dsl.Open) != 0 {
				add(t.Request, gated || len(t.Conditions) > 0)
			}
		}
	}
	switch {
	case s.kind == atStart:
		gated := len(w.sc.Conditions) > 0
		for _, c := range w.sc.Conversations {
			if !c.Behaviors.Has(dsl.Starting) {
				continue
			}
			for _, sc := range c.Scenes {
				if !sc.Behaviors.Has(dsl.Starting) {
					continue
				}
				g := gated || len(c.Conditions) > 0 || len(sc.Conditions) > 0
				for _, t := range sc.Turns {
					if t.Behaviors.Has(dsl.Starting) {
						add(t.Request, g || len(t.Conditions) > 0)
					}
				}
			}
		}
	case s.kind == atEnter:
		switch {
		case s.turn != nil:
			add(s.turn.Request, len(s.turn.Conditions) > 0)
		case s.scene != nil:
			enterScene(s.scene, false)
		default:
			for _, sc := range s.conv.Scenes {
				if sc.Behaviors.Has(dsl.Starting) {
					enterScene(sc, len(s.conv.Conditions) > 0)
				}
			}
		}
	case s.intent.Role == dsl.Request:
		add(s.turn.Response, false)
	default:
		var seen []*dsl.Turn
		visit := func(t *dsl.Turn) {
			for _, x := range seen {
				if x == t {
					return
				}
			}
			seen = append(seen, t)
			add(t.Request, len(t.Conditions) > 0)
		}
		for _, t := range s.scene.Turns {
			if t.Behaviors.Has(dsl.Open) {
				visit(t)
			}
		}
		for _, t := range w.sc.TurnsWithOrigin(s.intent.ID) {
			visit(t)
		}
	}
	return out
}

// noMatch is the no-match intents that may answer an utterance nothing matched at s (engine: turn.noMatch).
func (w *walker) noMatch(s state) []*dsl.Intent {
	var out []*dsl.Intent
	levels := []struct {
		id string
		ok bool
		in func(*dsl.Intent) bool
	}{
		{dsl.IntentTurnNoMatch, s.turn != nil, func(in *dsl.Intent) bool { return in.Turn == s.turn }},
		{dsl.IntentSceneNoMatch, s.scene != nil, func(in *dsl.Intent) bool { return in.Turn.Scene == s.scene }},
		{dsl.IntentConversationNoMatch, s.conv != nil, func(in *dsl.Intent) bool { return in.Turn.Scene.Conversation == s.conv }},
		{dsl.IntentNoMatch, true, func(*dsl.Intent) bool { return true }},
	}
	for _, l := range levels {
		if !l.ok {
			continue
		}
		for _, in := range w.sc.Intents(l.id) {
			if in.Speaker == "user" && l.in(in) {
				out = append(out, in)
			}
		}
	}
	return out
}

// statesAfter returns the positions at which the user may speak right after
// the app said out: where a press of one of its buttons is interpreted.
func (w *walker) statesAfter(out *dsl.Intent) []state {
	var res []state
	seen := map[*dsl.Intent]bool{}
	var visit func(o *dsl.Intent)
	visit = func(o *dsl.Intent) {
		if seen[o] {
			return
		}
		seen[o] = true
		s := next(o)
		if completing(o) {
			s = state{}
		}
		switch {
		case o.Virtual != "":
			for _, v := range w.virtual(s, o.Virtual) {
				for _, c := range w.appCandidates(next(v)) {
					visit(c.Intent)
				}
				if len(w.appCandidates(next(v))) == 0 {
					res = append(res, next(v))
				}
			}
		case s.kind == atEnter:
			res = append(res, s)
			for _, c := range w.appCandidates(s) {
				visit(c.Intent)
			}
		default:
			res = append(res, s)
		}
	}
	visit(out)
	return res
}
