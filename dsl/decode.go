package dsl

import (
	"errors"
	"fmt"
	"maps"
	"regexp"
	"regexp/syntax"
	"slices"
	"sort"
	"strings"

	"cuelang.org/go/cue"
	"github.com/expr-lang/expr/types"

	"github.com/parleyhq/parley/diag"
	"github.com/parleyhq/parley/expression"
	"github.com/parleyhq/parley/plugins"
)

// decode builds the compiled configuration from the validated value.
func (l *loader) decode() *Config {
	root := node{l: l, t: l.tree}
	if root.t == nil {
		root.t = extract(l.userValue(), nil, cue.Selector{})
	}
	cfg := &Config{scenarioByName: map[string]*Scenario{}}
	cfg.Global = map[string]any{}
	if g, ok := root.field("global").json(); ok {
		if m, ok := g.(map[string]any); ok {
			cfg.Global = m
		}
	}
	globalT := types.Map{}
	for k, v := range cfg.Global {
		globalT[k] = typeOfValue(v)
	}
	root.field("scenarios").fields(func(name string, n node) {
		s := l.scenario(name, n, globalT)
		cfg.Scenarios = append(cfg.Scenarios, s)
		cfg.scenarioByName[name] = s
	})
	sort.Slice(cfg.Scenarios, func(i, j int) bool { return cfg.Scenarios[i].Name < cfg.Scenarios[j].Name })
	return cfg
}

func typeOfValue(v any) types.Type {
	switch v.(type) {
	case string:
		return types.String
	case int:
		return types.Int
	case float64:
		return types.Float64
	case bool:
		return types.Bool
	}
	return types.Any
}

// exprType is the expression type of a declared attribute type.
func exprType(t AttrType) types.Type {
	switch t {
	case TypeString:
		return types.String
	case TypeInt:
		return types.Int
	case TypeFloat:
		return types.Float64
	case TypeBool:
		return types.Bool
	case TypeList:
		return types.Array(types.Any)
	}
	return types.Any
}

// envs are the typed expression environments of one scenario.
type envs struct {
	base typedEnv
}

// typedEnv is an expression environment and a key that identifies its
// content, so that an expression compiled against equal environments is
// compiled once per load (compiled programs are immutable and shareable).
type typedEnv struct {
	env expression.Env
	key string
}

// envKey describes the declared attributes and global values that type an environment.
func envKey(attrs map[string]AttrType, globalT types.Map) string {
	parts := make([]string, 0, len(attrs)+len(globalT)+1)
	for name, t := range attrs {
		parts = append(parts, name+":"+string(t))
	}
	for name, t := range globalT {
		parts = append(parts, "global."+name+":"+fmt.Sprint(t))
	}
	sort.Strings(parts)
	return strings.Join(parts, ",")
}

func newEnvs(attrs map[string]AttrType, globalT types.Map, key string) envs {
	user := types.Map{types.Extra: types.Any, "action_status": types.Bool}
	session := types.Map{types.Extra: types.Any}
	for name, t := range attrs {
		user[name] = exprType(t)
		session[name] = exprType(t)
	}
	conv := types.Map{}
	for _, k := range ConversationKeys {
		conv[k] = types.String
	}
	utt := types.Map{}
	for _, k := range UtteranceKeys {
		utt[k] = types.String
	}
	return envs{base: typedEnv{key: key, env: expression.Env{
		"user": user, "session": session, "conversation": conv, "global": globalT, "utterance": utt,
	}}}
}

// with returns the base environment plus one more variable; sig describes t.
func (e envs) with(name string, t types.Type, sig string) typedEnv {
	m := make(expression.Env, len(e.base.env)+1)
	for k, v := range e.base.env {
		m[k] = v
	}
	m[name] = t
	return typedEnv{env: m, key: e.base.key + "|" + name + ":" + sig}
}

// ConversationKeys are the attributes of the read-only conversation context.
var ConversationKeys = []string{"current_scenario", "current_conversation", "current_scene", "current_turn", "current_intent"}

// UtteranceKeys are the attributes of the utterance context.
var UtteranceKeys = []string{"text", "type", "callback_id", "value", "platform"}

// WritableContexts are the contexts that mappings and attributes may write.
var WritableContexts = map[string]bool{"user": true, "session": true}

func (l *loader) scenario(name string, n node, globalT types.Map) *Scenario {
	s := &Scenario{
		Name:               name,
		Active:             n.field("active").boolean(true),
		Attributes:         map[string]AttrType{},
		Actions:            map[string]*Action{},
		conversationByName: map[string]*Conversation{},
		intentsByID:        map[string][]*Intent{},
		turnsByOrigin:      map[string][]*Turn{},
	}
	s.Description, _ = n.field("description").str()
	s.Interpreter, _ = n.field("interpreter").str()
	if s.Interpreter == "" {
		s.Interpreter = "text"
	}
	l.checkInterpreter(s.Interpreter, n.field("interpreter"))
	n.field("attributes").fields(func(attr string, a node) {
		if t, ok := a.str(); ok {
			s.Attributes[attr] = AttrType(t)
		}
	})
	s.Callbacks = maps.Clone(DefaultCallbacks)
	n.field("callbacks").fields(func(id string, c node) {
		if in, ok := c.str(); ok {
			s.Callbacks[id] = in
		}
	})
	if ca := n.field("client_attributes"); ca.exists() {
		s.ClientAttributes, _ = ca.strs()
		if s.ClientAttributes == nil {
			s.ClientAttributes = []string{}
		}
	}
	env := newEnvs(s.Attributes, globalT, envKey(s.Attributes, globalT))
	s.Conditions = l.conditions(n.field("conditions"), env.base)
	n.field("actions").fields(func(an string, a node) {
		if act := l.action(name, an, a); act != nil {
			s.Actions[an] = act
		}
	})
	// First pass: structure and intents; references are resolved once every intent is known.
	var pending []func()
	n.field("conversations").fields(func(cn string, c node) {
		conv := &Conversation{Name: cn, Scenario: s, sceneByName: map[string]*Scene{}}
		conv.Description, _ = c.field("description").str()
		conv.Behaviors = behaviors(c.field("behaviors"))
		conv.Conditions = l.conditions(c.field("conditions"), env.base)
		s.Conversations = append(s.Conversations, conv)
		s.conversationByName[cn] = conv
		c.field("scenes").fields(func(sn string, sc node) {
			scene := &Scene{Name: sn, Conversation: conv, turnByName: map[string]*Turn{}}
			scene.Description, _ = sc.field("description").str()
			scene.Behaviors = behaviors(sc.field("behaviors"))
			scene.Conditions = l.conditions(sc.field("conditions"), env.base)
			conv.Scenes = append(conv.Scenes, scene)
			conv.sceneByName[sn] = scene
			sc.field("turns").fields(func(tn string, t node) {
				turn := &Turn{Name: tn, Scene: scene, Pos: t.posString()}
				turn.Description, _ = t.field("description").str()
				turn.Behaviors = behaviors(t.field("behaviors"))
				turn.Conditions = l.conditions(t.field("conditions"), env.base)
				scene.Turns = append(scene.Turns, turn)
				scene.turnByName[tn] = turn
				origins, originNodes := t.field("valid_origins").strs()
				turn.ValidOrigins = origins
				for _, on := range originNodes {
					turn.OriginPos = append(turn.OriginPos, on.posString())
				}
				for i, o := range origins {
					s.turnsByOrigin[o] = append(s.turnsByOrigin[o], turn)
					on := originNodes[i]
					pending = append(pending, func() { l.checkIntentRef(s, o, on, "valid_origins") })
				}
				for _, role := range []Role{Request, Response} {
					field := "request"
					if role == Response {
						field = "response"
					}
					t.field(field).each(func(_ int, in node) {
						intent, refs := l.intent(s, turn, role, in, env)
						if intent == nil {
							return
						}
						s.intentsByID[intent.ID] = append(s.intentsByID[intent.ID], intent)
						if role == Request {
							turn.Request = append(turn.Request, intent)
						} else {
							turn.Response = append(turn.Response, intent)
						}
						pending = append(pending, refs)
					})
				}
			})
		})
	})
	for _, p := range pending {
		p()
	}
	l.checkDuplicates(s, n)
	return s
}

// checkDuplicates reports intent ids declared more than once in a scenario.
// Reserved intent.core.* ids may be declared in several turns (a per-turn no-match, say).
func (l *loader) checkDuplicates(s *Scenario, n node) {
	ids := slices.Sorted(maps.Keys(s.intentsByID))
	for _, id := range ids {
		list := s.intentsByID[id]
		if len(list) < 2 || strings.HasPrefix(id, "intent.core.") {
			continue
		}
		first := list[0]
		for _, dup := range list[1:] {
			l.diagAt(dup.Pos, diag.CodeDuplicateIntent, "intent %q is declared twice in scenario %q (first at %s)", id, s.Name, first.Pos)
		}
	}
}

func (l *loader) diagAt(pos string, code, format string, args ...any) {
	d := diag.Diagnostic{Code: code, Message: fmt.Sprintf(format, args...)}
	// pos is file:line:col as produced by node.posString.
	if i := strings.LastIndexByte(pos, ':'); i > 0 {
		if j := strings.LastIndexByte(pos[:i], ':'); j > 0 {
			d.File = pos[:j]
			fmt.Sscanf(pos[j+1:], "%d:%d", &d.Line, &d.Col)
		}
	}
	l.diags = append(l.diags, d)
}

func (l *loader) checkIntentRef(s *Scenario, id string, n node, what string) {
	if len(s.intentsByID[id]) == 0 {
		l.errorf(n.pos(), diag.CodeUnknownIntent, "%s names intent %q, which scenario %q does not declare", what, id, s.Name)
	}
}

func (l *loader) checkInterpreter(name string, n node) {
	if _, ok := l.env.Interpreter(name); !ok {
		l.errorf(n.pos(), diag.CodeUnknownPlugin, "interpreter %q is not registered (registered: %s)", name, strings.Join(l.env.InterpreterNames(), ", "))
	}
}

func behaviors(n node) Behaviors {
	var b Behaviors
	list, _ := n.strs()
	for _, s := range list {
		switch s {
		case "starting":
			b |= Starting
		case "open":
			b |= Open
		case "completing":
			b |= Completing
		}
	}
	return b
}

// conditions compiles a list of boolean expressions.
func (l *loader) conditions(n node, env typedEnv) []*Condition {
	var out []*Condition
	srcs, nodes := n.strs()
	for i, src := range srcs {
		if p := l.compile(nodes[i], src, env, expression.Bool); p != nil {
			out = append(out, &Condition{Source: src, Pos: nodes[i].posString(), Prog: p})
		}
	}
	return out
}

// compiled is a memoised compilation.
type compiled struct {
	prog *expression.Program
	err  error
}

// compiledTemplate is a memoised template.
type compiledTemplate struct {
	t    *expression.Template
	errs []*expression.Error
}

// compile compiles one expression, reporting an error at its position inside the file.
func (l *loader) compile(n node, src string, env typedEnv, kind expression.Kind) *expression.Program {
	key := fmt.Sprintf("%s\x00%d\x00%s", env.key, kind, src)
	c, ok := l.programs[key]
	if !ok {
		c.prog, c.err = expression.Compile(src, env.env, kind)
		if l.programs == nil {
			l.programs = map[string]compiled{}
		}
		l.programs[key] = c
	}
	if c.err != nil {
		l.exprError(n, c.err)
		return nil
	}
	return c.prog
}

func (l *loader) exprError(n node, err error) {
	var ee *expression.Error
	if errors.As(err, &ee) {
		p := n.innerPos(ee.Offset)
		l.diags = append(l.diags, diag.Diagnostic{File: p.Filename, Line: p.Line, Col: p.Column, Code: ee.Code, Message: ee.Message})
		return
	}
	l.errorf(n.pos(), diag.CodeExprSyntax, "%v", err)
}

func (l *loader) template(n node, env typedEnv) *expression.Template {
	src, ok := n.str()
	if !ok {
		return nil
	}
	key := env.key + "\x00" + src
	c, ok := l.templates[key]
	if !ok {
		c.t, c.errs = expression.ParseTemplate(src, env.env)
		if l.templates == nil {
			l.templates = map[string]compiledTemplate{}
		}
		l.templates[key] = c
	}
	for _, e := range c.errs {
		l.exprError(n, e)
	}
	return c.t
}

// intent decodes and compiles one intent. It returns a function that checks
// its references once every intent of the scenario is known.
func (l *loader) intent(s *Scenario, turn *Turn, role Role, n node, env envs) (*Intent, func()) {
	id, ok := n.field("id").str()
	if !ok {
		return nil, nil
	}
	in := &Intent{ID: id, Turn: turn, Role: role, Pos: n.posString(), Hints: &plugins.Hints{IntentID: id}}
	in.Speaker, _ = n.field("speaker").str()
	if in.Speaker == "" {
		in.Speaker = "user"
		if role == Response {
			in.Speaker = "app"
		}
	}
	in.Description, _ = n.field("description").str()
	in.Completing = behaviors(n.field("behaviors")).Has(Completing)
	in.Confidence, _ = n.field("confidence").float()
	in.Virtual, _ = n.field("virtual").str()
	if in.Interpreter, ok = n.field("interpreter").str(); ok {
		l.checkInterpreter(in.Interpreter, n.field("interpreter"))
	}
	in.Conditions = l.conditions(n.field("conditions"), env.base)
	n.field("expected_attributes").fields(func(attr string, a node) {
		target, ok := a.str()
		if !ok {
			return
		}
		if p, ok := l.path(target, a); ok {
			if in.ExpectedAttributes == nil {
				in.ExpectedAttributes = map[string]Path{}
			}
			in.ExpectedAttributes[attr] = p
		}
	})
	utterances, _ := n.field("utterances").strs()
	for _, u := range utterances {
		in.Hints.Utterances = append(in.Hints.Utterances, NormalizeText(u))
	}
	patterns, pnodes := n.field("patterns").strs()
	for i, p := range patterns {
		re, err := regexp.Compile(p)
		if err != nil {
			msg := err.Error()
			var se *syntax.Error
			if errors.As(err, &se) {
				msg = fmt.Sprintf("%s: %s", se.Code, se.Expr)
			}
			l.errorf(pnodes[i].pos(), diag.CodePattern, "pattern %q does not compile: %s", p, msg)
			continue
		}
		in.Hints.Patterns = append(in.Hints.Patterns, re)
	}
	if m := n.field("message"); m.exists() {
		in.Message = l.message(m, env)
	}
	var callNodes []node
	n.field("actions").each(func(_ int, a node) { callNodes = append(callNodes, a) })
	return in, func() {
		for _, a := range callNodes {
			if call := l.actionCall(s, a, env); call != nil {
				in.Actions = append(in.Actions, call)
			}
		}
		if in.Virtual != "" {
			l.checkIntentRef(s, in.Virtual, n.field("virtual"), "virtual")
		}
		if in.Message != nil {
			l.checkMessageRefs(s, n.field("message"))
		}
		if t := n.field("transition"); t.exists() {
			in.Transition = l.transition(s, turn, t)
		}
	}
}

// message decodes an intent's message (or a list item).
func (l *loader) message(m node, env envs) *Message {
	msg := &Message{Text: l.template(m.field("text"), env.base), TextPos: m.field("text").valuePosString()}
	msg.Type, _ = m.field("type").str()
	msg.External = m.field("external").boolean(false)
	msg.KeepButtons = !m.field("clear_after_interaction").boolean(true)
	msg.DisableText = m.field("disable_text").boolean(false)
	msg.HideAvatar = m.field("hide_avatar").boolean(false)
	msg.Title = l.template(m.field("title"), env.base)
	msg.Subtitle = l.template(m.field("subtitle"), env.base)
	msg.Callback, _ = m.field("callback").str()
	msg.CallbackValue, _ = m.field("callback_value").str()
	msg.Link, _ = m.field("link").str()
	msg.ViewType, _ = m.field("view_type").str()
	m.field("buttons").each(func(_ int, b node) {
		btn := Button{Text: l.template(b.field("text"), env.base)}
		btn.Callback, _ = b.field("callback").str()
		btn.Value, _ = b.field("value").str()
		btn.Link, _ = b.field("link").str()
		btn.LinkNewTab = b.field("link_new_tab").boolean(false)
		btn.Download = b.field("download").boolean(false)
		btn.Hidden = !b.field("display").boolean(true)
		btn.Type, _ = b.field("type").str()
		btn.Pos = b.posString()
		msg.Buttons = append(msg.Buttons, btn)
	})
	if im := m.field("image"); im.exists() {
		msg.Image = &Image{LinkNewTab: im.field("link_new_tab").boolean(false)}
		msg.Image.Src, _ = im.field("src").str()
		msg.Image.Link, _ = im.field("link").str()
	}
	m.field("items").each(func(_ int, it node) { msg.Items = append(msg.Items, l.message(it, env)) })
	if f := m.field("form"); f.exists() {
		form := &Form{AutoSubmit: f.field("auto_submit").boolean(false)}
		form.Callback, _ = f.field("callback").str()
		form.SubmitText, _ = f.field("submit_text").str()
		form.CancelText, _ = f.field("cancel_text").str()
		form.CancelCallback, _ = f.field("cancel_callback").str()
		f.field("fields").each(func(_ int, fe node) {
			ff := FormField{Required: fe.field("required").boolean(false)}
			ff.Name, _ = fe.field("name").str()
			ff.Display, _ = fe.field("display").str()
			ff.Type, _ = fe.field("type").str()
			ff.Default, _ = fe.field("default").str()
			if v, ok := fe.field("min").float(); ok {
				i := int(v)
				ff.Min = &i
			}
			if v, ok := fe.field("max").float(); ok {
				i := int(v)
				ff.Max = &i
			}
			fe.field("options").each(func(_ int, o node) {
				var op Option
				op.Value, _ = o.field("value").str()
				op.Label, _ = o.field("label").str()
				ff.Options = append(ff.Options, op)
			})
			form.Fields = append(form.Fields, ff)
		})
		msg.Form = form
	}
	if lt := m.field("long_text"); lt.exists() {
		msg.LongText = &LongText{}
		msg.LongText.Callback, _ = lt.field("callback").str()
		msg.LongText.SubmitText, _ = lt.field("submit_text").str()
		msg.LongText.InitialText, _ = lt.field("initial_text").str()
		msg.LongText.Placeholder, _ = lt.field("placeholder").str()
		msg.LongText.ConfirmationText, _ = lt.field("confirmation_text").str()
		if v, ok := lt.field("character_limit").float(); ok {
			msg.LongText.CharacterLimit = int(v)
		}
	}
	l.checkMessageShape(msg, m)
	return msg
}

// checkMessageShape reports a message whose fields do not fit its type.
func (l *loader) checkMessageShape(msg *Message, m node) {
	switch msg.Type {
	case MessageImage:
		if msg.Image == nil {
			l.errorf(m.pos(), diag.CodeSchemaType, "an image message needs image: {src: ...}")
		}
	case MessageList:
		if len(msg.Items) == 0 {
			l.errorf(m.pos(), diag.CodeSchemaType, "a list message needs items")
		}
	case MessageForm:
		if msg.Form == nil {
			l.errorf(m.pos(), diag.CodeSchemaType, "a form message needs form: {callback: ..., fields: [...]}")
		}
	}
	if msg.Form != nil && msg.Type != MessageForm {
		l.errorf(m.field("form").pos(), diag.CodeSchemaType, "form is only allowed in a message of type form")
	}
	if msg.LongText != nil && msg.Type != MessageLongText {
		l.errorf(m.field("long_text").pos(), diag.CodeSchemaType, "long_text is only allowed in a message of type long_text")
	}
	if len(msg.Items) > 0 && msg.Type != MessageList {
		l.errorf(m.field("items").pos(), diag.CodeSchemaType, "items are only allowed in a message of type list")
	}
	for i, b := range msg.Buttons {
		if b.Link != "" && b.Callback != "" {
			l.errorf(m.field("buttons").at(cue.Index(i)).pos(), diag.CodeSchemaType, "a button has a callback or a link, not both")
		}
	}
}

// checkMessageRefs checks the intents a message's buttons, form and long text name.
func (l *loader) checkMessageRefs(s *Scenario, m node) {
	ref := func(n node, what string) {
		if cb, ok := n.str(); ok && !strings.HasPrefix(cb, "intent.core.") && s.Callbacks[cb] == "" {
			l.checkIntentRef(s, cb, n, what)
		}
	}
	m.field("buttons").each(func(_ int, b node) { ref(b.field("callback"), "button callback") })
	ref(m.field("callback"), "message callback")
	ref(m.field("form").field("callback"), "form callback")
	ref(m.field("form").field("cancel_callback"), "form cancel_callback")
	ref(m.field("long_text").field("callback"), "long_text callback")
	m.field("items").each(func(_ int, it node) { l.checkMessageRefs(s, it) })
}

// NormalizeText lower-cases s and collapses runs of white space, as the text
// interpreter compares utterances.
func NormalizeText(s string) string {
	return strings.Join(strings.Fields(strings.ToLower(s)), " ")
}

// path parses a writable context path such as user.first_name.
func (l *loader) path(s string, n node) (Path, bool) {
	ctx, name, ok := strings.Cut(s, ".")
	if !ok || name == "" {
		l.errorf(n.pos(), diag.CodeSchemaType, "%q is not a context path (context.name)", s)
		return Path{}, false
	}
	if !WritableContexts[ctx] {
		if ctx == "conversation" || ctx == "global" || ctx == "utterance" {
			l.errorf(n.pos(), diag.CodeReadOnly, "%q: the %s context is read-only; write to user or session", s, ctx)
		} else {
			l.errorf(n.pos(), diag.CodeReadOnly, "%q: unknown context %q; write to user or session", s, ctx)
		}
		return Path{}, false
	}
	return Path{Context: ctx, Name: name}, true
}

func (l *loader) transition(s *Scenario, turn *Turn, n node) *Transition {
	tr := &Transition{}
	conv := turn.Scene.Conversation
	if name, ok := n.field("conversation").str(); ok {
		if conv = s.Conversation(name); conv == nil {
			l.errorf(n.field("conversation").pos(), diag.CodeUnknownTarget, "transition to conversation %q, which scenario %q does not declare", name, s.Name)
			return nil
		}
		tr.Conversation = conv
	}
	scene := turn.Scene
	if name, ok := n.field("scene").str(); ok {
		if scene = conv.Scene(name); scene == nil {
			l.errorf(n.field("scene").pos(), diag.CodeUnknownTarget, "transition to scene %q, which conversation %q does not declare", name, conv.Name)
			return nil
		}
		tr.Scene = scene
	} else if tr.Conversation != nil && tr.Conversation != turn.Scene.Conversation {
		scene = nil // entering another conversation without a scene: the engine picks its starting scene
	}
	if name, ok := n.field("turn").str(); ok {
		if scene == nil {
			l.errorf(n.field("turn").pos(), diag.CodeUnknownTarget, "transition to turn %q needs a scene when it changes conversation", name)
			return nil
		}
		if tr.Turn = scene.Turn(name); tr.Turn == nil {
			l.errorf(n.field("turn").pos(), diag.CodeUnknownTarget, "transition to turn %q, which scene %q does not declare", name, scene.Name)
			return nil
		}
	}
	return tr
}

// action builds a declared action with its kind's plugin.
func (l *loader) action(scenario, name string, n node) *Action {
	a := &Action{Name: name, Active: n.field("active").boolean(true), Pos: n.posString()}
	a.Inputs, _ = n.field("inputs").strs()
	a.Outputs, _ = n.field("outputs").strs()
	var kinds []plugins.ActionKind
	for _, k := range l.env.ActionKinds() {
		if n.field(k.Name).exists() {
			kinds = append(kinds, k)
		}
	}
	switch len(kinds) {
	case 0:
		names := make([]string, 0)
		for _, k := range l.env.ActionKinds() {
			names = append(names, k.Name)
		}
		l.errorf(n.pos(), diag.CodeActionKind, "action %q declares no kind; give exactly one of: %s", name, strings.Join(names, ", "))
		return nil
	case 1:
	default:
		l.errorf(n.pos(), diag.CodeActionKind, "action %q declares %d kinds (%s and %s); give exactly one", name, len(kinds), kinds[0].Name, kinds[1].Name)
		return nil
	}
	kind := kinds[0]
	a.Kind = kind.Name
	kn := n.field(kind.Name)
	if kn.full().Validate() != nil {
		return nil // reported by schema validation
	}
	raw, err := kn.full().MarshalJSON()
	if err != nil {
		return nil
	}
	impl, err := kind.New(plugins.ActionConfig{Scenario: scenario, Name: name, Config: raw, Inputs: a.Inputs, Outputs: a.Outputs})
	if err != nil {
		l.pluginErrors(kn, err)
		return nil
	}
	a.Impl = impl
	a.Config = raw
	return a
}

// pluginErrors reports a plugin's configuration errors at their fields.
func (l *loader) pluginErrors(n node, err error) {
	for _, e := range flatten(err) {
		var fe *plugins.FieldError
		if !errors.As(e, &fe) {
			l.errorf(n.pos(), diag.CodePluginConfig, "%v", e)
			continue
		}
		fn := n
		for _, part := range strings.Split(fe.Field, ".") {
			if part != "" {
				fn = fn.at(selector(part))
			}
		}
		var ee *expression.Error
		if errors.As(fe.Err, &ee) {
			l.exprError(fn, ee)
			continue
		}
		code := fe.Code
		if code == "" {
			code = diag.CodePluginConfig
		}
		l.errorf(fn.pos(), code, "%s: %v", fe.Field, fe.Err)
	}
}

func flatten(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, flatten(e)...)
		}
		return out
	}
	return []error{err}
}

// actionCall resolves an intent's use of an action, with OpenDialog's defaults:
// declared inputs without a mapping read user.NAME; declared outputs that no
// mapping reads are written to user.NAME.
func (l *loader) actionCall(s *Scenario, n node, env envs) *ActionCall {
	use, ok := n.field("use").str()
	if !ok {
		return nil
	}
	act := s.Actions[use]
	if act == nil {
		if l.actionDeclared(s, n, use) {
			return nil // declared but invalid: reported where it is declared
		}
		names := slices.Sorted(maps.Keys(s.Actions))
		hint := "it declares none"
		if len(names) > 0 {
			hint = "declared: " + strings.Join(names, ", ")
		}
		l.errorf(n.field("use").pos(), diag.CodeUnknownAction, "action %q is not declared in scenario %q (%s)", use, s.Name, hint)
		return nil
	}
	call := &ActionCall{Action: act, Pos: n.posString()}
	mapped := map[string]bool{}
	n.field("inputs").fields(func(name string, in node) {
		src, ok := in.str()
		if !ok {
			return
		}
		if len(act.Inputs) > 0 && !contains(act.Inputs, name) {
			l.errorf(in.pos(), diag.CodeUnknownInput, "action %q declares no input %q (inputs: %s)", use, name, strings.Join(act.Inputs, ", "))
			return
		}
		mapped[name] = true
		if p := l.compile(in, src, env.base, expression.Value); p != nil {
			call.Inputs = append(call.Inputs, InputMapping{Name: name, Prog: p, Pos: in.valuePosString()})
		}
	})
	for _, name := range act.Inputs {
		if !mapped[name] {
			call.Inputs = append(call.Inputs, InputMapping{Name: name, From: Path{Context: "user", Name: name}})
		}
	}
	outT := types.Map{types.Extra: types.Any}
	sig := "*"
	if len(act.Outputs) > 0 {
		outT = types.Map{}
		for _, o := range act.Outputs {
			outT[o] = types.Any
		}
		sorted := slices.Clone(act.Outputs)
		sort.Strings(sorted)
		sig = strings.Join(sorted, ",")
	}
	outEnv := env.with("output", outT, sig)
	var sources []string
	n.field("outputs").fields(func(target string, out node) {
		src, ok := out.str()
		if !ok {
			return
		}
		path, ok := l.path(target, out)
		if !ok {
			return
		}
		sources = append(sources, src)
		if p := l.compile(out, src, outEnv, expression.Value); p != nil {
			call.Outputs = append(call.Outputs, OutputMapping{Target: path, Prog: p, Pos: out.valuePosString()})
		}
	})
	for _, name := range act.Outputs {
		if !readsOutput(sources, name) {
			call.Outputs = append(call.Outputs, OutputMapping{Target: Path{Context: "user", Name: name}, From: name})
		}
	}
	return call
}

// actionDeclared reports whether the scenario declares action name (even if it failed to compile).
func (l *loader) actionDeclared(s *Scenario, n node, name string) bool {
	return l.userValue().LookupPath(cue.MakePath(cue.Str("scenarios"), cue.Str(s.Name), cue.Str("actions"), cue.Str(name))).Exists()
}

// readsOutput reports whether any source reads output.NAME or output["NAME"].
func readsOutput(sources []string, name string) bool {
	for _, s := range sources {
		for i := strings.Index(s, "output"); i >= 0; {
			if i == 0 || !isIdentByte(s[i-1]) {
				rest := strings.TrimLeft(s[i+len("output"):], " \t")
				if r, ok := strings.CutPrefix(rest, "."); ok {
					r = strings.TrimLeft(r, " \t")
					if strings.HasPrefix(r, name) && (len(r) == len(name) || !isIdentByte(r[len(name)])) {
						return true
					}
				} else if r, ok := strings.CutPrefix(rest, "["); ok {
					r = strings.TrimLeft(r, " \t")
					if len(r) > 0 && (r[0] == '"' || r[0] == '\'') && strings.HasPrefix(r[1:], name+string(r[0])) {
						return true
					}
				}
			}
			j := strings.Index(s[i+1:], "output")
			if j < 0 {
				break
			}
			i += 1 + j
		}
	}
	return false
}

func isIdentByte(c byte) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
