package convtest

import (
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"cuelang.org/go/cue"

	"github.com/parleyhq/parley/diag"
	"github.com/parleyhq/parley/dsl"
	"github.com/parleyhq/parley/mock"
)

func (l *fileLoader) test(name string, v cue.Value) *Test {
	fm := fieldsOf(v)
	l.at = []string{"tests", name}
	t := &Test{Name: name, File: l.name, Pos: posString(pos(v)), User: DefaultUser, Clock: DefaultClock,
		Mocks: map[string]*Mock{}, dir: l.dir}
	t.Description, _ = fm.str("description")
	if u, ok := fm.str("user"); ok {
		t.User = u
	}
	if c, ok := fm.get("clock"); ok {
		s, _ := c.String()
		tm, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			l.errorf(c.Pos(), CodeValue, "clock: %q is not an RFC 3339 time: %v", s, err)
		}
		t.Clock = tm
	}
	if d, ok := fm.get("session_timeout"); ok {
		t.SessionTimeout = l.duration(d)
	}
	fixtureNames := map[string]bool{}
	if fx, ok := fm.get("fixtures"); ok {
		for _, ctxName := range []string{"user", "session"} {
			c, ok := field(fx, ctxName)
			if !ok {
				continue
			}
			it, _ := c.Fields()
			for it.Next() {
				n := it.Selector().Unquoted()
				fixtureNames[n] = true
				p := ctxName + "." + n
				if !l.known[n] {
					l.errorf(pos(it.Value()), CodeUnknownAttribute, "fixture %s: no scenario of %s declares or uses attribute %q%s", p, l.dir.Path, n, l.suggestAttr(n))
				}
				t.Fixtures = append(t.Fixtures, Fixture{Path: p, Value: jsonOf(it.Value()), Pos: posString(pos(it.Value()))})
			}
		}
	}
	if ms, ok := fm.get("mocks"); ok {
		it, _ := ms.Fields()
		for it.Next() {
			n := it.Selector().Unquoted()
			if !l.actionExists(n) {
				l.errorf(pos(it.Value()), diag.CodeUnknownAction, "mock for action %q: no scenario of %s declares it%s", n, l.dir.Path, l.suggestAction(n))
				continue
			}
			t.Mocks[n] = l.mock(n, it.Value())
		}
	}
	sv, _ := fm.get("steps")
	each(sv, func(i int, e cue.Value) {
		if s := l.step(i+1, e, fixtureNames); s != nil {
			t.Steps = append(t.Steps, s)
		}
	})
	return t
}

func (l *fileLoader) duration(v cue.Value) time.Duration {
	s, _ := v.String()
	d, err := time.ParseDuration(s)
	if err != nil {
		l.errorf(v.Pos(), CodeValue, "%q is not a duration: %v", s, err)
	}
	return d
}

func (l *fileLoader) mock(action string, v cue.Value) *Mock {
	fm := fieldsOf(v)
	m := &Mock{Action: action, Pos: posString(pos(v))}
	calls, hasCalls := fm.get("calls")
	if hasCalls {
		for _, f := range []string{"outputs", "successful", "errors", "fail", "route"} {
			if fv, ok := fm.get(f); ok {
				l.errorf(pos(fv), CodeMock, "mock for action %q: %s is given with calls; give either one answer for every call or calls", action, f)
			}
		}
		m.PerCall = true
		each(calls, func(_ int, e cue.Value) { m.Answers = append(m.Answers, l.answer(action, e)) })
		return m
	}
	m.Answers = []*Answer{l.answer(action, v)}
	return m
}

func (l *fileLoader) answer(action string, v cue.Value) *Answer {
	fm := fieldsOf(v)
	a := &Answer{Pos: posString(v.Pos()), Successful: true}
	if ov, ok := fm.get("outputs"); ok {
		if m, ok := jsonOf(ov).(map[string]any); ok {
			a.Outputs = m
		}
	}
	if s, ok := fm.get("successful"); ok {
		a.Successful, _ = s.Bool()
	}
	if ev, ok := fm.get("errors"); ok {
		each(ev, func(_ int, e cue.Value) {
			s, _ := e.String()
			a.Errors = append(a.Errors, s)
		})
		if _, set := fm.get("successful"); !set {
			a.Successful = false
		}
	}
	if fv, ok := fm.get("fail"); ok {
		if n, err := fv.Int64(); err == nil {
			a.Fail, a.Status = FailStatus, int(n)
		} else {
			a.Fail, _ = fv.String()
		}
	}
	if rv, ok := fm.get("route"); ok {
		name, _ := rv.String()
		for _, f := range []string{"outputs", "successful", "errors", "fail"} {
			if fv, ok := fm.get(f); ok {
				l.errorf(pos(fv), CodeMock, "mock for action %q: %s is given with route; the route answers", action, f)
			}
		}
		if l.routes == nil && l.mocksFailed {
			return a
		}
		if l.routes == nil {
			l.errorf(pos(rv), CodeUnknownRoute, "mock for action %q: route %q, but the file declares no mocks_from", action, name)
			return a
		}
		var names []string
		for _, c := range l.routes {
			for _, r := range c.Routes {
				names = append(names, r.Name)
				if r.Name == name && a.Route == nil {
					a.Route, a.routes = r, c
				}
			}
		}
		if a.Route == nil {
			l.errorf(pos(rv), CodeUnknownRoute, "mock for action %q: no route named %q in mocks_from (routes: %s)", action, name, strings.Join(names, ", "))
		} else if a.Route.Protocol != mock.ProtocolOpenDialog {
			l.errorf(pos(rv), CodeUnknownRoute, "mock for action %q: route %q answers with the %s protocol; a test answers an action from opendialog routes only", action, name, a.Route.Protocol)
			a.Route = nil
		}
	}
	return a
}

var stepKinds = []string{StepOpen, StepSay, StepClick, StepClickText, StepTrigger, StepForm, StepLongText}

func (l *fileLoader) step(index int, v cue.Value, fixtures map[string]bool) *Step {
	fm := fieldsOf(v)
	s := &Step{Index: index, Pos: posString(v.Pos())}
	l.at = append(l.at[:2], "steps", strconv.Itoa(index-1))
	if d, ok := fm.get("advance"); ok {
		s.Advance = l.duration(d)
	}
	var kinds []string
	for _, k := range stepKinds {
		if _, ok := fm.get(k); ok {
			kinds = append(kinds, k)
		}
	}
	switch {
	case len(kinds) > 1:
		l.errorf(v.Pos(), CodeStep, "step %d does %s at once; give one of %s per step", index, strings.Join(kinds, " and "), strings.Join(stepKinds, ", "))
		return nil
	case len(kinds) == 0 && s.Advance == 0:
		l.errorf(v.Pos(), CodeStep, "step %d says nothing the user does; give one of %s (or advance)", index, strings.Join(stepKinds, ", "))
		return nil
	case len(kinds) == 0:
		s.Kind = StepAdvance
	default:
		s.Kind = kinds[0]
	}
	kv, _ := fm.get(s.Kind)
	switch s.Kind {
	case StepSay, StepClickText:
		s.Text, _ = kv.String()
	case StepClick, StepTrigger:
		s.Callback, _ = kv.String()
		l.checkIntent(kv, s.Callback, s.Kind)
	case StepLongText:
		s.Text, _ = kv.String()
	case StepForm:
		ff := fieldsOf(kv)
		if cb, ok := ff.get("callback"); ok {
			s.Callback, _ = cb.String()
			l.checkIntent(cb, s.Callback, "form callback")
		}
		if d, ok := ff.get("data"); ok {
			s.FormData, _ = jsonOf(d).(map[string]any)
		}
		if _, ok := ff.get("cancel"); ok {
			s.Cancel = true
			if d, ok := ff.get("data"); ok {
				l.errorf(pos(d), CodeStep, "step %d: a cancelled form sends no data", index)
			}
		}
	}
	if val, ok := fm.get("value"); ok {
		if s.Kind != StepClick && s.Kind != StepClickText {
			l.errorf(pos(val), CodeStep, "step %d: value goes with click or click_text", index)
		}
		s.Value, _ = val.String()
		s.HasValue = true
	}
	if s.Kind == StepAdvance {
		for _, f := range []string{"reply", "intents", "actions", "no_match", "completed"} {
			if fv, ok := fm.get(f); ok {
				l.errorf(pos(fv), CodeStep, "step %d only advances time: no turn runs, so it can check context only, not %s", index, f)
			}
		}
	}
	if rv, ok := fm.get("reply"); ok {
		s.HasReply, s.ReplyPos = true, posString(pos(rv))
		each(rv, func(i int, e cue.Value) {
			switch e.IncompleteKind() {
			case cue.StringKind:
			case cue.StructKind:
				if !l.check(e, "#ExpectMessage", append(slices.Clone(l.at), "reply", strconv.Itoa(i))...) {
					return
				}
			default:
				l.errorf(e.Pos(), diag.CodeSchemaType, "step %d: reply[%d]: %s is not a message: want a string (the exact text) or {text, matches, intent, buttons}", index, i, describe(e))
				return
			}
			s.Reply = append(s.Reply, l.message(e))
		})
	}
	if iv, ok := fm.get("intents"); ok {
		s.HasIntent, s.IntentPos = true, posString(pos(iv))
		each(iv, func(_ int, e cue.Value) {
			id, _ := e.String()
			l.checkIntent(e, id, "intent")
			s.Intents = append(s.Intents, id)
		})
	}
	if cv, ok := fm.get("context"); ok {
		it, _ := cv.Fields()
		for it.Next() {
			s.Context = append(s.Context, l.contextCheck(it.Selector().Unquoted(), it.Value(), fixtures))
		}
	}
	if av, ok := fm.get("actions"); ok {
		s.HasAction, s.ActionPos = true, posString(pos(av))
		each(av, func(_ int, e cue.Value) {
			a := ExpectAction{Pos: posString(e.Pos())}
			a.Name, _ = str(e, "name")
			if !l.actionExists(a.Name) {
				nv, _ := field(e, "name")
				l.errorf(nv.Pos(), diag.CodeUnknownAction, "expected action %q: no scenario of %s declares it%s", a.Name, l.dir.Path, l.suggestAction(a.Name))
			}
			if in, ok := field(e, "inputs"); ok {
				a.Inputs, _ = jsonOf(in).(map[string]any)
				a.HasInputs = true
			}
			if sv, ok := field(e, "success"); ok {
				b, _ := sv.Bool()
				a.Success = &b
			}
			s.Actions = append(s.Actions, a)
		})
	}
	if nv, ok := fm.get("no_match"); ok {
		b, _ := nv.Bool()
		s.NoMatch, s.NoMatchAt = &b, posString(pos(nv))
	}
	if dv, ok := fm.get("completed"); ok {
		b, _ := dv.Bool()
		s.Completed, s.DoneAt = &b, posString(pos(dv))
	}
	return s
}

func (l *fileLoader) message(v cue.Value) ExpectMessage {
	fm := fieldsOf(v)
	m := ExpectMessage{Pos: posString(v.Pos())}
	if v.Kind() == cue.StringKind {
		s, _ := v.String()
		m.Text = &s
		return m
	}
	if s, ok := fm.str("text"); ok {
		m.Text = &s
	}
	if s, ok := fm.str("matches"); ok {
		mv, _ := fm.get("matches")
		m.Matches = l.regexp(mv, s)
	}
	if s, ok := fm.str("intent"); ok {
		iv, _ := fm.get("intent")
		l.checkIntent(iv, s, "message intent")
		m.Intent = s
	}
	if bv, ok := fm.get("buttons"); ok {
		m.HasButtons = true
		each(bv, func(_ int, e cue.Value) {
			b := ExpectButton{Pos: posString(e.Pos())}
			if s, ok := str(e, "text"); ok {
				b.Text = &s
			}
			if s, ok := str(e, "callback"); ok {
				b.Callback = &s
				cv, _ := field(e, "callback")
				l.checkIntent(cv, s, "button callback")
			}
			if s, ok := str(e, "value"); ok {
				b.Value = &s
			}
			m.Buttons = append(m.Buttons, b)
		})
	}
	return m
}

// check validates v against a definition of the test schema, reporting
// problems at the path of v (given for messages); it reports whether v is valid.
func (l *fileLoader) check(v cue.Value, def string, path ...string) bool {
	d := l.root.LookupPath(cue.MakePath(cue.Def(def)))
	if err := d.Unify(v).Validate(cue.Concrete(true)); err != nil {
		l.cueErrorsAt(err, v, path, diag.CodeSchemaType)
		return false
	}
	return true
}

func (l *fileLoader) regexp(v cue.Value, src string) *regexp.Regexp {
	re, err := regexp.Compile(src)
	if err != nil {
		l.errorf(v.Pos(), diag.CodePattern, "regular expression %q does not compile: %v", src, err)
		return nil
	}
	return re
}

func (l *fileLoader) contextCheck(path string, v cue.Value, fixtures map[string]bool) ExpectContext {
	fm := fieldsOf(v)
	c := ExpectContext{Pos: posString(pos(v)), Path: path}
	ctxName, rest, _ := strings.Cut(path, ".")
	name, _, _ := strings.Cut(rest, ".")
	switch {
	case ctxName == "conversation":
		if !slices.Contains(dsl.ConversationKeys, name) {
			l.errorf(pos(v), CodeUnknownAttribute, "context %s: the conversation context holds %s", path, strings.Join(dsl.ConversationKeys, ", "))
		}
	case !l.known[name] && !fixtures[name]:
		l.errorf(pos(v), CodeUnknownAttribute, "context %s: no scenario of %s declares or uses attribute %q%s", path, l.dir.Path, name, l.suggestAttr(name))
	}
	if v.IncompleteKind() != cue.StructKind {
		c.Check, c.Value = CheckEquals, jsonOf(v)
		return c
	}
	if !l.check(v, "#ValueCheck", append(slices.Clone(l.at), "context", path)...) {
		return c
	}
	var kinds []string
	for _, k := range []string{CheckEquals, CheckAbsent, CheckType, CheckMatches} {
		if _, ok := fm.get(k); ok {
			kinds = append(kinds, k)
		}
	}
	if len(kinds) != 1 {
		l.errorf(pos(v), CodeValue, "context %s: give exactly one of equals, absent, type and matches (to compare a map, use equals: {...})", path)
		return c
	}
	c.Check = kinds[0]
	kv, _ := fm.get(c.Check)
	switch c.Check {
	case CheckEquals:
		c.Value = jsonOf(kv)
	case CheckType:
		c.Value, _ = kv.String()
	case CheckMatches:
		s, _ := kv.String()
		c.Re = l.regexp(kv, s)
	}
	return c
}

func (l *fileLoader) checkIntent(v cue.Value, id, what string) {
	if id == "" || strings.HasPrefix(id, "intent.core.") {
		return
	}
	for _, sc := range l.dir.Config.Scenarios {
		if len(sc.Intents(id)) > 0 {
			return
		}
	}
	var ids []string
	for _, sc := range l.dir.Config.Scenarios {
		ids = append(ids, intentIDs(sc)...)
	}
	l.errorf(v.Pos(), diag.CodeUnknownIntent, "%s %q: no scenario of %s declares it%s", what, id, l.dir.Path, suggest(id, ids))
}

func (l *fileLoader) actionExists(name string) bool {
	for _, sc := range l.dir.Config.Scenarios {
		if sc.Actions[name] != nil {
			return true
		}
	}
	return false
}

func (l *fileLoader) suggestAction(name string) string {
	var names []string
	for _, sc := range l.dir.Config.Scenarios {
		for n := range sc.Actions {
			names = append(names, n)
		}
	}
	return suggest(name, names)
}

func (l *fileLoader) suggestAttr(name string) string {
	return suggest(name, slices.Collect(func(yield func(string) bool) {
		for k := range l.known {
			if !yield(k) {
				return
			}
		}
	}))
}
