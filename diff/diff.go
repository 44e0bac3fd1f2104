// Package diff compares two compiled configurations semantically: the
// scenarios, conversations, scenes, turns, intents, actions, attributes and
// global values added, removed and changed, each changed field with its old
// and new value as written, and what became reachable or unreachable.
//
// Fields are compared generically (by reflection over the compiled types and
// over each action's configuration as written), so a field added to the DSL
// shows up in a diff without a change here. Positions, file names and the
// order of files take no part: moving text between files or reformatting it
// is no change. Templates are compared as written, so a resolved secret never
// appears.
package diff

import (
	"encoding/json"
	"fmt"
	"maps"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode"

	"github.com/parleyhq/parley/dsl"
	"github.com/parleyhq/parley/expression"
	"github.com/parleyhq/parley/graph"
	"github.com/parleyhq/parley/plugins"
)

// Kinds of change.
const (
	Added   = "added"
	Removed = "removed"
	Changed = "changed"
)

// What a change is about.
const (
	WhatScenario     = "scenario"
	WhatConversation = "conversation"
	WhatScene        = "scene"
	WhatTurn         = "turn"
	WhatIntent       = "intent"
	WhatAction       = "action"
	WhatAttribute    = "attribute"
	WhatGlobal       = "global"
)

// Field is one changed field: its path (message.buttons[0].text) and its
// values as written; an absent value is "".
type Field struct {
	Name string `json:"name"`
	Old  string `json:"old,omitempty"`
	New  string `json:"new,omitempty"`
}

// Change is one thing added, removed or changed.
type Change struct {
	Kind string `json:"kind"`
	What string `json:"what"`
	// Scenario is the scenario the change is in ("" for a global value).
	Scenario string `json:"scenario,omitempty"`
	// Path names the thing: conversation/scene/turn for a turn,
	// conversation/scene/turn/role/id for an intent, its name otherwise.
	Path string `json:"path"`
	// Name is the thing's own name or id.
	Name string `json:"name"`
	// Fields are the changed fields of a changed thing.
	Fields []Field `json:"fields,omitempty"`
	// Reachability, when it changed (or for an added intent or turn): "reachable" or "unreachable".
	Reachability string `json:"reachability,omitempty"`
	// Node is the intent's node id in the new graph (the old one when removed).
	Node string `json:"node,omitempty"`
	// Turn is the node id of the turn of an intent or turn, in the new graph (old when removed).
	Turn string `json:"turn,omitempty"`
}

// Report is the difference between two configurations.
type Report struct {
	Old     string   `json:"old"`
	New     string   `json:"new"`
	Changes []Change `json:"changes"`

	newGraph *graph.Graph
}

// Empty reports whether nothing changed.
func (r *Report) Empty() bool { return len(r.Changes) == 0 }

// Compare compares the configurations old and new; oldName and newName say
// where they come from.
func Compare(oldName string, old *dsl.Config, newName string, new *dsl.Config) *Report {
	r := &Report{Old: oldName, New: newName, Changes: []Change{}}
	og, ng := graph.New(old), graph.New(new)
	r.newGraph = ng
	c := &comparer{r: r, og: og, ng: ng}
	c.globals(old.Global, new.Global)
	names := map[string]bool{}
	for _, s := range old.Scenarios {
		names[s.Name] = true
	}
	for _, s := range new.Scenarios {
		names[s.Name] = true
	}
	for _, name := range slices.Sorted(maps.Keys(names)) {
		c.scenario(old.Scenario(name), new.Scenario(name), og.Scenario(name), ng.Scenario(name))
	}
	return r
}

type comparer struct {
	r      *Report
	og, ng *graph.Graph
}

func (c *comparer) add(ch Change) { c.r.Changes = append(c.r.Changes, ch) }

func (c *comparer) globals(old, new map[string]any) {
	keys := map[string]bool{}
	for k := range old {
		keys[k] = true
	}
	for k := range new {
		keys[k] = true
	}
	for _, k := range slices.Sorted(maps.Keys(keys)) {
		o, oOK := old[k]
		n, nOK := new[k]
		ch := Change{What: WhatGlobal, Path: k, Name: k}
		switch {
		case !oOK:
			ch.Kind = Added
		case !nOK:
			ch.Kind = Removed
		default:
			fields := compareFields(flatJSON(o), flatJSON(n))
			if len(fields) == 0 {
				continue
			}
			ch.Kind, ch.Fields = Changed, fields
		}
		c.add(ch)
	}
}

// flatJSON flattens a JSON-like value into field paths.
func flatJSON(v any) map[string]string {
	out := map[string]string{}
	flattenJSON("", v, out)
	return out
}

func (c *comparer) scenario(o, n *dsl.Scenario, og, ng *graph.Scenario) {
	name := ""
	if o != nil {
		name = o.Name
	} else {
		name = n.Name
	}
	// An added or removed scenario is compared with an empty one, so its parts are listed.
	switch {
	case o == nil:
		c.add(Change{Kind: Added, What: WhatScenario, Scenario: name, Path: name, Name: name, Fields: compareFields(nil, flatScenario(n))})
		o = &dsl.Scenario{Name: name}
	case n == nil:
		c.add(Change{Kind: Removed, What: WhatScenario, Scenario: name, Path: name, Name: name, Fields: compareFields(flatScenario(o), nil)})
		n = &dsl.Scenario{Name: name}
	default:
		if fields := compareFields(flatScenario(o), flatScenario(n)); len(fields) > 0 {
			c.add(Change{Kind: Changed, What: WhatScenario, Scenario: name, Path: name, Name: name, Fields: fields})
		}
	}
	// Attributes.
	for _, a := range unionKeys(o.Attributes, n.Attributes) {
		ot, oOK := o.Attributes[a]
		nt, nOK := n.Attributes[a]
		ch := Change{What: WhatAttribute, Scenario: name, Path: a, Name: a}
		switch {
		case !oOK:
			ch.Kind, ch.Fields = Added, []Field{{Name: "type", New: string(nt)}}
		case !nOK:
			ch.Kind, ch.Fields = Removed, []Field{{Name: "type", Old: string(ot)}}
		case ot != nt:
			ch.Kind, ch.Fields = Changed, []Field{{Name: "type", Old: string(ot), New: string(nt)}}
		default:
			continue
		}
		c.add(ch)
	}
	// Actions.
	for _, a := range unionKeys(o.Actions, n.Actions) {
		oa, na := o.Actions[a], n.Actions[a]
		ch := Change{What: WhatAction, Scenario: name, Path: a, Name: a}
		switch {
		case oa == nil:
			ch.Kind, ch.Fields = Added, compareFields(nil, flatAction(na))
		case na == nil:
			ch.Kind, ch.Fields = Removed, compareFields(flatAction(oa), nil)
		default:
			fields := compareFields(flatAction(oa), flatAction(na))
			if len(fields) == 0 {
				continue
			}
			ch.Kind, ch.Fields = Changed, fields
		}
		c.add(ch)
	}
	c.structure(name, o, n, og, ng)
}

// level is one conversation, scene or turn, or intent, keyed by its path.
type level struct {
	what   string
	path   string
	name   string
	fields map[string]string
	// gt is the graph turn (for turns and intents), gi the graph intent.
	gt *graph.Turn
	gi *graph.Intent
	// turn is the compiled turn of a turn.
	turn *dsl.Turn
	// unreachable: no conversation reaches a conversation or scene.
	unreachable bool
}

// levels lists the conversations, scenes, turns and intents of a scenario in declaration order.
func levels(s *dsl.Scenario, g *graph.Scenario) ([]string, map[string]*level) {
	var order []string
	m := map[string]*level{}
	put := func(l *level) {
		order = append(order, l.path)
		m[l.path] = l
	}
	for ci, conv := range s.Conversations {
		cp := conv.Name
		gc := g.Conversations[ci] // the graph keeps declaration order
		put(&level{what: WhatConversation, path: cp, name: conv.Name, fields: flatLevel(conv.Description, conv.Behaviors, conv.Conditions),
			unreachable: !gc.Reachable})
		for si, sc := range conv.Scenes {
			sp := cp + "/" + sc.Name
			put(&level{what: WhatScene, path: sp, name: sc.Name, fields: flatLevel(sc.Description, sc.Behaviors, sc.Conditions),
				unreachable: !gc.Scenes[si].Reachable})
			for _, t := range sc.Turns {
				tp := sp + "/" + t.Name
				f := flatLevel(t.Description, t.Behaviors, t.Conditions)
				if len(t.ValidOrigins) > 0 {
					f["valid_origins"] = quoteList(t.ValidOrigins)
				}
				put(&level{what: WhatTurn, path: tp, name: t.Name, fields: f, gt: g.Turn(t), turn: t})
				for _, role := range []struct {
					name string
					list []*dsl.Intent
				}{{"request", t.Request}, {"response", t.Response}} {
					seen := map[string]int{}
					for _, in := range role.list {
						ip := tp + "/" + role.name + "/" + in.ID
						if seen[in.ID]++; seen[in.ID] > 1 {
							ip += "#" + strconv.Itoa(seen[in.ID])
						}
						put(&level{what: WhatIntent, path: ip, name: in.ID, fields: flatIntent(in), gt: g.Turn(t), gi: g.Intent(in)})
					}
				}
			}
		}
	}
	return order, m
}

// structure compares conversations, scenes, turns and intents.
func (c *comparer) structure(name string, o, n *dsl.Scenario, og, ng *graph.Scenario) {
	oOrder, om := levels(o, og)
	nOrder, nm := levels(n, ng)
	// Removed things of the old order first where they were, then the new order.
	done := map[string]bool{}
	emit := func(p string) {
		if done[p] {
			return
		}
		done[p] = true
		ol, nl := om[p], nm[p]
		switch {
		case ol == nil:
			// An added thing lists its fields, and its parts follow it.
			ch := Change{Kind: Added, What: nl.what, Scenario: name, Path: p, Name: nl.name, Fields: compareFields(nil, nl.fields)}
			fill(&ch, nl)
			if !reachable(nl) {
				ch.Reachability = "unreachable"
			}
			c.add(ch)
		case nl == nil:
			ch := Change{Kind: Removed, What: ol.what, Scenario: name, Path: p, Name: ol.name, Fields: compareFields(ol.fields, nil)}
			fill(&ch, ol)
			c.add(ch)
		default:
			fields := compareFields(ol.fields, nl.fields)
			if ol.turn != nil && nl.turn != nil {
				fields = append(fields, orderFields("request order", ol.turn.Request, nl.turn.Request)...)
				fields = append(fields, orderFields("response order", ol.turn.Response, nl.turn.Response)...)
			}
			ch := Change{Kind: Changed, What: nl.what, Scenario: name, Path: p, Name: nl.name, Fields: fields}
			fill(&ch, nl)
			or, nr := reachable(ol), reachable(nl)
			if or != nr {
				ch.Reachability = "unreachable"
				if nr {
					ch.Reachability = "reachable"
				}
			}
			if len(fields) == 0 && ch.Reachability == "" {
				return
			}
			c.add(ch)
		}
	}
	for _, p := range nOrder {
		emit(p)
	}
	for _, p := range oOrder {
		emit(p)
	}
}

func reachable(l *level) bool {
	if l.unreachable {
		return false
	}
	if l.gi != nil {
		return l.gi.Reachable
	}
	if l.gt != nil && l.what == WhatTurn {
		return l.gt.Reachable
	}
	return true
}

func fill(ch *Change, l *level) {
	if l.gi != nil {
		ch.Node = l.gi.ID
	}
	if l.gt != nil {
		ch.Turn = l.gt.ID
	}
}

func unionKeys[V any](a, b map[string]V) []string {
	keys := map[string]bool{}
	for k := range a {
		keys[k] = true
	}
	for k := range b {
		keys[k] = true
	}
	return slices.Sorted(maps.Keys(keys))
}

// compareFields returns the fields whose values differ, in name order.
func compareFields(old, new map[string]string) []Field {
	var out []Field
	for _, k := range unionKeys(old, new) {
		if old[k] != new[k] {
			out = append(out, Field{Name: k, Old: old[k], New: new[k]})
		}
	}
	return out
}

// quoteList renders a list of strings as JSON.
func quoteList(list []string) string { return jsonText(list) }

// orderFields reports a change of order among the intents both lists hold
// (order decides among app intents and breaks ties among user intents).
func orderFields(name string, old, new []*dsl.Intent) []Field {
	inOld, inNew := map[string]bool{}, map[string]bool{}
	for _, in := range old {
		inOld[in.ID] = true
	}
	for _, in := range new {
		inNew[in.ID] = true
	}
	var o, n []string
	for _, in := range old {
		if inNew[in.ID] {
			o = append(o, in.ID)
		}
	}
	for _, in := range new {
		if inOld[in.ID] {
			n = append(n, in.ID)
		}
	}
	if slices.Equal(o, n) {
		return nil
	}
	return []Field{{Name: name, Old: strings.Join(o, ", "), New: strings.Join(n, ", ")}}
}

func behaviorList(b dsl.Behaviors) string {
	names := b.Names()
	if len(names) == 0 {
		return ""
	}
	return quoteList(names)
}

func conditionList(conds []*dsl.Condition) string {
	if len(conds) == 0 {
		return ""
	}
	src := make([]string, len(conds))
	for i, c := range conds {
		src[i] = c.Source
	}
	return quoteList(src)
}

func flatLevel(desc string, b dsl.Behaviors, conds []*dsl.Condition) map[string]string {
	out := map[string]string{}
	if desc != "" {
		out["description"] = desc
	}
	if s := behaviorList(b); s != "" {
		out["behaviors"] = s
	}
	if s := conditionList(conds); s != "" {
		out["conditions"] = s
	}
	return out
}

func flatScenario(s *dsl.Scenario) map[string]string {
	out := flatLevel(s.Description, 0, s.Conditions)
	out["active"] = strconv.FormatBool(s.Active)
	out["interpreter"] = s.Interpreter
	return out
}

func flatAction(a *dsl.Action) map[string]string {
	out := map[string]string{"kind": a.Kind, "active": strconv.FormatBool(a.Active)}
	if len(a.Inputs) > 0 {
		out["inputs"] = quoteList(a.Inputs)
	}
	if len(a.Outputs) > 0 {
		out["outputs"] = quoteList(a.Outputs)
	}
	if len(a.Config) > 0 {
		var v any
		if err := json.Unmarshal(a.Config, &v); err == nil {
			flattenJSON(a.Kind, v, out)
		}
	}
	return out
}

// flatIntent flattens an intent's fields, whatever they are, except its id,
// role, turn and positions (which make up its identity or change with moves).
func flatIntent(in *dsl.Intent) map[string]string {
	out := map[string]string{}
	v := reflect.ValueOf(in).Elem()
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		sf := t.Field(i)
		switch sf.Name {
		case "ID", "Turn", "Role":
			continue
		case "Hints":
			// The interpreter hints: utterances (normalised) and patterns.
			if h := in.Hints; h != nil {
				if len(h.Utterances) > 0 {
					out["utterances"] = quoteList(h.Utterances)
				}
				if len(h.Patterns) > 0 {
					ps := make([]string, len(h.Patterns))
					for i, p := range h.Patterns {
						ps[i] = p.String()
					}
					out["patterns"] = quoteList(ps)
				}
			}
			continue
		}
		if !sf.IsExported() || isPos(sf) {
			continue
		}
		flatten(snake(sf.Name), v.Field(i), out)
	}
	return out
}

// isPos reports whether a field holds a position (Pos, TextPos, OriginPos ...).
func isPos(sf reflect.StructField) bool {
	if !strings.HasSuffix(sf.Name, "Pos") {
		return false
	}
	k := sf.Type.Kind()
	return k == reflect.String || k == reflect.Slice && sf.Type.Elem().Kind() == reflect.String
}

var (
	templateType  = reflect.TypeOf((*expression.Template)(nil))
	programType   = reflect.TypeOf((*expression.Program)(nil))
	conditionType = reflect.TypeOf((*dsl.Condition)(nil))
	regexpType    = reflect.TypeOf((*regexp.Regexp)(nil))
	actionType    = reflect.TypeOf((*dsl.Action)(nil))
	convType      = reflect.TypeOf((*dsl.Conversation)(nil))
	sceneType     = reflect.TypeOf((*dsl.Scene)(nil))
	turnType      = reflect.TypeOf((*dsl.Turn)(nil))
	intentType    = reflect.TypeOf((*dsl.Intent)(nil))
	pathType      = reflect.TypeOf(dsl.Path{})
	behaviorsType = reflect.TypeOf(dsl.Behaviors(0))
	rawType       = reflect.TypeOf(json.RawMessage(nil))
	inputType     = reflect.TypeOf(dsl.InputMapping{})
	outputType    = reflect.TypeOf(dsl.OutputMapping{})
)

// flatten writes the leaves of v under prefix: expressions and templates as
// written, references to other parts by name, and any other value by its
// fields, elements or keys. Zero values are left out, so absent and empty agree.
func flatten(prefix string, v reflect.Value, out map[string]string) {
	if !v.IsValid() {
		return
	}
	switch v.Type() {
	case templateType:
		if !v.IsNil() {
			out[prefix] = v.Interface().(*expression.Template).Source
		}
		return
	case programType:
		if !v.IsNil() {
			out[prefix] = v.Interface().(*expression.Program).Source
		}
		return
	case conditionType:
		if !v.IsNil() {
			out[prefix] = v.Interface().(*dsl.Condition).Source
		}
		return
	case regexpType:
		if !v.IsNil() {
			out[prefix] = v.Interface().(*regexp.Regexp).String()
		}
		return
	case actionType:
		if !v.IsNil() {
			out[prefix] = v.Interface().(*dsl.Action).Name
		}
		return
	case convType:
		if !v.IsNil() {
			out[prefix] = v.Interface().(*dsl.Conversation).Name
		}
		return
	case sceneType:
		if !v.IsNil() {
			s := v.Interface().(*dsl.Scene)
			out[prefix] = s.Conversation.Name + "/" + s.Name
		}
		return
	case turnType:
		if !v.IsNil() {
			t := v.Interface().(*dsl.Turn)
			out[prefix] = t.Scene.Conversation.Name + "/" + t.Scene.Name + "/" + t.Name
		}
		return
	case intentType:
		if !v.IsNil() {
			out[prefix] = v.Interface().(*dsl.Intent).ID
		}
		return
	case pathType:
		if p := v.Interface().(dsl.Path); p != (dsl.Path{}) {
			out[prefix] = p.String()
		}
		return
	case behaviorsType:
		if s := behaviorList(v.Interface().(dsl.Behaviors)); s != "" {
			out[prefix] = s
		}
		return
	case rawType:
		var x any
		if json.Unmarshal(v.Bytes(), &x) == nil {
			flattenJSON(prefix, x, out)
		}
		return
	}
	switch v.Kind() {
	case reflect.Pointer:
		if !v.IsNil() {
			flatten(prefix, v.Elem(), out)
		}
	case reflect.Interface:
		// A plugin's compiled action is an implementation, not configuration.
		if !v.IsNil() {
			if _, impl := v.Interface().(plugins.Action); !impl {
				flatten(prefix, v.Elem(), out)
			}
		}
	case reflect.Func, reflect.Chan, reflect.UnsafePointer:
		// Not configuration.
	case reflect.Struct:
		t := v.Type()
		for i := 0; i < t.NumField(); i++ {
			sf := t.Field(i)
			if !sf.IsExported() || isPos(sf) {
				continue
			}
			flatten(join(prefix, snake(sf.Name)), v.Field(i), out)
		}
	case reflect.Slice, reflect.Array:
		if v.Len() == 0 {
			return
		}
		switch v.Type().Elem() {
		case inputType:
			// Input mappings by input name: the expression, or where a default reads from.
			for i := 0; i < v.Len(); i++ {
				m := v.Index(i).Interface().(dsl.InputMapping)
				val := "(default) " + m.From.String()
				if m.Prog != nil {
					val = m.Prog.Source
				}
				out[prefix+"."+m.Name] = val
			}
			return
		case outputType:
			// Output mappings by target: the expression, or the output a default writes.
			for i := 0; i < v.Len(); i++ {
				m := v.Index(i).Interface().(dsl.OutputMapping)
				val := "(default) output." + m.From
				if m.Prog != nil {
					val = m.Prog.Source
				}
				out[prefix+"."+m.Target.String()] = val
			}
			return
		}
		if k := v.Type().Elem().Kind(); k == reflect.String || k == reflect.Bool || k >= reflect.Int && k <= reflect.Float64 {
			out[prefix] = jsonText(v.Interface())
			return
		}
		for i := 0; i < v.Len(); i++ {
			flatten(prefix+"["+strconv.Itoa(i)+"]", v.Index(i), out)
		}
	case reflect.Map:
		keys := v.MapKeys()
		slices.SortFunc(keys, func(a, b reflect.Value) int { return strings.Compare(fmt.Sprint(a), fmt.Sprint(b)) })
		for _, k := range keys {
			flatten(prefix+"."+fmt.Sprint(k), v.MapIndex(k), out)
		}
	case reflect.String:
		if v.String() != "" {
			out[prefix] = v.String()
		}
	case reflect.Bool:
		if v.Bool() {
			out[prefix] = "true"
		}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		if v.Int() != 0 {
			out[prefix] = strconv.FormatInt(v.Int(), 10)
		}
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		if v.Uint() != 0 {
			out[prefix] = strconv.FormatUint(v.Uint(), 10)
		}
	case reflect.Float32, reflect.Float64:
		if v.Float() != 0 {
			out[prefix] = strconv.FormatFloat(v.Float(), 'g', -1, 64)
		}
	default:
		out[prefix] = fmt.Sprint(v.Interface())
	}
}

// flattenJSON flattens a decoded JSON value: objects by key, lists of
// scalars as one JSON value, other lists by index.
func flattenJSON(prefix string, v any, out map[string]string) {
	switch x := v.(type) {
	case map[string]any:
		for _, k := range slices.Sorted(maps.Keys(x)) {
			flattenJSON(join(prefix, k), x[k], out)
		}
	case []any:
		scalars := true
		for _, e := range x {
			switch e.(type) {
			case map[string]any, []any:
				scalars = false
			}
		}
		if scalars {
			out[prefix] = jsonText(x)
			return
		}
		for i, e := range x {
			flattenJSON(prefix+"["+strconv.Itoa(i)+"]", e, out)
		}
	case string:
		out[prefix] = x
	case nil:
		out[prefix] = "null"
	default:
		out[prefix] = jsonText(x)
	}
}

// jsonText renders v as JSON, without escaping <, > and &.
func jsonText(v any) string {
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return fmt.Sprint(v)
	}
	return strings.TrimSuffix(b.String(), "\n")
}

func join(prefix, name string) string {
	if prefix == "" {
		return name
	}
	return prefix + "." + name
}

// snake converts a Go field name to the DSL's snake_case (ExpectedAttributes -> expected_attributes).
func snake(s string) string {
	var b strings.Builder
	rs := []rune(s)
	for i, r := range rs {
		if unicode.IsUpper(r) {
			if i > 0 && (unicode.IsLower(rs[i-1]) || i+1 < len(rs) && unicode.IsLower(rs[i+1])) {
				b.WriteByte('_')
			}
			b.WriteRune(unicode.ToLower(r))
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}
