package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"sync"
	"time"

	"github.com/parleyhq/parley/dsl"
	"github.com/parleyhq/parley/expression"
	"github.com/parleyhq/parley/plugins"
	"github.com/parleyhq/parley/plugins/store"
)

// position is a user's place in the configuration, resolved to compiled values.
type position struct {
	sc     *dsl.Scenario
	conv   *dsl.Conversation
	scene  *dsl.Scene
	turn   *dsl.Turn
	intent *dsl.Intent // the last intent; nil when entering or not in a conversation
	phase  store.Phase
}

// turn is the work of one Handle call. It belongs to one goroutine.
type turn struct {
	ctx    context.Context
	e      *Engine
	cfg    *dsl.Config
	userID string
	u      plugins.Utterance
	start  time.Time

	st           store.State
	userOwned    bool // st.User is a copy this turn may change
	sessionOwned bool
	pos          position

	env       map[string]any // the expression environment, built on first use
	convDirty bool           // the conversation context is out of date
	convReady bool           // env holds the conversation context (need)
	uttReady  bool           // env holds the utterance context (need)

	completing bool // a recorded intent completes the conversation at the end of its step
	tr         *Trace
	reply      *Reply

	// Buffers reused by the next turn that takes this one from the pool.
	envBuf, convBuf, uttBuf map[string]any
	interp                  []interpretation
	hints                   []*plugins.Hints
	idx                     []int
	pend                    []pending // see addIntents

	cands []Candidate // unused room for candidates in the reply's allocation
}

// turnPool recycles the scratch state of turns; replies and traces are never recycled.
var turnPool = sync.Pool{New: func() any { return new(turn) }}

// replyAndTrace allocates a reply and its trace together, with room for
// what a typical turn records: a message, two selections among three
// candidates, and an action.
type replyAndTrace struct {
	reply Reply
	trace Trace
	msgs  [1]Message
	sels  [2]Selection
	cands [3]Candidate
	acts  [1]ActionTrace
}

func newTurn(ctx context.Context, e *Engine, cfg *dsl.Config, userID string, u plugins.Utterance, st store.State) *turn {
	now := e.now()
	t := turnPool.Get().(*turn)
	env, conv, utt, interp, hints, idx, pend := t.envBuf, t.convBuf, t.uttBuf, t.interp[:0], t.hints[:0], t.idx[:0], t.pend[:0]
	*t = turn{ctx: ctx, e: e, cfg: cfg, userID: userID, u: u, start: now, st: st, convDirty: true,
		envBuf: env, convBuf: conv, uttBuf: utt, interp: interp, hints: hints, idx: idx, pend: pend}
	rt := &replyAndTrace{}
	t.tr = &rt.trace
	*t.tr = Trace{UserID: userID, ConfigVersion: cfg.Version, Time: now, Utterance: traceUtterance(u), Selections: rt.sels[:0], Actions: rt.acts[:0]}
	t.cands = rt.cands[:]
	t.reply = &rt.reply
	*t.reply = Reply{Messages: rt.msgs[:0], Trace: t.tr}
	t.tr.Start = t.position()
	return t
}

// release returns the turn to the pool, dropping its references to user
// data. The conversation buffer keeps its position names (identifiers from
// the configuration), so that the next turn re-boxes only those that differ.
func (t *turn) release() {
	clear(t.envBuf) // clear keeps a map's memory for the next turn
	clear(t.uttBuf)
	clear(t.hints[:cap(t.hints)])
	clear(t.interp[:cap(t.interp)])
	clear(t.pend[:cap(t.pend)])
	*t = turn{envBuf: t.envBuf, convBuf: t.convBuf, uttBuf: t.uttBuf, interp: t.interp[:0], hints: t.hints[:0], idx: t.idx[:0], pend: t.pend[:0]}
	turnPool.Put(t)
}

// position returns the user's position as traced.
func (t *turn) position() Position {
	return Position{Scenario: t.st.Scenario, Conversation: t.st.Conversation, Scene: t.st.Scene,
		Turn: t.st.Turn, Intent: t.st.Intent, Phase: string(t.st.Phase)}
}

func (t *turn) event(format string, args ...any) {
	t.tr.Events = append(t.tr.Events, fmt.Sprintf(format, args...))
}

func (t *turn) errorf(format string, args ...any) {
	t.tr.Errors = append(t.tr.Errors, fmt.Sprintf(format, args...))
}

// finish records the end of the turn in the state and the trace.
func (t *turn) finish() {
	t.st.Updated = t.start
	t.tr.End = t.position()
	t.tr.Duration = t.e.now().Sub(t.start)
}

// historyEntry records the turn for the user's history: the utterance, the
// intents chosen, the messages and the configuration version.
func (t *turn) historyEntry() (*store.HistoryEntry, error) {
	utt, err := json.Marshal(t.tr.Utterance)
	if err != nil {
		return nil, err
	}
	msgs := t.reply.Messages
	if msgs == nil {
		msgs = []Message{}
	}
	out, err := appendMessagesJSON(make([]byte, 0, 128*len(msgs)+2), msgs)
	if err != nil {
		return nil, err
	}
	var intents []string
	for _, sel := range t.tr.Selections {
		if sel.Chosen != "" {
			intents = append(intents, sel.Chosen)
		}
	}
	return &store.HistoryEntry{Time: t.start, ConfigVersion: t.tr.ConfigVersion,
		Utterance: utt, Intents: intents, Messages: out}, nil
}

// run selects and runs the intents of the turn.
func (t *turn) run() {
	if t.e.sessionTimeout > 0 && t.st.Conversation != "" && !t.st.Updated.IsZero() &&
		t.start.Sub(t.st.Updated) > t.e.sessionTimeout {
		t.endConversation("session timed out after %s of silence", t.start.Sub(t.st.Updated).Round(time.Second))
	}
	t.resolve()
	t.mapCallback()

	restart := t.u.CallbackID == dsl.IntentRestart
	if restart {
		t.endConversation("restart requested")
	}
	in, attrs := t.selectUser()
	if in == nil && restart {
		// No scenario declares a restart intent at its start: restart as a chat opening.
		t.u.Type, t.u.CallbackID = plugins.ChatOpen, ""
		t.event("restarting with %s", dsl.IntentWelcome)
		in, attrs = t.selectUser()
	}
	if in == nil && (t.u.Type == plugins.ChatOpen || t.u.CallbackID == dsl.IntentWelcome) && t.pos.conv != nil {
		// A chat opened again mid-conversation starts afresh.
		t.endConversation("chat opened again: starting afresh")
		in, attrs = t.selectUser()
	}
	if in == nil && t.u.CallbackID == dsl.IntentEndChat {
		t.endConversation("chat ended")
		return
	}
	if in == nil {
		in = t.noMatch()
	}
	if in == nil && t.u.Type == plugins.ChatOpen {
		t.event("chat opened but no reachable intent answers %s and no no-match intent is declared: no reply", dsl.IntentWelcome)
		return
	}
	if in == nil {
		t.tr.Events = append(t.tr.Events, "nothing matched and no no-match intent is declared: default reply")
		t.reply.Messages = append(t.reply.Messages, Message{Intent: dsl.IntentNoMatch, Text: t.e.noMatchText})
		return
	}
	for chain := 0; ; {
		t.record(in, attrs)
		out := t.selectApp(true)
		if out == nil {
			if t.completing {
				t.endConversation("conversation completed by %s", in.ID)
			}
			return
		}
		for {
			t.record(out, nil)
			t.say(out)
			chain++
			if t.completing {
				t.endConversation("conversation completed by %s", out.ID)
			}
			// An app intent that transitions into a turn the app opens goes on talking.
			if out.Virtual != "" || t.pos.phase != store.PhaseEnter || chain >= t.e.maxChain {
				break
			}
			next := t.selectApp(false)
			if next == nil {
				break
			}
			out = next
		}
		if out.Virtual == "" {
			if chain >= t.e.maxChain && t.pos.phase == store.PhaseEnter {
				t.errorf("stopped after %d app intents in one turn", t.e.maxChain)
			}
			return
		}
		if chain >= t.e.maxChain {
			t.errorf("stopped after %d app intents in one turn (last: %s -> virtual %s)", t.e.maxChain, out.ID, out.Virtual)
			return
		}
		if in = t.selectVirtual(out.Virtual); in == nil {
			t.errorf("virtual intent %s of %s: no such user intent is reachable here with its conditions true", out.Virtual, out.ID)
			return
		}
		attrs = nil
	}
}

// mapCallback maps the utterance's callback id to the intent it means, by
// the callbacks of the user's scenario (or, outside a conversation, of the
// first active scenario that maps it), as OpenDialog's CallbackInterpreter
// maps its supported_callbacks; an unmapped callback id is the intent id.
func (t *turn) mapCallback() {
	id := t.u.CallbackID
	if id == "" {
		return
	}
	if sc := t.pos.sc; sc != nil {
		if to, ok := sc.Callbacks[id]; ok && to != id {
			t.event("callback %s means %s", id, to)
			t.u.CallbackID = to
		}
		return
	}
	for _, sc := range t.cfg.Scenarios {
		if to, ok := sc.Callbacks[id]; ok && sc.Active {
			if to != id {
				t.event("callback %s means %s", id, to)
				t.u.CallbackID = to
			}
			return
		}
	}
}

// resolve finds the stored position in the configuration. A position that no
// longer exists (after a reload) continues from the start of its
// conversation, or afresh.
func (t *turn) resolve() {
	st := &t.st
	t.pos = position{}
	if st.Conversation == "" {
		return
	}
	sc := t.cfg.Scenario(st.Scenario)
	if sc == nil || !sc.Active {
		t.endConversation("scenario %q is no longer active: starting afresh", st.Scenario)
		return
	}
	conv := sc.Conversation(st.Conversation)
	if conv == nil {
		t.endConversation("conversation %q no longer exists: starting afresh", st.Conversation)
		return
	}
	t.pos = position{sc: sc, conv: conv, phase: store.PhaseEnter}
	restart := func(what string) {
		t.event("%s no longer exists: continuing from the start of conversation %s", what, conv.Name)
		t.pos = position{sc: sc, conv: conv, phase: store.PhaseEnter}
		st.Scene, st.Turn = "", ""
		st.Phase = store.PhaseEnter
	}
	if st.Scene != "" {
		if t.pos.scene = conv.Scene(st.Scene); t.pos.scene == nil {
			restart(fmt.Sprintf("scene %q", st.Scene))
			return
		}
	}
	if st.Turn != "" {
		if t.pos.scene == nil {
			restart(fmt.Sprintf("turn %q", st.Turn))
			return
		}
		if t.pos.turn = t.pos.scene.Turn(st.Turn); t.pos.turn == nil {
			restart(fmt.Sprintf("turn %q", st.Turn))
			return
		}
	}
	switch st.Phase {
	case store.PhaseEnter:
		return
	case store.PhaseRequest, store.PhaseResponse:
		if t.pos.turn == nil {
			restart("the current turn")
			return
		}
		list := t.pos.turn.Request
		if st.Phase == store.PhaseResponse {
			list = t.pos.turn.Response
		}
		for _, in := range list {
			if in.ID == st.Intent {
				t.pos.intent, t.pos.phase = in, st.Phase
				return
			}
		}
		restart(fmt.Sprintf("intent %q in turn %s", st.Intent, t.pos.turn.Name))
	default:
		restart(fmt.Sprintf("phase %q", st.Phase))
	}
}

// setPos moves the user and records the move in the state.
func (t *turn) setPos(p position) {
	t.pos = p
	st := &t.st
	st.Scenario, st.Conversation, st.Scene, st.Turn = "", "", "", ""
	if p.sc != nil {
		st.Scenario = p.sc.Name
	}
	if p.conv != nil {
		st.Conversation = p.conv.Name
	}
	if p.scene != nil {
		st.Scene = p.scene.Name
	}
	if p.turn != nil {
		st.Turn = p.turn.Name
	}
	if p.intent != nil {
		st.Intent = p.intent.ID
	}
	st.Phase = p.phase
	t.convDirty = true
}

// endConversation leaves the conversation and clears the session context.
func (t *turn) endConversation(format string, args ...any) {
	t.event(format, args...)
	t.pos = position{}
	t.st.Scenario, t.st.Conversation, t.st.Scene, t.st.Turn, t.st.Phase = "", "", "", "", store.PhaseNone
	t.st.Session, t.sessionOwned = nil, false
	if t.env != nil {
		t.env[ContextSession] = map[string]any(nil)
	}
	t.convDirty = true
	t.completing = false
}

// record makes in the current intent: moves the user to its turn, stores its
// interpreted attributes, runs its actions and follows its transition.
func (t *turn) record(in *dsl.Intent, attrs map[string]any) {
	turn := in.Turn
	phase := store.PhaseRequest
	if in.Role == dsl.Response {
		phase = store.PhaseResponse
	}
	t.setPos(position{sc: turn.Scene.Conversation.Scenario, conv: turn.Scene.Conversation, scene: turn.Scene,
		turn: turn, intent: in, phase: phase})
	for name, v := range attrs {
		t.set(attrTarget(in, name), v)
	}
	if in.Completing || in.ID == dsl.IntentEndChat || (in.Role == dsl.Response && turn.Behaviors.Has(dsl.Completing)) {
		t.completing = true
	}
	for _, call := range in.Actions {
		t.runAction(in, call)
	}
	if tr := in.Transition; tr != nil {
		t.transition(in, tr)
	}
}

// attrTarget is where an interpreted attribute is stored: as expected_attributes says, else session.NAME.
func attrTarget(in *dsl.Intent, name string) dsl.Path {
	if p, ok := in.ExpectedAttributes[name]; ok {
		return p
	}
	return dsl.Path{Context: ContextSession, Name: name}
}

// transition moves the user to the most specific target named: a turn, a
// scene or a conversation, to be entered by the next intent.
func (t *turn) transition(in *dsl.Intent, tr *dsl.Transition) {
	p := position{sc: t.pos.sc, intent: in, phase: store.PhaseEnter}
	switch {
	case tr.Turn != nil:
		p.turn, p.scene, p.conv = tr.Turn, tr.Turn.Scene, tr.Turn.Scene.Conversation
		t.event("transition by %s to turn %s of scene %s", in.ID, tr.Turn.Name, tr.Turn.Scene.Name)
	case tr.Scene != nil:
		p.scene, p.conv = tr.Scene, tr.Scene.Conversation
		t.event("transition by %s to scene %s of conversation %s", in.ID, tr.Scene.Name, tr.Scene.Conversation.Name)
	case tr.Conversation != nil:
		p.conv = tr.Conversation
		t.event("transition by %s to conversation %s", in.ID, tr.Conversation.Name)
	default:
		return
	}
	t.setPos(p)
}

// say renders the message of an app intent.
func (t *turn) say(in *dsl.Intent) {
	if in.Message == nil {
		return
	}
	t.reply.Messages = append(t.reply.Messages, t.renderMessage(in, in.Message))
}

// renderMessage renders a message of in (or one item of a list message).
func (t *turn) renderMessage(in *dsl.Intent, m *dsl.Message) Message {
	msg := Message{Intent: in.ID, External: m.External, KeepButtons: m.KeepButtons,
		DisableText: m.DisableText, HideAvatar: m.HideAvatar}
	if m.Type != dsl.MessageText && m.Type != dsl.MessageButton {
		msg.Type = m.Type
	}
	if m.Text != nil {
		msg.Text = t.render(in, m.Text)
	}
	if len(m.Buttons) > 0 {
		msg.Buttons = make([]Button, len(m.Buttons))
		for i, b := range m.Buttons {
			msg.Buttons[i] = Button{Callback: b.Callback, Value: b.Value, Link: b.Link, LinkNewTab: b.LinkNewTab,
				Download: b.Download, Hidden: b.Hidden, Type: b.Type}
			if b.Text != nil {
				msg.Buttons[i].Text = t.render(in, b.Text)
			}
		}
	}
	if m.Title != nil {
		msg.Title = t.render(in, m.Title)
	}
	if m.Subtitle != nil {
		msg.Subtitle = t.render(in, m.Subtitle)
	}
	msg.Callback, msg.CallbackValue, msg.Link, msg.Image, msg.ViewType = m.Callback, m.CallbackValue, m.Link, m.Image, m.ViewType
	msg.Form, msg.LongText = m.Form, m.LongText
	if len(m.Items) > 0 {
		msg.Items = make([]Message, len(m.Items))
		for i, it := range m.Items {
			msg.Items[i] = t.renderMessage(in, it)
			msg.Items[i].Intent = ""
		}
	}
	return msg
}

func (t *turn) render(in *dsl.Intent, tpl *expression.Template) string {
	var env map[string]any
	if expression.IsTemplate(tpl.Source) {
		env = t.envFor(tpl.Names())
	}
	s, err := tpl.Render(env)
	if err != nil {
		t.errorf("message of %s: %v (rendered as empty text)", in.ID, err)
	}
	return s
}

// envMap returns the expression environment of the turn, up to date, with
// the user, session and global contexts. The utterance and conversation
// contexts are added by need, for the expressions that read them.
func (t *turn) envMap() map[string]any {
	if t.env == nil {
		if t.envBuf == nil {
			t.envBuf = make(map[string]any, 6)
			t.convBuf = make(map[string]any, 5)
			t.uttBuf = make(map[string]any, 5)
		}
		t.env = t.envBuf
		t.env[ContextUser] = t.st.User
		t.env[ContextSession] = t.st.Session
		t.env[ContextGlobal] = t.cfg.Global
	}
	if t.convDirty && t.convReady {
		refreshConversation(t.st, t.convBuf)
		t.convDirty = false
	}
	return t.env
}

// envFor is envMap with what the names of an expression (Program.Names) need.
func (t *turn) envFor(names []string) map[string]any {
	t.need(names)
	return t.envMap()
}

// need adds to the environment the utterance and conversation contexts
// when names reads them (building them costs a turn that reads neither).
func (t *turn) need(names []string) {
	for _, n := range names {
		switch n {
		case ContextUtterance:
			t.needUtterance()
		case ContextConversation:
			t.needConversation()
		case "$env":
			t.needUtterance()
			t.needConversation()
		}
	}
}

func (t *turn) needUtterance() {
	if t.uttReady {
		return
	}
	env := t.envMap()
	u := t.uttBuf
	u["text"], u["type"], u["callback_id"], u["value"], u["platform"] = t.u.Text, utteranceType(t.u.Type), t.u.CallbackID, t.u.Value, t.u.Platform
	env[ContextUtterance] = u
	t.uttReady = true
}

func (t *turn) needConversation() {
	if t.convReady {
		return
	}
	env := t.envMap()
	t.convReady = true
	refreshConversation(t.st, t.convBuf)
	t.convDirty = false
	env[ContextConversation] = t.convBuf
}

// refreshConversation is conversationMap into the turn's buffer, boxing
// (so allocating) only the names that changed since it was last filled.
func refreshConversation(st store.State, m map[string]any) {
	setName(m, "current_scenario", st.Scenario)
	setName(m, "current_conversation", st.Conversation)
	setName(m, "current_scene", st.Scene)
	setName(m, "current_turn", st.Turn)
	setName(m, "current_intent", st.Intent)
}

func setName(m map[string]any, key, name string) {
	if old, ok := m[key].(string); !ok || old != name {
		m[key] = name
	}
}

// utteranceType boxes the known utterance types without allocating.
func utteranceType(s string) any {
	switch s {
	case plugins.Text:
		return plugins.Text
	case plugins.ButtonResponse:
		return plugins.ButtonResponse
	case plugins.ChatOpen:
		return plugins.ChatOpen
	case plugins.Trigger:
		return plugins.Trigger
	case plugins.FormResponse:
		return plugins.FormResponse
	case plugins.LongTextResponse:
		return plugins.LongTextResponse
	}
	return s
}

// get reads a context attribute.
func (t *turn) get(p dsl.Path) any {
	switch p.Context {
	case ContextUser:
		return t.st.User[p.Name]
	case ContextSession:
		return t.st.Session[p.Name]
	}
	return nil
}

// set writes a checked value (nil unsets), copying the context map on its first change in the turn.
func (t *turn) set(p dsl.Path, v any) {
	var m *map[string]any
	var owned *bool
	switch p.Context {
	case ContextUser:
		m, owned = &t.st.User, &t.userOwned
	case ContextSession:
		m, owned = &t.st.Session, &t.sessionOwned
	default:
		return
	}
	if !*owned {
		c := make(map[string]any, len(*m)+2)
		maps.Copy(c, *m)
		*m, *owned = c, true
		if t.env != nil {
			t.env[p.Context] = c
		}
	}
	if v == nil {
		delete(*m, p.Name)
	} else {
		(*m)[p.Name] = v
	}
}

// check checks a value for the attribute p in the current scenario.
func (t *turn) check(sc *dsl.Scenario, p dsl.Path, v any) (any, error) {
	typ, declared := declaredType(sc, p.Name)
	out, err := CheckValue(typ, declared, v)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", p, err)
	}
	return out, nil
}
