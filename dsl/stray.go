package dsl

import (
	"fmt"
	"strconv"
	"strings"

	"cuelang.org/go/cue"

	"github.com/parleyhq/parley/diag"
)

// strayFields reports every field of the user's files the schema does not
// allow that CUE's validation left unreported. CUE reports a closed
// struct's extra field only while the struct has no other error, so a
// field moved out of its parent in YAML ("message:" left empty, "text:"
// below it at the parent's level) used to show only the type conflict of
// the emptied parent, never the stray field.
func (l *loader) strayFields() {
	if l.tree == nil {
		return // CUE files with references: CUE's own report stands
	}
	reported := map[string]bool{}
	for _, d := range l.diags {
		if d.Code == diag.CodeFieldNotAllowed {
			reported[fmt.Sprintf("%s:%d:%d", d.File, d.Line, d.Col)] = true
		}
	}
	schema := l.full.LookupPath(cue.MakePath(cue.Def("#Config")))
	if !schema.Exists() {
		return
	}
	var walk func(t *tree, v cue.Value, names []string)
	walk = func(t *tree, v cue.Value, names []string) {
		switch t.kind {
		case cue.StructKind:
			if v.IncompleteKind() != cue.StructKind {
				return // a disjunction or any value: nothing to say
			}
			for _, f := range t.fields {
				c, ok := schemaField(v, f.name)
				if ok {
					walk(f.t, c, append(names[:len(names):len(names)], f.name))
					continue
				}
				if v.Allows(cue.Str(f.name)) {
					continue
				}
				p := f.t.pos.Position()
				key := fmt.Sprintf("%s:%d:%d", p.Filename, p.Line, p.Column)
				if reported[key] {
					continue
				}
				reported[key] = true
				msg := fmt.Sprintf("field %q not allowed", f.name)
				if len(names) > 0 {
					msg += " in " + strings.Join(names, ".")
				}
				if s := l.suggest(f.name); s != "" && s != f.name {
					msg += fmt.Sprintf(" (did you mean %q?)", s)
				} else if in := allowedInChild(v, t, f.name); in != "" {
					msg += fmt.Sprintf(" (%q allows it: is it indented too little?)", in)
				}
				l.errorf(f.t.pos, diag.CodeFieldNotAllowed, "%s", msg)
			}
		case cue.ListKind:
			e := v.LookupPath(cue.MakePath(cue.AnyIndex))
			if !e.Exists() {
				return
			}
			for i, x := range t.list {
				walk(x, e, append(names[:len(names):len(names)], strconv.Itoa(i)))
			}
		}
	}
	walk(l.tree, schema, nil)
}

// schemaField returns the schema of field name of the struct schema v: a
// declared field (regular, optional or required) or a pattern constraint.
func schemaField(v cue.Value, name string) (cue.Value, bool) {
	for _, sel := range []cue.Selector{cue.Str(name), cue.Str(name).Optional(), cue.Str(name).Required(), cue.AnyString} {
		if sel == cue.AnyString && !v.Allows(cue.Str(name)) {
			break
		}
		if c := v.LookupPath(cue.MakePath(sel)); c.Exists() {
			return c, true
		}
	}
	return cue.Value{}, false
}

// allowedInChild returns the name of a field of t, a sibling of a stray
// field, whose schema allows a field named name: where it probably belongs.
func allowedInChild(v cue.Value, t *tree, name string) string {
	for _, f := range t.fields {
		if f.name == name {
			continue
		}
		if c, ok := schemaField(v, f.name); ok && c.IncompleteKind()&cue.StructKind != 0 {
			if _, ok := schemaField(c, name); ok {
				return f.name
			}
		}
	}
	return ""
}
