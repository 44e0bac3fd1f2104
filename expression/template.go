package expression

import (
	"encoding/json"
	"slices"
	"strconv"
	"strings"
)

// Template is text with {{ expression }} interpolations, compiled once.
type Template struct {
	Source string
	parts  []part
	names  []string
}

// Names returns the names the template's expressions read, as Program.Names does.
func (t *Template) Names() []string { return t.names }

type part struct {
	text   string
	prog   *Program // nil for literal text
	offset int      // where prog's source starts in the template's source
}

// IsTemplate reports whether s interpolates any expression.
func IsTemplate(s string) bool { return strings.Contains(s, "{{") }

// ParseTemplate compiles every {{ expression }} of src against env.
// All problems are returned, joined; each is an *Error whose offset is in src.
func ParseTemplate(src string, env Env) (*Template, []*Error) {
	t := &Template{Source: src}
	var errs []*Error
	rest, base := src, 0
	for {
		i := strings.Index(rest, "{{")
		if i < 0 {
			if rest != "" {
				t.parts = append(t.parts, part{text: rest})
			}
			break
		}
		if i > 0 {
			t.parts = append(t.parts, part{text: rest[:i]})
		}
		j := strings.Index(rest[i+2:], "}}")
		if j < 0 {
			errs = append(errs, &Error{Offset: base + i, Code: "template.syntax", Message: "unterminated {{ in template"})
			break
		}
		inner := rest[i+2 : i+2+j]
		lead := len(inner) - len(strings.TrimLeft(inner, " \t"))
		code := strings.TrimSpace(inner)
		if code == "" {
			errs = append(errs, &Error{Offset: base + i, Code: CodeSyntax, Message: "empty {{ }} in template"})
		} else if p, err := Compile(code, env, Value); err != nil {
			e := err.(*Error)
			e.Offset += base + i + 2 + lead
			errs = append(errs, e)
		} else {
			t.parts = append(t.parts, part{prog: p, offset: base + i + 2 + lead})
		}
		adv := i + 2 + j + 2
		rest, base = rest[adv:], base+adv
	}
	for _, p := range t.parts {
		if p.prog != nil {
			t.names = append(t.names, p.prog.names...)
		}
	}
	slices.Sort(t.names)
	t.names = slices.Compact(t.names)
	return t, errs
}

// Render evaluates the template. An expression that fails or yields nil renders
// as empty text: a missing attribute is never an error shown to a user. The
// returned error, if any, reports the first failure for the trace.
func (t *Template) Render(env map[string]any) (string, error) {
	if len(t.parts) == 1 && t.parts[0].prog == nil {
		return t.parts[0].text, nil
	}
	// Render every part, then join them in one allocation.
	var buf [8]string
	texts, n := buf[:0], 0
	var first error
	for _, p := range t.parts {
		s := p.text
		if p.prog != nil {
			v, err := p.prog.Run(env)
			if err != nil && first == nil {
				first = err
			}
			s = Format(v) // "" after an error
		}
		texts, n = append(texts, s), n+len(s)
	}
	if len(texts) == 1 {
		return texts[0], first
	}
	var b strings.Builder
	b.Grow(n)
	for _, s := range texts {
		b.WriteString(s)
	}
	return b.String(), first
}

// Format renders a value as text: strings as they are, nil as empty, numbers
// and booleans in Go's plain form, and lists and maps as JSON.
func Format(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case bool:
		return strconv.FormatBool(x)
	case int:
		return strconv.Itoa(x)
	case int64:
		return strconv.FormatInt(x, 10)
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case json.Number:
		return x.String()
	default:
		b, err := json.Marshal(x)
		if err != nil {
			return ""
		}
		return string(b)
	}
}
