package dsl

import (
	"bytes"
	"encoding/json"
	"fmt"
	"unicode/utf8"

	"cuelang.org/go/cue"
	"cuelang.org/go/cue/token"
)

// node is a place in the configuration: its value (with schema defaults)
// and its value in the user files (for positions and field order). Getters are
// lenient: a missing or ill-typed value reads as absent, because the schema
// validation has already reported it.
type node struct {
	l    *loader
	sels []cue.Selector
	uv   cue.Value // the value in the user files
}

func (n node) path() cue.Path { return cue.MakePath(n.sels...) }

func (n node) at(sel cue.Selector) node {
	s := make([]cue.Selector, len(n.sels), len(n.sels)+1)
	copy(s, n.sels)
	p := cue.MakePath(sel)
	return node{l: n.l, sels: append(s, sel), uv: n.uv.LookupPath(p)}
}

func (n node) field(name string) node { return n.at(cue.Str(name)) }
func (n node) index(i int) node       { return n.at(cue.Index(i)) }

func (n node) full() cue.Value { return n.l.full.LookupPath(n.path()) }
func (n node) user() cue.Value { return n.uv }

// exists reports whether the user files set this value.
func (n node) exists() bool { return n.user().Exists() }

// pos is the position of the value in the user files, or of its nearest parent.
func (n node) pos() token.Pos {
	if p := n.uv.Pos(); p.IsValid() {
		return p
	}
	for k := len(n.sels) - 1; k >= 0; k-- {
		if p := n.l.user.LookupPath(cue.MakePath(n.sels[:k]...)).Pos(); p.IsValid() {
			return p
		}
	}
	return token.NoPos
}

func (n node) posString() string {
	p := n.pos().Position()
	if p.Filename == "" {
		return ""
	}
	return fmt.Sprintf("%s:%d:%d", p.Filename, p.Line, p.Column)
}

// Scalars are read from the user files: reading them through the schema would
// evaluate the whole unified value again, and defaults are applied in Go.
func (n node) str() (string, bool) {
	s, err := n.user().String()
	return s, err == nil
}

func (n node) boolean(def bool) bool {
	if b, err := n.user().Bool(); err == nil {
		return b
	}
	return def
}

func (n node) float() (float64, bool) {
	f, err := n.user().Float64()
	if err != nil {
		if i, err2 := n.user().Int64(); err2 == nil {
			return float64(i), true
		}
	}
	return f, err == nil
}

// each calls fn for every element of a list value.
func (n node) each(fn func(i int, e node)) {
	it, err := n.user().List()
	if err != nil {
		return
	}
	for i := 0; it.Next(); i++ {
		fn(i, n.index(i))
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
	it, err := n.user().Fields()
	if err != nil {
		return
	}
	for it.Next() {
		name := it.Selector().Unquoted()
		fn(name, n.field(name))
	}
}

// json decodes the value (with defaults) as JSON-like Go values.
func (n node) json() (any, bool) {
	v := n.full()
	if v.Err() != nil {
		v = n.user()
	}
	b, err := v.MarshalJSON()
	if err != nil {
		return nil, false
	}
	return DecodeJSON(b)
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
// The value may be a quoted CUE or YAML string, a CUE multi-line string or a
// YAML block scalar; escapes are not accounted for.
func (n node) innerPos(offset int) token.Position {
	start := n.pos().Position()
	src, ok := n.l.sources[start.Filename]
	if !ok || start.Offset >= len(src) {
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
		i++
		col++
	}
	// Walk offset bytes of content; continuation lines share the first line's indentation.
	indent := col
	content, _ := n.str()
	if offset > len(content) {
		offset = len(content)
	}
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
