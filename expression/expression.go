// Package expression compiles and runs Parley's expressions: expr-lang
// programs over the conversation contexts, and message templates that
// interpolate {{ expression }}.
//
// Everything is compiled once, at load time, against a typed environment;
// a compiled Program is immutable and safe for concurrent use. Evaluation
// takes an environment map built per turn and never shared between goroutines.
package expression

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/file"
	"github.com/expr-lang/expr/types"
	"github.com/expr-lang/expr/vm"
)

// Kind is what an expression must produce.
type Kind int

const (
	// Value expressions may produce any value (input and output mappings).
	Value Kind = iota
	// Bool expressions must produce a boolean (conditions, success checks).
	Bool
)

// Error codes of a compile error; equal to the diagnostic codes of package diag.
const (
	CodeSyntax  = "expr.syntax"
	CodeType    = "expr.type"
	CodeUnknown = "expr.unknown_name"
)

// Error is an expression that failed to compile. Offset is the byte offset of
// the problem inside the source text handed to Compile or ParseTemplate.
type Error struct {
	Offset  int
	Code    string
	Message string
}

func (e *Error) Error() string { return e.Message }

// Env is a typed environment: the variables an expression may name, with their types.
type Env = types.Map

// Common types for building an Env.
var (
	Any     = types.Any
	String  = types.String
	Int     = types.Int
	Float   = types.Float64
	Boolean = types.Bool
)

// Open returns a map type with the given typed keys that also allows any other key (typed any).
func Open(fields map[string]types.Type) types.Map {
	m := types.Map{types.Extra: types.Any}
	for k, v := range fields {
		m[k] = v
	}
	return m
}

// Program is a compiled expression. It is immutable and safe to share.
type Program struct {
	Source string
	prog   *vm.Program
	names  []string
}

// Names returns the names the program reads from its environment, sorted:
// every identifier in it (a name it binds itself may be among them), and
// "$env" when it reads the environment as a whole. An evaluator may leave
// out of the environment what no program it runs names.
func (p *Program) Names() []string { return p.names }

// identifiers lists the identifiers of an expression's syntax tree, sorted, without repeats.
func identifiers(node ast.Node) []string {
	var c identCollector
	ast.Walk(&node, &c)
	slices.Sort(c.names)
	return slices.Compact(c.names)
}

type identCollector struct{ names []string }

func (c *identCollector) Visit(n *ast.Node) {
	if id, ok := (*n).(*ast.IdentifierNode); ok {
		c.names = append(c.names, id.Value)
	}
}

// Compile compiles src against env. Errors are *Error values with the offset of the problem in src.
func Compile(src string, env Env, kind Kind) (*Program, error) {
	opts := []expr.Option{expr.Env(env)}
	if kind == Bool {
		opts = append(opts, expr.AsBool())
	}
	p, err := expr.Compile(src, opts...)
	if err != nil {
		return nil, convert(src, err)
	}
	return &Program{Source: src, prog: p, names: identifiers(p.Node())}, nil
}

// vms recycles expr-lang's virtual machines (and their stacks) between runs.
var vms = sync.Pool{New: func() any { return new(vm.VM) }}

// Run evaluates the program against env.
func (p *Program) Run(env map[string]any) (any, error) {
	vmach := vms.Get().(*vm.VM)
	out, err := vmach.Run(p.prog, env)
	// Keep no values of env alive in the pool.
	clear(vmach.Stack[:cap(vmach.Stack)])
	clear(vmach.Variables)
	clear(vmach.Scopes[:cap(vmach.Scopes)])
	vms.Put(vmach)
	if err != nil {
		return nil, fmt.Errorf("evaluating %q: %s", p.Source, firstLine(err.Error()))
	}
	return out, nil
}

// RunBool evaluates a Bool program. A nil result counts as false.
func (p *Program) RunBool(env map[string]any) (bool, error) {
	out, err := p.Run(env)
	if err != nil {
		return false, err
	}
	b, _ := out.(bool)
	return b, nil
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

// convert turns an expr-lang compile error into an *Error with a byte offset.
func convert(src string, err error) *Error {
	var fe *file.Error
	if !errors.As(err, &fe) {
		// expr reports a result of the wrong kind (AsBool) without a location.
		msg := firstLine(err.Error())
		if strings.HasPrefix(msg, "expected bool") {
			return &Error{Code: CodeType, Message: msg}
		}
		return &Error{Code: CodeSyntax, Message: msg}
	}
	msg := fe.Message
	code := CodeType
	switch {
	case strings.HasPrefix(msg, "unknown name"), strings.Contains(msg, "has no field"), strings.HasPrefix(msg, "unknown field"):
		code = CodeUnknown
	case strings.HasPrefix(msg, "unexpected token"), strings.HasPrefix(msg, "unexpected"), strings.Contains(msg, "expected"),
		strings.Contains(msg, "unterminated"), strings.Contains(msg, "unrecognized character"), strings.Contains(msg, "invalid"):
		code = CodeSyntax
	}
	if strings.HasPrefix(msg, "expected bool") || strings.Contains(msg, "mismatched types") || strings.Contains(msg, "invalid operation") {
		code = CodeType
	}
	return &Error{Offset: runeToByte(src, fe.From), Code: code, Message: msg}
}

func runeToByte(s string, runes int) int {
	if runes <= 0 {
		return 0
	}
	n := 0
	for i := range s {
		if n == runes {
			return i
		}
		n++
	}
	return len(s)
}
