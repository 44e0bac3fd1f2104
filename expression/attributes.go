package expression

import (
	"sort"

	"github.com/expr-lang/expr/ast"
)

// Attribute is a context attribute an expression reads by a constant name:
// Context.Name (user.full_name, output["eta"]). Offset is the byte offset of
// the context's name in the source handed to Compile or ParseTemplate.
type Attribute struct {
	Context string
	Name    string
	Offset  int
}

// Attributes returns the attributes the program reads by constant name, in
// source order. Reads by computed names (user[key]) are not among them.
func (p *Program) Attributes() []Attribute {
	if p == nil || p.prog == nil {
		return nil
	}
	node := p.prog.Node()
	var c attrCollector
	ast.Walk(&node, &c)
	out := c.attrs
	for i := range out {
		out[i].Offset = runeToByte(p.Source, out[i].Offset)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Offset < out[j].Offset })
	return out
}

// Attributes returns the attributes the template's expressions read, as
// Program.Attributes does, with offsets in the template's source.
func (t *Template) Attributes() []Attribute {
	if t == nil {
		return nil
	}
	var out []Attribute
	for _, p := range t.parts {
		if p.prog == nil {
			continue
		}
		for _, a := range p.prog.Attributes() {
			a.Offset += p.offset
			out = append(out, a)
		}
	}
	return out
}

type attrCollector struct{ attrs []Attribute }

func (c *attrCollector) Visit(n *ast.Node) {
	m, ok := (*n).(*ast.MemberNode)
	if !ok || m.Method {
		return
	}
	id, ok := m.Node.(*ast.IdentifierNode)
	if !ok {
		return
	}
	name, ok := m.Property.(*ast.StringNode)
	if !ok {
		return
	}
	c.attrs = append(c.attrs, Attribute{Context: id.Value, Name: name.Value, Offset: id.Location().From})
}
