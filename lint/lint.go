// Package lint finds what the schema cannot: mistakes in a valid
// configuration that make a bot misbehave without an error. An expression
// that reads an attribute nothing declares or sets (a typo renders as empty
// text), turns and intents no conversation reaches, buttons whose callback
// nothing accepts, actions never used, outputs never read, valid origins that
// can never precede their turn, app intents an earlier one always shadows,
// and user intents that compete with the same utterance.
//
// Lints are warnings with stable codes (diag.CodeLint*) at file:line:col.
// One is silenced at its place by a comment naming its code on the line of
// the diagnostic or the line above, optionally with more codes and a reason:
//
//	// parley:ignore lint.unused_action: kept for the next release   (CUE)
//	# parley:ignore lint.unused_action, lint.unread_output            (YAML)
//
// Reachability comes from package graph, the one model of the conversation.
package lint

import (
	"bytes"
	"fmt"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"cuelang.org/go/cue/token"

	"github.com/parleyhq/parley/diag"
	"github.com/parleyhq/parley/dsl"
	"github.com/parleyhq/parley/expression"
	"github.com/parleyhq/parley/graph"
)

// Options configure Check.
type Options struct {
	// ReadFile reads a file named as in the configuration's positions, to find
	// silencing comments and exact positions inside strings; nil means os.ReadFile.
	ReadFile func(name string) ([]byte, error)
}

// Check lints cfg, whose graph is g (graph.New(cfg) when nil). The
// diagnostics are sorted and silenced ones left out.
func Check(cfg *dsl.Config, g *graph.Graph, o Options) diag.List {
	if g == nil {
		g = graph.New(cfg)
	}
	if o.ReadFile == nil {
		o.ReadFile = os.ReadFile
	}
	c := &checker{cfg: cfg, g: g, o: o, files: map[string][]byte{}}
	c.attributes()
	c.startingUtterances()
	for _, s := range g.Scenarios {
		if s.Active {
			c.reachability(s)
			c.shadowed(s)
			c.duplicateUtterances(s)
		}
		c.buttons(s)
		c.origins(s)
		c.actions(s)
	}
	out := c.silence()
	out.Sort()
	return out
}

type checker struct {
	cfg   *dsl.Config
	g     *graph.Graph
	o     Options
	files map[string][]byte
	diags diag.List
	// readSet caches reads.
	readSet map[dsl.Path]bool
}

// file returns the content of a file, or nil when it cannot be read.
func (c *checker) file(name string) []byte {
	b, ok := c.files[name]
	if !ok {
		b, _ = c.o.ReadFile(name)
		c.files[name] = b
	}
	return b
}

// report adds a diagnostic at pos (file:line:col).
func (c *checker) report(pos, code, format string, args ...any) {
	d := diag.Diagnostic{Code: code, Message: fmt.Sprintf(format, args...)}
	d.File, d.Line, d.Col = splitPos(pos)
	c.diags = append(c.diags, d)
}

// splitPos parses file:line:col.
func splitPos(pos string) (string, int, int) {
	i := strings.LastIndexByte(pos, ':')
	if i < 0 {
		return pos, 0, 0
	}
	j := strings.LastIndexByte(pos[:i], ':')
	if j < 0 {
		return pos, 0, 0
	}
	line, err1 := strconv.Atoi(pos[j+1 : i])
	col, err2 := strconv.Atoi(pos[i+1:])
	if err1 != nil || err2 != nil {
		return pos, 0, 0
	}
	return pos[:j], line, col
}

// inner is the position of byte offset inside the string content that starts at pos.
func (c *checker) inner(pos, content string, offset int) string {
	file, line, col := splitPos(pos)
	src := c.file(file)
	if src == nil || line == 0 {
		return pos
	}
	off, ok := offsetOf(src, line, col)
	if !ok {
		return pos
	}
	p := dsl.StringPosition(src, token.Position{Filename: file, Line: line, Column: col, Offset: off}, content, offset)
	return fmt.Sprintf("%s:%d:%d", p.Filename, p.Line, p.Column)
}

// offsetOf is the byte offset of a 1-based line and byte column.
func offsetOf(src []byte, line, col int) (int, bool) {
	off := 0
	for l := 1; l < line; l++ {
		i := bytes.IndexByte(src[off:], '\n')
		if i < 0 {
			return 0, false
		}
		off += i + 1
	}
	off += col - 1
	return off, off >= 0 && off < len(src)
}

// silence drops the diagnostics a "parley:ignore CODE" comment names.
func (c *checker) silence() diag.List {
	var out diag.List
	for _, d := range c.diags {
		if !c.ignored(d) {
			out = append(out, d)
		}
	}
	return out
}

func (c *checker) ignored(d diag.Diagnostic) bool {
	src := c.file(d.File)
	if src == nil || d.Line == 0 {
		return false
	}
	lines := bytes.Split(src, []byte("\n"))
	for _, l := range []int{d.Line - 1, d.Line - 2} {
		if l >= 0 && l < len(lines) && ignores(string(lines[l]), d.Code) {
			return true
		}
	}
	return false
}

// ignores reports whether a line holds a comment "parley:ignore CODE[, CODE...][: reason]" naming code.
func ignores(line, code string) bool {
	i := strings.Index(line, "parley:ignore")
	if i < 0 {
		return false
	}
	before := line[:i]
	if !strings.Contains(before, "//") && !strings.Contains(before, "#") {
		return false
	}
	for _, f := range strings.FieldsFunc(line[i+len("parley:ignore"):], func(r rune) bool { return r == ' ' || r == ',' || r == '\t' }) {
		if strings.TrimSuffix(f, ":") == code {
			return true
		}
	}
	return false
}

// where describes an intent for a message.
func where(in *dsl.Intent) string {
	t := in.Turn
	return fmt.Sprintf("intent %s (turn %s, scene %s, conversation %s)", in.ID, t.Name, t.Scene.Name, t.Scene.Conversation.Name)
}

// reachability reports turns and intents no conversation reaches.
func (c *checker) reachability(s *graph.Scenario) {
	for _, conv := range s.Conversations {
		for _, sc := range conv.Scenes {
			for _, t := range sc.Turns {
				if !t.Reachable {
					c.report(t.Pos, diag.CodeLintUnreachableTurn,
						"turn %s (scene %s, conversation %s) is never reached: no starting or open behaviour, valid origin, transition, virtual intent or no-match leads to it",
						t.Name, sc.Name, conv.Name)
					continue
				}
				for _, in := range t.Intents {
					if !in.Reachable {
						c.report(in.Pos, diag.CodeLintUnreachableIntent, "%s is never reached: %s", where(in.Src), unreachableWhy(in.Src))
					}
				}
			}
		}
	}
}

func unreachableWhy(in *dsl.Intent) string {
	if in.Role == dsl.Response && in.Speaker == "user" {
		return "a user intent among a turn's responses is a candidate only when no app intent answers the turn's request"
	}
	if in.Role == dsl.Request && in.Speaker == "app" {
		return "an app intent among a turn's requests is said only when a transition enters its turn"
	}
	return "no path of the conversation makes it a candidate"
}

// buttons reports buttons whose callback no turn accepts after their message.
func (c *checker) buttons(s *graph.Scenario) {
	for _, gi := range s.Intents() {
		in := gi.Src
		if in.Message == nil {
			continue
		}
		for _, b := range in.Message.Buttons {
			if b.Callback == "" || strings.HasPrefix(b.Callback, "intent.core.") {
				continue
			}
			if len(s.ButtonTargets(in, b.Callback)) > 0 {
				continue
			}
			text := ""
			if b.Text != nil {
				text = b.Text.Source
			}
			pos := b.Pos
			if pos == "" {
				pos = in.Pos
			}
			c.report(pos, diag.CodeLintUnacceptedButton,
				"button %q of %s sends callback %q, which no turn accepts after that message (add %q to a turn's valid_origins whose request intent is %q, or make that turn open)",
				text, in.ID, b.Callback, in.ID, b.Callback)
		}
	}
}

// origins reports valid_origins entries that can never precede their turn.
func (c *checker) origins(s *graph.Scenario) {
	for _, conv := range s.Conversations {
		for _, sc := range conv.Scenes {
			for _, t := range sc.Turns {
				for i, o := range t.ValidOrigins {
					if s.CanPrecede(o) {
						continue
					}
					pos := t.Pos
					if i < len(t.Src.OriginPos) {
						pos = t.Src.OriginPos[i]
					}
					c.report(pos, diag.CodeLintImpossibleOrigin, "valid origin %q of turn %s can never precede it: %s",
						o, t.Name, originWhy(s.Src().Intents(o)))
				}
			}
		}
	}
}

func originWhy(list []*dsl.Intent) string {
	if len(list) == 0 {
		return "no intent has that id"
	}
	in := list[0]
	switch {
	case in.Role == dsl.Request:
		return "it is a request intent, and a turn's responses follow it, not other turns"
	case in.Transition != nil:
		return "it transitions, so the next intent is chosen where the transition leads (the entry is not needed there)"
	default:
		return "it completes the conversation, so the next utterance starts afresh"
	}
}

// actions reports actions no intent uses and outputs nothing reads.
func (c *checker) actions(s *graph.Scenario) {
	src := s.Src()
	used := map[string][]*dsl.ActionCall{}
	for _, gi := range s.Intents() {
		for _, call := range gi.Src.Actions {
			used[call.Action.Name] = append(used[call.Action.Name], call)
		}
	}
	if c.readSet == nil {
		c.readSet = c.reads()
	}
	reads := c.readSet
	for _, name := range s.Actions {
		a := src.Actions[name]
		calls := used[name]
		if len(calls) == 0 {
			c.report(a.Pos, diag.CodeLintUnusedAction, "action %s of scenario %s is never used: no intent's actions name it", name, src.Name)
			continue
		}
		for _, out := range a.Outputs {
			var targets []dsl.Path
			mapped := false
			for _, call := range calls {
				for _, m := range call.Outputs {
					if m.Prog == nil && m.From == out || m.Prog != nil && readsName(m.Prog.Attributes(), "output", out) {
						mapped = true
						targets = append(targets, m.Target)
					}
				}
			}
			if !mapped {
				c.report(a.Pos, diag.CodeLintUnreadOutput, "output %s of action %s is never read: every use maps outputs without it", out, name)
				continue
			}
			read := false
			for _, p := range targets {
				if reads[p] {
					read = true
				}
			}
			if !read {
				names := make([]string, len(targets))
				for i, p := range targets {
					names[i] = p.String()
				}
				slices.Sort(names)
				names = slices.Compact(names)
				c.report(a.Pos, diag.CodeLintUnreadOutput, "output %s of action %s is written to %s, which no expression, template or input reads",
					out, name, strings.Join(names, ", "))
			}
		}
	}
}

func readsName(attrs []expression.Attribute, ctx, name string) bool {
	for _, a := range attrs {
		if a.Context == ctx && a.Name == name {
			return true
		}
	}
	return false
}

// reads returns every user and session attribute an expression, template or
// input of the configuration reads.
func (c *checker) reads() map[dsl.Path]bool {
	out := map[dsl.Path]bool{}
	for _, r := range c.exprs() {
		for _, a := range r.attrs {
			out[dsl.Path{Context: a.Context, Name: a.Name}] = true
		}
	}
	for _, s := range c.cfg.Scenarios {
		s.EachIntent(func(in *dsl.Intent) {
			for _, call := range in.Actions {
				for _, m := range call.Inputs {
					if m.Prog == nil {
						out[m.From] = true
					}
				}
			}
		})
	}
	return out
}

// shadowed reports app intents never chosen because an earlier candidate always passes.
func (c *checker) shadowed(s *graph.Scenario) {
	chosen := map[*dsl.Intent]bool{}
	by := map[*dsl.Intent]*dsl.Intent{}
	for _, set := range s.AppCandidateSets() {
		var first *dsl.Intent
		for _, cand := range set {
			if first != nil {
				if by[cand.Intent] == nil {
					by[cand.Intent] = first
				}
				continue
			}
			chosen[cand.Intent] = true
			if !cand.Gated && alwaysPasses(cand.Intent.Conditions) {
				first = cand.Intent
			}
		}
	}
	for _, gi := range s.Intents() {
		in := gi.Src
		if b := by[in]; b != nil && !chosen[in] {
			c.report(in.Pos, diag.CodeLintShadowedIntent, "app intent %s is never chosen: %s comes before it and its conditions always pass", in.ID, b.ID)
		}
	}
}

func alwaysPasses(conds []*dsl.Condition) bool {
	for _, cond := range conds {
		if strings.TrimSpace(cond.Source) != "true" {
			return false
		}
	}
	return true
}

// startingUtterances reports the intents of different scenarios that a new
// conversation may start with and share an utterance: the engine considers
// every active scenario's starting intents together.
func (c *checker) startingUtterances() {
	var set []*dsl.Intent
	for _, s := range c.g.Scenarios {
		if !s.Active {
			continue
		}
		for _, in := range s.Intents() {
			if in.Starting && in.Src.Speaker == "user" {
				set = append(set, in.Src)
			}
		}
	}
	c.sameUtterance([][]*dsl.Intent{set}, func(a, b *dsl.Intent) bool {
		return a.Turn.Scene.Conversation.Scenario != b.Turn.Scene.Conversation.Scenario
	})
}

// duplicateUtterances reports user intents that are candidates together and share an utterance.
func (c *checker) duplicateUtterances(s *graph.Scenario) {
	c.sameUtterance(s.UserCandidateSets(), func(a, b *dsl.Intent) bool { return true })
}

// sameUtterance reports, in each set, an intent that shares an utterance with an
// earlier one, for the pairs report accepts.
func (c *checker) sameUtterance(sets [][]*dsl.Intent, report func(a, b *dsl.Intent) bool) {
	type pair struct{ a, b *dsl.Intent }
	seen := map[pair]bool{}
	for _, set := range sets {
		first := map[string]*dsl.Intent{}
		for _, in := range set {
			if in.Hints == nil {
				continue
			}
			for _, u := range in.Hints.Utterances {
				f, ok := first[u]
				if !ok {
					first[u] = in
					continue
				}
				if f == in || seen[pair{f, in}] || !report(f, in) {
					continue
				}
				seen[pair{f, in}] = true
				other := f.ID
				if fs := f.Turn.Scene.Conversation.Scenario; fs != in.Turn.Scene.Conversation.Scenario {
					other += " of scenario " + fs.Name
				}
				c.report(in.Pos, diag.CodeLintDuplicateUtter, "utterance %q of intent %s is also an utterance of intent %s, a candidate at the same time: the text interpreter cannot tell them apart",
					u, in.ID, other)
			}
		}
	}
}

// exprRef is an expression of the configuration and where it starts.
type exprRef struct {
	source string
	pos    string
	attrs  []expression.Attribute
	// exact: pos is where source's string starts, so offsets map inside it.
	exact bool
}

// exprs lists every expression and template of the configuration's scenarios.
func (c *checker) exprs() []exprRef {
	var out []exprRef
	conds := func(list []*dsl.Condition) {
		for _, cond := range list {
			out = append(out, exprRef{source: cond.Source, pos: cond.Pos, attrs: cond.Prog.Attributes(), exact: true})
		}
	}
	for _, s := range c.cfg.Scenarios {
		s.EachConditions(conds)
		s.EachIntent(func(in *dsl.Intent) {
			conds(in.Conditions)
			for _, call := range in.Actions {
				for _, m := range call.Inputs {
					if m.Prog != nil {
						out = append(out, exprRef{source: m.Prog.Source, pos: m.Pos, attrs: m.Prog.Attributes(), exact: m.Pos != ""})
					}
				}
				for _, m := range call.Outputs {
					if m.Prog != nil {
						out = append(out, exprRef{source: m.Prog.Source, pos: m.Pos, attrs: m.Prog.Attributes(), exact: m.Pos != ""})
					}
				}
			}
			if in.Message != nil {
				out = messageExprs(reflect.ValueOf(in.Message).Elem(), in.Pos, out)
			}
		})
	}
	return out
}

var templateType = reflect.TypeOf((*expression.Template)(nil))

// messageExprs finds every template of a message, whatever its fields: a
// template field X is positioned by a sibling XPos, else a sibling Pos, else
// by the nearest enclosing position.
func messageExprs(v reflect.Value, pos string, out []exprRef) []exprRef {
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if !v.IsNil() {
			return messageExprs(v.Elem(), pos, out)
		}
	case reflect.Slice, reflect.Array:
		for i := 0; i < v.Len(); i++ {
			out = messageExprs(v.Index(i), pos, out)
		}
	case reflect.Map:
		it := v.MapRange()
		for it.Next() {
			out = messageExprs(it.Value(), pos, out)
		}
	case reflect.Struct:
		t := v.Type()
		if f := v.FieldByName("Pos"); f.IsValid() && f.Kind() == reflect.String && f.String() != "" {
			pos = f.String()
		}
		for i := 0; i < t.NumField(); i++ {
			sf := t.Field(i)
			if !sf.IsExported() {
				continue
			}
			fv := v.Field(i)
			if sf.Type == templateType {
				if fv.IsNil() {
					continue
				}
				tpl := fv.Interface().(*expression.Template)
				r := exprRef{source: tpl.Source, pos: pos, attrs: tpl.Attributes()}
				if p := v.FieldByName(sf.Name + "Pos"); p.IsValid() && p.Kind() == reflect.String && p.String() != "" {
					r.pos, r.exact = p.String(), true
				}
				out = append(out, r)
				continue
			}
			out = messageExprs(fv, pos, out)
		}
	}
	return out
}

// namedGroups are the named groups of a pattern (interpreted attributes).
func namedGroups(re *regexp.Regexp) []string {
	var out []string
	for _, n := range re.SubexpNames() {
		if n != "" {
			out = append(out, n)
		}
	}
	return out
}

// attributes reports user and session attributes read but never declared or set.
func (c *checker) attributes() {
	known := map[dsl.Path]bool{{Context: "user", Name: "action_status"}: true}
	for _, s := range c.cfg.Scenarios {
		for name := range s.Attributes {
			known[dsl.Path{Context: "user", Name: name}] = true
			known[dsl.Path{Context: "session", Name: name}] = true
		}
		for _, a := range s.Actions {
			for _, o := range a.Outputs {
				known[dsl.Path{Context: "user", Name: o}] = true
			}
		}
		s.EachIntent(func(in *dsl.Intent) {
			for _, call := range in.Actions {
				for _, m := range call.Outputs {
					known[m.Target] = true
				}
			}
			for _, p := range in.ExpectedAttributes {
				known[p] = true
			}
			if in.Hints != nil {
				for _, re := range in.Hints.Patterns {
					for _, g := range namedGroups(re) {
						if p, ok := in.ExpectedAttributes[g]; ok {
							known[p] = true
						} else {
							known[dsl.Path{Context: "session", Name: g}] = true
						}
					}
				}
			}
		})
	}
	reported := map[string]bool{}
	for _, r := range c.exprs() {
		for _, a := range r.attrs {
			if a.Context != "user" && a.Context != "session" {
				continue
			}
			p := dsl.Path{Context: a.Context, Name: a.Name}
			if known[p] {
				continue
			}
			pos := r.pos
			if r.exact {
				pos = c.inner(r.pos, r.source, a.Offset)
			}
			if reported[pos+p.String()] {
				continue
			}
			reported[pos+p.String()] = true
			msg := fmt.Sprintf("%s is read but no scenario declares it, no action outputs it and no interpreter sets it", p)
			if s := suggest(p, known); s != "" {
				msg += fmt.Sprintf(" (did you mean %s?)", s)
			}
			c.report(pos, diag.CodeLintUnknownAttribute, "%s", msg)
		}
	}
}

// suggest returns the known attribute nearest to p, if near enough.
func suggest(p dsl.Path, known map[dsl.Path]bool) string {
	best, bestD := "", 0
	for k := range known {
		d := dsl.EditDistance(p.Name, k.Name)
		if k.Context != p.Context {
			d++
		}
		limit := max(2, len(p.Name)/3)
		if d > limit {
			continue
		}
		s := k.String()
		if best == "" || d < bestD || d == bestD && s < best {
			best, bestD = s, d
		}
	}
	return best
}
