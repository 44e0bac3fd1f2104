package dsl

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"cuelang.org/go/cue"
	"cuelang.org/go/cue/ast"
	"cuelang.org/go/cue/literal"
	"cuelang.org/go/cue/token"
)

// tree is the user files' unified value extracted once into Go values, so
// decoding never goes back to CUE (a cue.Value lookup builds an evaluation
// context each time, which dominated load time). Fields keep their declaration
// order.
type tree struct {
	kind   cue.Kind
	s      string
	b      bool
	f      float64
	isNum  bool
	fields []treeField
	index  map[string]int // field positions by name, for large structs
	list   []*tree
	pos    token.Pos // where the value is declared (a field's label for fields)
	vpos   token.Pos // where the value's own text starts (after the label)
	parent *tree
	sel    cue.Selector
}

// literal renders a scalar as CUE prints it in an error message, or "" for
// lists and structs.
func (t *tree) literal() string {
	switch {
	case t.kind == cue.StringKind:
		return strconv.Quote(t.s)
	case t.kind == cue.BoolKind:
		return strconv.FormatBool(t.b)
	case t.isNum:
		return strconv.FormatFloat(t.f, 'f', -1, 64)
	}
	return ""
}

type treeField struct {
	name string
	t    *tree
}

// extract walks v once. Missing and erroneous values are left as an empty tree.
func extract(v cue.Value, parent *tree, sel cue.Selector) *tree {
	t := &tree{parent: parent, sel: sel, pos: v.Pos()}
	t.vpos = t.pos
	if f, ok := v.Source().(*ast.Field); ok && f.Value != nil {
		if p := f.Value.Pos(); p.IsValid() {
			t.vpos = p
		}
	}
	t.kind = v.Kind()
	switch t.kind {
	case cue.StructKind:
		it, err := v.Fields()
		if err != nil {
			return t
		}
		for it.Next() {
			sel := it.Selector()
			t.add(sel.Unquoted(), extract(it.Value(), t, sel))
		}
	case cue.ListKind:
		it, err := v.List()
		if err != nil {
			return t
		}
		for i := 0; it.Next(); i++ {
			t.list = append(t.list, extract(it.Value(), t, cue.Index(i)))
		}
	case cue.StringKind:
		t.s, _ = v.String()
	case cue.BoolKind:
		t.b, _ = v.Bool()
	case cue.IntKind, cue.FloatKind, cue.NumberKind:
		if f, err := v.Float64(); err == nil {
			t.f, t.isNum = f, true
		} else if i, err := v.Int64(); err == nil {
			t.f, t.isNum = float64(i), true
		}
	}
	return t
}

// lookup returns the field name of a struct tree, or nil.
func (t *tree) lookup(name string) *tree {
	if t.index != nil {
		if i, ok := t.index[name]; ok {
			return t.fields[i].t
		}
		return nil
	}
	for _, f := range t.fields {
		if f.name == name {
			return f.t
		}
	}
	return nil
}

// add appends a field to a struct tree, indexing large structs.
func (t *tree) add(name string, c *tree) {
	t.fields = append(t.fields, treeField{name: name, t: c})
	switch {
	case t.index != nil:
		t.index[name] = len(t.fields) - 1
	case len(t.fields) > 16:
		t.index = make(map[string]int, 2*len(t.fields))
		for i, f := range t.fields {
			t.index[f.name] = i
		}
	}
}

// selectors returns the path of t from the root.
func (t *tree) selectors() []cue.Selector {
	var sels []cue.Selector
	for x := t; x != nil && x.parent != nil; x = x.parent {
		sels = append(sels, x.sel)
	}
	for i, j := 0, len(sels)-1; i < j; i, j = i+1, j-1 {
		sels[i], sels[j] = sels[j], sels[i]
	}
	return sels
}

// node is a place in the configuration: a tree value in the user files, for
// values, positions and field order; and, through its path, its value unified
// with the schema (with defaults), read only where a plugin needs it. Getters
// are lenient: a missing or ill-typed value reads as absent, because the
// schema validation has already reported it.
type node struct {
	l      *loader
	t      *tree // nil when the user files do not set this value
	parent *tree // the nearest existing ancestor, for positions
}

func (n node) at(sel cue.Selector) node {
	c := node{l: n.l, parent: n.t}
	if n.t == nil {
		c.parent = n.parent
		return c
	}
	switch sel.Type() {
	case cue.IndexLabel:
		if i := sel.Index(); i >= 0 && i < len(n.t.list) {
			c.t = n.t.list[i]
		}
	default:
		c.t = n.t.lookup(sel.Unquoted())
	}
	return c
}

func (n node) field(name string) node { return n.at(cue.Str(name)) }

// full is the value unified with the schema; it is only used where schema
// defaults matter (plugin configuration and global values).
func (n node) full() cue.Value {
	if n.t == nil {
		return cue.Value{}
	}
	return n.l.full.LookupPath(cue.MakePath(n.t.selectors()...))
}

// exists reports whether the user files set this value.
func (n node) exists() bool { return n.t != nil }

// pos is the position of the value in the user files (a field's label), or of its nearest parent.
func (n node) pos() token.Pos {
	if n.t != nil && n.t.pos.IsValid() {
		return n.t.pos
	}
	for p := n.parent; p != nil; p = p.parent {
		if p.pos.IsValid() {
			return p.pos
		}
	}
	return token.NoPos
}

// valuePos is the position where the value's text starts.
func (n node) valuePos() token.Pos {
	if n.t != nil && n.t.vpos.IsValid() {
		return n.t.vpos
	}
	return n.pos()
}

func (n node) posString() string {
	p := n.pos().Position()
	if p.Filename == "" {
		return ""
	}
	return fmt.Sprintf("%s:%d:%d", p.Filename, p.Line, p.Column)
}

// valuePosString is where the value's text starts, as file:line:col.
func (n node) valuePosString() string {
	p := n.valuePos().Position()
	if p.Filename == "" {
		return ""
	}
	return fmt.Sprintf("%s:%d:%d", p.Filename, p.Line, p.Column)
}

func (n node) str() (string, bool) {
	if n.t == nil || n.t.kind != cue.StringKind {
		return "", false
	}
	return n.t.s, true
}

func (n node) boolean(def bool) bool {
	if n.t == nil || n.t.kind != cue.BoolKind {
		return def
	}
	return n.t.b
}

func (n node) float() (float64, bool) {
	if n.t == nil || !n.t.isNum {
		return 0, false
	}
	return n.t.f, true
}

// each calls fn for every element of a list value.
func (n node) each(fn func(i int, e node)) {
	if n.t == nil {
		return
	}
	for i, e := range n.t.list {
		fn(i, node{l: n.l, t: e, parent: n.t})
	}
}

// strs returns a list of strings, each with its node.
func (n node) strs() ([]string, []node) {
	var out []string
	var nodes []node
	n.each(func(_ int, e node) {
		if s, ok := e.str(); ok {
			out = append(out, s)
			nodes = append(nodes, e)
		}
	})
	return out, nodes
}

// fields calls fn for every regular field of a struct value, in declaration order.
func (n node) fields(fn func(name string, f node)) {
	if n.t == nil {
		return
	}
	for _, f := range n.t.fields {
		fn(f.name, node{l: n.l, t: f.t, parent: n.t})
	}
}

// json decodes the value (with defaults) as JSON-like Go values.
func (n node) json() (any, bool) {
	if n.t == nil {
		return nil, false
	}
	v := n.full()
	if v.Err() != nil {
		return n.t.goValue(), true
	}
	b, err := v.MarshalJSON()
	if err != nil {
		return n.t.goValue(), true
	}
	return DecodeJSON(b)
}

// goValue converts the tree to JSON-like Go values.
func (t *tree) goValue() any {
	switch t.kind {
	case cue.StructKind:
		m := make(map[string]any, len(t.fields))
		for _, f := range t.fields {
			m[f.name] = f.t.goValue()
		}
		return m
	case cue.ListKind:
		l := make([]any, len(t.list))
		for i, e := range t.list {
			l[i] = e.goValue()
		}
		return l
	case cue.StringKind:
		return t.s
	case cue.BoolKind:
		return t.b
	case cue.IntKind:
		return int(t.f)
	case cue.FloatKind, cue.NumberKind:
		return t.f
	}
	return nil
}

// DecodeJSON decodes JSON into Go values, with integral numbers as int and
// other numbers as float64.
func DecodeJSON(b []byte) (any, bool) {
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return nil, false
	}
	return NormalizeNumbers(v), true
}

// NormalizeNumbers replaces json.Number values, recursively, by int when
// integral and float64 otherwise.
func NormalizeNumbers(v any) any {
	switch x := v.(type) {
	case json.Number:
		if i, err := x.Int64(); err == nil {
			return int(i)
		}
		f, _ := x.Float64()
		return f
	case map[string]any:
		for k, e := range x {
			x[k] = NormalizeNumbers(e)
		}
		return x
	case []any:
		for i, e := range x {
			x[i] = NormalizeNumbers(e)
		}
		return x
	}
	return v
}

// innerPos maps a byte offset inside the string value of n to a file position.
func (n node) innerPos(offset int) token.Position {
	content, _ := n.str()
	return StringPosition(n.l.sources[n.valuePos().Position().Filename], n.valuePos().Position(), content, offset)
}

// StringPosition maps a byte offset inside a string's content to a position in
// its file: start is where the string's literal starts in src, which may be a
// quoted CUE or YAML string, a CUE multi-line string or a YAML block scalar
// (escapes are not accounted for). With no source it returns start.
func StringPosition(src []byte, start token.Position, content string, offset int) token.Position {
	if start.Offset < 0 || start.Offset >= len(src) {
		return start
	}
	i := start.Offset
	line, col := start.Line, start.Column
	switch {
	case bytes.HasPrefix(src[i:], []byte(`"""`)), bytes.HasPrefix(src[i:], []byte(`'''`)),
		src[i] == '|' || src[i] == '>':
		// Content starts on the next line, after its indentation.
		nl := bytes.IndexByte(src[i:], '\n')
		if nl < 0 {
			return start
		}
		i += nl + 1
		line++
		col = 1
		for i < len(src) && (src[i] == ' ' || src[i] == '\t') {
			i++
			col++
		}
	case src[i] == '"' || src[i] == '\'':
		col++
	}
	// Walk offset bytes of content; continuation lines share the first line's indentation.
	indent := col
	offset = min(max(offset, 0), len(content))
	for _, r := range content[:offset] {
		if r == '\n' {
			line++
			col = indent
			continue
		}
		col += utf8.RuneLen(r)
	}
	return token.Position{Filename: start.Filename, Line: line, Column: col}
}

// plainTree builds the tree of a batch of files from their syntax, without
// evaluating CUE, when the files hold plain data only (struct, list and
// literal values; no references, expressions or constraints) and merging them
// needs no unification beyond joining structs. Otherwise it returns false and
// the caller extracts the tree from the evaluated value.
func plainTree(files []parsedFile) (*tree, bool) {
	root := &tree{kind: cue.StructKind}
	for _, f := range files {
		for _, d := range f.ast.Decls {
			switch x := d.(type) {
			case *ast.Package, *ast.CommentGroup, *ast.Attribute:
				continue
			case *ast.Field:
				if !plainField(root, x) {
					return nil, false
				}
			default:
				return nil, false
			}
		}
	}
	return root, true
}

// plainField adds field f to the struct tree parent, merging structs.
func plainField(parent *tree, f *ast.Field) bool {
	name := plainLabel(f.Label)
	if name == "" || f.Constraint != token.ILLEGAL || f.Value == nil {
		return false
	}
	if existing := parent.lookup(name); existing != nil {
		st, ok := f.Value.(*ast.StructLit)
		if !ok || existing.kind != cue.StructKind {
			return false // two values for one field: let CUE unify them
		}
		return plainStruct(existing, st)
	}
	t, ok := plainValue(f.Value, parent, cue.Str(name))
	if !ok {
		return false
	}
	t.pos = f.Pos()
	parent.add(name, t)
	return true
}

func plainStruct(t *tree, st *ast.StructLit) bool {
	for _, e := range st.Elts {
		switch x := e.(type) {
		case *ast.CommentGroup, *ast.Attribute:
			continue
		case *ast.Field:
			if !plainField(t, x) {
				return false
			}
		default:
			return false
		}
	}
	return true
}

func plainValue(e ast.Expr, parent *tree, sel cue.Selector) (*tree, bool) {
	t := &tree{parent: parent, sel: sel, pos: e.Pos(), vpos: e.Pos()}
	switch x := e.(type) {
	case *ast.StructLit:
		t.kind = cue.StructKind
		return t, plainStruct(t, x)
	case *ast.ListLit:
		t.kind = cue.ListKind
		for _, el := range x.Elts {
			c, ok := plainValue(el, t, cue.Index(len(t.list)))
			if !ok {
				return nil, false
			}
			t.list = append(t.list, c)
		}
		return t, true
	case *ast.UnaryExpr:
		// A signed number such as -1.
		lit, ok := x.X.(*ast.BasicLit)
		if !ok || (x.Op != token.SUB && x.Op != token.ADD) || (lit.Kind != token.INT && lit.Kind != token.FLOAT) {
			return nil, false
		}
		c, ok := plainValue(lit, parent, sel)
		if !ok {
			return nil, false
		}
		if x.Op == token.SUB {
			c.f = -c.f
		}
		c.pos, c.vpos = x.Pos(), x.Pos()
		return c, true
	case *ast.BasicLit:
		switch x.Kind {
		case token.STRING:
			if strings.HasPrefix(strings.TrimLeft(x.Value, "#"), "'") {
				return nil, false // bytes, not a string
			}
			s, err := literal.Unquote(x.Value)
			if err != nil {
				return nil, false
			}
			t.kind, t.s = cue.StringKind, s
		case token.TRUE, token.FALSE:
			t.kind, t.b = cue.BoolKind, x.Kind == token.TRUE
		case token.NULL:
			t.kind = cue.NullKind
		case token.INT, token.FLOAT:
			var n literal.NumInfo
			if err := literal.ParseNum(x.Value, &n); err != nil {
				return nil, false
			}
			f, err := strconv.ParseFloat(n.String(), 64)
			if err != nil {
				return nil, false
			}
			t.kind, t.f, t.isNum = cue.IntKind, f, true
			if x.Kind == token.FLOAT || !n.IsInt() {
				t.kind = cue.FloatKind
			}
		default:
			return nil, false
		}
		return t, true
	}
	return nil, false
}
