package engine

import (
	"fmt"
	"maps"
	"slices"
	"strconv"

	"github.com/parleyhq/parley/dsl"
	"github.com/parleyhq/parley/plugins"
	"github.com/parleyhq/parley/plugins/store"
)

// callbackInterpreter is the interpreter of button responses, triggers and chat openings.
const callbackInterpreter = "callback"

// pending is a candidate intent that passed the structural checks, with the
// index of its entry in the selection's trace.
type pending struct {
	in *dsl.Intent
	ti int
}

// block is why every intent below a scenario, conversation, scene or turn is rejected.
type block struct {
	reason string
	cond   *ConditionTrace
}

func candidateOf(in *dsl.Intent) Candidate {
	turn := in.Turn
	return Candidate{Intent: in.ID, Scenario: turn.Scene.Conversation.Scenario.Name,
		Conversation: turn.Scene.Conversation.Name, Scene: turn.Scene.Name, Turn: turn.Name}
}

// addIntents adds the intents of list said by speaker (and with id only, when set) as candidates.
// The candidates (which outlive the turn, in its trace) take room in the
// reply's allocation or are sized exactly; the pending list grows in the
// turn's scratch buffer, which one selection uses at a time.
func (t *turn) addIntents(sel *Selection, out []pending, list []*dsl.Intent, speaker, only string, b *block) []pending {
	n := 0
	for _, in := range list {
		if in.Speaker == speaker && (only == "" || in.ID == only) {
			n++
		}
	}
	if n == 0 {
		return out
	}
	if sel.Candidates == nil && n <= len(t.cands) {
		// Room in the reply's allocation, capped so that growing copies out.
		sel.Candidates, t.cands = t.cands[:0:n], t.cands[n:]
	} else {
		sel.Candidates = slices.Grow(sel.Candidates, n)
	}
	if out == nil && b == nil {
		out = t.pend[:0]
	}
	for _, in := range list {
		if in.Speaker != speaker || (only != "" && in.ID != only) {
			continue
		}
		c := candidateOf(in)
		if b != nil {
			c.Outcome, c.Reason, c.Condition = OutcomeRejected, b.reason, b.cond
			sel.Candidates = append(sel.Candidates, c)
			continue
		}
		sel.Candidates = append(sel.Candidates, c)
		out = append(out, pending{in: in, ti: len(sel.Candidates) - 1})
	}
	if cap(out) > cap(t.pend) {
		t.pend = out[:0]
	}
	return out
}

// levelBlock evaluates the conditions of a scenario, conversation, scene or
// turn, unless a parent already blocks.
func (t *turn) levelBlock(kind, name string, conds []*dsl.Condition, parent *block) *block {
	if parent != nil || len(conds) == 0 {
		return parent
	}
	if c := t.failing(conds, nil); c != nil {
		return &block{reason: kind + " " + name + ": condition false", cond: c}
	}
	return nil
}

const startOrOpen = dsl.Starting | dsl.Open

// structural lists the intents that speaker may say next from the current
// position, adding them to sel; it returns those not rejected by a
// condition of their scenario, conversation, scene or turn.
func (t *turn) structural(speaker, only string, sel *Selection) []pending {
	var out []pending
	p := t.pos
	switch {
	case p.conv == nil:
		sel.From = "starting turns"
		for _, sc := range t.cfg.Scenarios {
			if !sc.Active {
				continue
			}
			b0 := t.levelBlock("scenario", sc.Name, sc.Conditions, nil)
			for _, conv := range sc.Conversations {
				if !conv.Behaviors.Has(dsl.Starting) {
					continue
				}
				b1 := t.levelBlock("conversation", conv.Name, conv.Conditions, b0)
				for _, scene := range conv.Scenes {
					if !scene.Behaviors.Has(dsl.Starting) {
						continue
					}
					b2 := t.levelBlock("scene", scene.Name, scene.Conditions, b1)
					for _, tu := range scene.Turns {
						if tu.Behaviors.Has(dsl.Starting) {
							out = t.addIntents(sel, out, tu.Request, speaker, only, t.levelBlock("turn", tu.Name, tu.Conditions, b2))
						}
					}
				}
			}
		}
	case p.phase == store.PhaseEnter:
		switch {
		case p.turn != nil:
			sel.From = "entering turn " + p.turn.Name
			out = t.addIntents(sel, out, p.turn.Request, speaker, only, t.levelBlock("turn", p.turn.Name, p.turn.Conditions, nil))
		case p.scene != nil:
			sel.From = "entering scene " + p.scene.Name
			out = t.enterScene(sel, out, p.scene, speaker, only, nil)
		default:
			sel.From = "entering conversation " + p.conv.Name
			b := t.levelBlock("conversation", p.conv.Name, p.conv.Conditions, nil)
			for _, scene := range p.conv.Scenes {
				if scene.Behaviors.Has(dsl.Starting) {
					out = t.enterScene(sel, out, scene, speaker, only, b)
				}
			}
		}
	case p.phase == store.PhaseRequest:
		sel.From = "responses of turn " + p.turn.Name
		out = t.addIntents(sel, out, p.turn.Response, speaker, only, nil)
	default:
		sel.From = "open turns of scene " + p.scene.Name + " and turns valid after " + p.intent.ID
		var seen []*dsl.Turn
		add := func(tu *dsl.Turn) {
			for _, s := range seen {
				if s == tu {
					return
				}
			}
			seen = append(seen, tu)
			out = t.addIntents(sel, out, tu.Request, speaker, only, t.levelBlock("turn", tu.Name, tu.Conditions, nil))
		}
		for _, tu := range p.scene.Turns {
			if tu.Behaviors.Has(dsl.Open) {
				add(tu)
			}
		}
		for _, tu := range p.sc.TurnsWithOrigin(p.intent.ID) {
			add(tu)
		}
	}
	return out
}

// enterScene adds the request intents of a scene's starting and open turns.
func (t *turn) enterScene(sel *Selection, out []pending, scene *dsl.Scene, speaker, only string, parent *block) []pending {
	b := t.levelBlock("scene", scene.Name, scene.Conditions, parent)
	for _, tu := range scene.Turns {
		if tu.Behaviors&startOrOpen != 0 {
			out = t.addIntents(sel, out, tu.Request, speaker, only, t.levelBlock("turn", tu.Name, tu.Conditions, b))
		}
	}
	return out
}

// interpretation is the best match of one candidate.
type interpretation struct {
	name  string
	asked bool
	ok    bool
	match plugins.Match
}

// interpreterFor is the interpreter asked about intent in for the turn's utterance.
func (t *turn) interpreterFor(in *dsl.Intent) string {
	switch t.u.Type {
	case plugins.ButtonResponse, plugins.ChatOpen, plugins.Trigger, plugins.FormResponse:
		return callbackInterpreter
	case plugins.LongTextResponse:
		if t.u.CallbackID != "" {
			return callbackInterpreter
		}
	}
	if in.Interpreter != "" {
		return in.Interpreter
	}
	return in.Turn.Scene.Conversation.Scenario.Interpreter
}

// selectUser selects the incoming intent: it interprets the utterance
// against the structural candidates, keeps those whose conditions pass (with
// their interpreted attributes visible) and ranks them. It returns the
// chosen intent and its interpreted attributes, converted to their declared types.
func (t *turn) selectUser() (*dsl.Intent, map[string]any) {
	sel := Selection{Speaker: SpeakerUser}
	pend := t.structural(SpeakerUser, "", &sel)
	defer func() { t.tr.Selections = append(t.tr.Selections, sel) }()
	if len(pend) == 0 {
		return nil, nil
	}
	res := t.interpret(pend)
	best, bestAttrs := -1, map[string]any(nil)
	for i, p := range pend {
		c := &sel.Candidates[p.ti]
		r := &res[i]
		c.Interpreter = r.name
		if !r.ok {
			c.Outcome, c.Reason = OutcomeRejected, "no interpretation"
			continue
		}
		c.Confidence, c.Attributes = r.match.Confidence, r.match.Attributes
		if r.match.Confidence < p.in.Confidence {
			c.Outcome = OutcomeRejected
			c.Reason = "confidence " + strconv.FormatFloat(r.match.Confidence, 'g', 3, 64) +
				" below the intent's minimum " + strconv.FormatFloat(p.in.Confidence, 'g', 3, 64)
			continue
		}
		attrs, err := t.convertAttrs(p.in, r.match.Attributes)
		if err != nil {
			c.Outcome, c.Reason = OutcomeRejected, "interpreted attribute "+err.Error()
			continue
		}
		if cond := t.failingWith(p.in, attrs); cond != nil {
			c.Outcome, c.Reason, c.Condition = OutcomeRejected, "condition false", cond
			continue
		}
		if best < 0 || better(r.match, len(attrs), res[best].match, len(bestAttrs)) {
			best, bestAttrs = i, attrs
		}
		c.Outcome = OutcomeOutranked
	}
	if best < 0 {
		return nil, nil
	}
	chosen := pend[best]
	for _, p := range pend {
		if c := &sel.Candidates[p.ti]; c.Outcome == OutcomeOutranked {
			c.Reason = "ranked below " + chosen.in.ID
		}
	}
	c := &sel.Candidates[chosen.ti]
	c.Outcome, c.Reason = OutcomeChosen, ""
	sel.Chosen = chosen.in.ID
	return chosen.in, bestAttrs
}

// better ranks interpretations: higher confidence, then more interpreted
// attributes; on a tie the earlier declaration (already best) stays.
func better(m plugins.Match, n int, best plugins.Match, bestN int) bool {
	if m.Confidence != best.Confidence {
		return m.Confidence > best.Confidence
	}
	return n > bestN
}

// interpret asks each interpreter once about the candidates it handles.
func (t *turn) interpret(pend []pending) []interpretation {
	res := t.interp[:0]
	for range pend {
		res = append(res, interpretation{})
	}
	t.interp = res
	for i, p := range pend {
		res[i].name = t.interpreterFor(p.in)
	}
	done := 0
	hints, idx := t.hints, t.idx
	defer func() { t.hints, t.idx = hints[:0], idx[:0] }()
	for done < len(pend) {
		name := ""
		hints, idx = hints[:0], idx[:0]
		for i := range pend {
			if res[i].asked {
				continue
			}
			if name == "" {
				name = res[i].name
			}
			if res[i].name == name {
				hints = append(hints, pend[i].in.Hints)
				idx = append(idx, i)
			}
		}
		for _, i := range idx {
			res[i].asked = true
		}
		done += len(idx)
		in, ok := t.e.env.Interpreter(name)
		if !ok {
			t.errorf("interpreter %q is not registered in the engine's environment", name)
			continue
		}
		for _, m := range in.Interpret(t.ctx, t.u, hints) {
			if m.Index < 0 || m.Index >= len(idx) {
				continue
			}
			r := &res[idx[m.Index]]
			if !r.ok || m.Confidence > r.match.Confidence {
				r.ok, r.match = true, m
			}
		}
	}
	return res
}

// convertAttrs converts interpreted attributes to the declared types of where they are stored.
func (t *turn) convertAttrs(in *dsl.Intent, attrs map[string]any) (map[string]any, error) {
	if len(attrs) == 0 {
		return nil, nil
	}
	sc := in.Turn.Scene.Conversation.Scenario
	out := make(map[string]any, len(attrs))
	for name, v := range attrs {
		target := attrTarget(in, name)
		typ, declared := declaredType(sc, target.Name)
		var err error
		if s, isString := v.(string); isString && declared && typ != dsl.TypeString {
			v, err = ParseValue(typ, true, s)
		} else {
			v, err = CheckValue(typ, declared, v)
		}
		if err != nil {
			return nil, fmt.Errorf("%s (stored in %s): %w", name, target, err)
		}
		out[name] = v
	}
	return out, nil
}

// envWith returns a copy of the turn's environment with the interpreted
// attributes of in stored where they would be if in were chosen.
func (t *turn) envWith(in *dsl.Intent, attrs map[string]any) map[string]any {
	for _, c := range in.Conditions {
		t.need(c.Prog.Names())
	}
	base := t.envMap()
	if len(attrs) == 0 {
		return base
	}
	env := maps.Clone(base)
	copied := map[string]bool{}
	for name, v := range attrs {
		p := attrTarget(in, name)
		m, _ := env[p.Context].(map[string]any)
		if !copied[p.Context] {
			m = maps.Clone(m)
			if m == nil {
				m = map[string]any{}
			}
			copied[p.Context] = true
			env[p.Context] = m
		}
		m[p.Name] = v
	}
	return env
}

// failingWith is failing for the conditions of a user intent, with its interpreted attributes visible.
func (t *turn) failingWith(in *dsl.Intent, attrs map[string]any) *ConditionTrace {
	if len(in.Conditions) == 0 {
		return nil
	}
	return t.failingIn(in.Conditions, t.envWith(in, attrs))
}

// failing returns the first of conds that is false or fails to evaluate, or
// nil when all pass. env, when not nil, is the environment to use.
func (t *turn) failing(conds []*dsl.Condition, env map[string]any) *ConditionTrace {
	if len(conds) == 0 {
		return nil
	}
	if env == nil {
		for _, c := range conds {
			t.need(c.Prog.Names())
		}
		env = t.envMap()
	}
	return t.failingIn(conds, env)
}

func (t *turn) failingIn(conds []*dsl.Condition, m map[string]any) *ConditionTrace {
	for _, c := range conds {
		ok, err := c.Prog.RunBool(m)
		if err != nil {
			return &ConditionTrace{Source: c.Source, Pos: c.Pos, Error: err.Error()}
		}
		if !ok {
			return &ConditionTrace{Source: c.Source, Pos: c.Pos}
		}
	}
	return nil
}

// selectApp selects the outgoing intent: the first app intent reachable
// from the current position whose conditions pass. When required is false,
// finding no candidate at all is not traced.
func (t *turn) selectApp(required bool) *dsl.Intent {
	sel := Selection{Speaker: SpeakerApp}
	chosen := t.firstPassing(&sel, t.structural(SpeakerApp, "", &sel))
	if !required && len(sel.Candidates) == 0 {
		return nil
	}
	if chosen == nil && required {
		t.errorf("no app intent to answer from %s", sel.From)
	}
	t.tr.Selections = append(t.tr.Selections, sel)
	return chosen
}

// selectVirtual selects the user intent named by a virtual intent: by id
// among the reachable intents (or, when none is reachable, anywhere in the
// scenario), the first whose conditions pass.
func (t *turn) selectVirtual(id string) *dsl.Intent {
	sel := Selection{Speaker: SpeakerUser}
	pend := t.structural(SpeakerUser, id, &sel)
	sel.From = "virtual intent " + id + " from " + sel.From
	if len(pend) == 0 && t.pos.sc != nil {
		sel.From = "virtual intent " + id + " anywhere in scenario " + t.pos.sc.Name
		pend = t.addIntents(&sel, nil, t.pos.sc.Intents(id), SpeakerUser, id, nil)
	}
	chosen := t.firstPassing(&sel, pend)
	t.tr.Selections = append(t.tr.Selections, sel)
	return chosen
}

// firstPassing chooses the first of the pending candidates whose conditions
// pass, marking the others rejected or not reached.
func (t *turn) firstPassing(sel *Selection, pend []pending) *dsl.Intent {
	var chosen *dsl.Intent
	for _, p := range pend {
		c := &sel.Candidates[p.ti]
		if chosen != nil {
			c.Outcome = OutcomeNotReached
			continue
		}
		if cond := t.failing(p.in.Conditions, nil); cond != nil {
			c.Outcome, c.Reason, c.Condition = OutcomeRejected, "condition false", cond
			continue
		}
		c.Outcome, chosen = OutcomeChosen, p.in
		sel.Chosen = p.in.ID
	}
	return chosen
}

// noMatch escalates an utterance nothing matched: TurnNoMatch declared where
// the utterance could have matched (the open turns of the scene and the turns
// valid after the last intent, as core's IncomingIntentMatcher looks it up,
// and the current turn), SceneNoMatch in the current scene,
// ConversationNoMatch in the current conversation, NoMatch in the current
// scenario (or, outside a conversation, in any active scenario). The first
// whose conditions pass is the incoming intent.
func (t *turn) noMatch() *dsl.Intent {
	p := t.pos
	if p.conv != nil && p.phase != store.PhaseRequest {
		sel := Selection{Speaker: SpeakerUser}
		pend := t.structural(SpeakerUser, dsl.IntentTurnNoMatch, &sel)
		sel.From = "no match: " + dsl.IntentTurnNoMatch + " in " + sel.From
		if len(pend) > 0 {
			chosen := t.firstPassing(&sel, pend)
			t.tr.Selections = append(t.tr.Selections, sel)
			if chosen != nil {
				return chosen
			}
		}
	}
	levels := []struct {
		id    string
		scope func(*dsl.Intent) bool
		ok    bool
	}{
		{dsl.IntentTurnNoMatch, func(in *dsl.Intent) bool { return in.Turn == p.turn }, p.turn != nil},
		{dsl.IntentSceneNoMatch, func(in *dsl.Intent) bool { return in.Turn.Scene == p.scene }, p.scene != nil},
		{dsl.IntentConversationNoMatch, func(in *dsl.Intent) bool { return in.Turn.Scene.Conversation == p.conv }, p.conv != nil},
		{dsl.IntentNoMatch, func(*dsl.Intent) bool { return true }, true},
	}
	for _, l := range levels {
		if !l.ok {
			continue
		}
		sel := Selection{Speaker: SpeakerUser, From: "no match: " + l.id}
		var pend []pending
		for _, sc := range t.cfg.Scenarios {
			if !sc.Active || (p.sc != nil && sc != p.sc) {
				continue
			}
			for _, in := range sc.Intents(l.id) {
				if in.Speaker == SpeakerUser && l.scope(in) {
					pend = t.addIntents(&sel, pend, []*dsl.Intent{in}, SpeakerUser, "", nil)
				}
			}
		}
		if len(pend) == 0 {
			continue
		}
		chosen := t.firstPassing(&sel, pend)
		t.tr.Selections = append(t.tr.Selections, sel)
		if chosen != nil {
			return chosen
		}
	}
	return nil
}
