// Package format formats scenario files: CUE through cuelang.org/go/cue/format,
// YAML normalised (two-space indentation, keys unquoted where plain is the
// same key) with its comments kept. Formatting is idempotent and never changes
// what a file means: the result is checked against the source (the same YAML
// data, the same CUE syntax tree less positions) and an error is returned
// instead of a result that would differ.
package format

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"path"
	"reflect"
	"strings"

	cueast "cuelang.org/go/cue/ast"
	cueformat "cuelang.org/go/cue/format"
	"cuelang.org/go/cue/parser"
	"go.yaml.in/yaml/v3"
)

// Source returns src formatted; name's extension says whether it is CUE or YAML.
func Source(name string, src []byte) ([]byte, error) {
	var step func([]byte) ([]byte, error)
	var same func(a, b []byte) (bool, error)
	switch path.Ext(name) {
	case ".cue":
		step, same = formatCUE, sameCUE
	case ".yaml", ".yml":
		step, same = formatYAML, sameYAML
	default:
		return nil, fmt.Errorf("%s: not a CUE or YAML file", name)
	}
	out, err := step(src)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	// A second pass settles what the first moved (comments next to a moved
	// key); formatting must then be stable.
	for range 2 {
		again, err := step(out)
		if err != nil {
			return nil, fmt.Errorf("%s: formatting its own output: %w", name, err)
		}
		if bytes.Equal(again, out) {
			ok, err := same(src, out)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", name, err)
			}
			if !ok {
				return nil, fmt.Errorf("%s: formatting would change what the file means; left as it is", name)
			}
			return out, nil
		}
		out = again
	}
	return nil, fmt.Errorf("%s: formatting does not settle; left as it is", name)
}

func formatCUE(src []byte) ([]byte, error) {
	out, err := cueformat.Source(src)
	if err != nil {
		return nil, err
	}
	return out, nil
}

// sameCUE reports whether two CUE sources have the same syntax, ignoring
// positions and comments (the formatter moves only white space).
func sameCUE(a, b []byte) (bool, error) {
	fa, err := parser.ParseFile("a.cue", a)
	if err != nil {
		return false, err
	}
	fb, err := parser.ParseFile("b.cue", b)
	if err != nil {
		return false, fmt.Errorf("the formatted file does not parse: %w", err)
	}
	return reflect.DeepEqual(cueShape(fa), cueShape(fb)), nil
}

// cueShape lists the nodes of a CUE syntax tree with their literal text, in order.
func cueShape(f *cueast.File) []string {
	var out []string
	cueast.Walk(f, func(n cueast.Node) bool {
		switch x := n.(type) {
		case *cueast.CommentGroup, *cueast.Comment:
			return false
		case *cueast.BasicLit:
			out = append(out, fmt.Sprintf("lit %d %s", x.Kind, x.Value))
		case *cueast.Ident:
			out = append(out, "ident "+x.Name)
		case *cueast.BinaryExpr:
			out = append(out, "binary "+x.Op.String())
		case *cueast.UnaryExpr:
			out = append(out, "unary "+x.Op.String())
		default:
			out = append(out, fmt.Sprintf("%T", n))
		}
		return true
	}, nil)
	return out
}

// formatYAML re-encodes every document of src with two-space indentation,
// comments kept, keys plain where plain reads as the same string.
func formatYAML(src []byte) ([]byte, error) {
	dec := yaml.NewDecoder(bytes.NewReader(src))
	var docs []*yaml.Node
	for {
		var n yaml.Node
		err := dec.Decode(&n)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		docs = append(docs, &n)
	}
	if len(docs) == 0 {
		return src, nil // empty, or only comments
	}
	var b bytes.Buffer
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	for _, d := range docs {
		plainKeys(d)
		if err := enc.Encode(d); err != nil {
			return nil, err
		}
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// plainKeys drops the quotes of mapping keys; the encoder quotes again a key
// whose plain form would read as something else (true, 1, null ...).
func plainKeys(n *yaml.Node) {
	if n.Kind == yaml.MappingNode {
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i]
			if k.Kind == yaml.ScalarNode && k.Tag == "!!str" && !strings.ContainsAny(k.Value, "\n") &&
				(k.Style == yaml.DoubleQuotedStyle || k.Style == yaml.SingleQuotedStyle) {
				k.Style = 0
			}
		}
	}
	for _, c := range n.Content {
		plainKeys(c)
	}
}

// sameYAML reports whether two YAML sources hold the same data.
func sameYAML(a, b []byte) (bool, error) {
	da, err := yamlData(a)
	if err != nil {
		return false, err
	}
	db, err := yamlData(b)
	if err != nil {
		return false, fmt.Errorf("the formatted file does not parse: %w", err)
	}
	return reflect.DeepEqual(da, db), nil
}

func yamlData(src []byte) ([]any, error) {
	dec := yaml.NewDecoder(bytes.NewReader(src))
	var out []any
	for {
		var v any
		err := dec.Decode(&v)
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
}
