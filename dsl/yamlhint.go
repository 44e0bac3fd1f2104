package dsl

import (
	"bytes"
	"fmt"
	"regexp"
	"strings"

	"github.com/parleyhq/parley/diag"
)

// unquotedTemplate finds a YAML value that starts with "{{" without quotes:
// YAML reads it as a flow mapping, not as text.
var unquotedTemplate = regexp.MustCompile(`^(\s*(?:-\s+)?[^\s#'"-][^#'"]*?:\s+|\s*-\s+)\{\{`)

// yamlKeyLine matches a line that holds a mapping key ("name:" or "name: value").
var yamlKeyLine = regexp.MustCompile(`^(?:-\s+)?[^\s#'"{[][^#]*?:(?:\s|$)`)

// improveYAMLSyntax points a YAML syntax diagnostic at the line the user
// must fix. The YAML parser reports some errors at the line of the
// enclosing block rather than the wrong one: an unquoted {{ }} template
// (read as a flow mapping) and a line indented to no enclosing level.
func improveYAMLSyntax(d diag.Diagnostic, data []byte) diag.Diagnostic {
	lines := strings.Split(string(data), "\n")
	// Only the block the parser points at is searched: a problem further
	// down is a later one, and the first stays first.
	end := blockEnd(lines, d.Line)
	for i, line := range lines[:end] {
		if i+1 < d.Line {
			continue
		}
		if m := unquotedTemplate.FindStringSubmatchIndex(line); m != nil {
			val := strings.TrimSpace(line[m[3]:])
			d.Line, d.Col = i+1, m[3]+1
			d.Message += fmt.Sprintf("; a value that starts with {{ must be quoted in YAML: write %q", val)
			return d
		}
	}
	if line, col, why, ok := yamlIndentProblem(lines[:end], d.Line); ok {
		d.Line, d.Col = line, col
		d.Message = fmt.Sprintf("%s: this line is indented %d space(s), %s", d.Message, col-1, why)
	}
	return d
}

// blockEnd returns the index of the first line after line (1-based) that is
// indented no deeper than it, where the block that starts at line ends.
func blockEnd(lines []string, line int) int {
	if line < 1 || line > len(lines) {
		return len(lines)
	}
	indent := func(s string) int { return len(s) - len(strings.TrimLeft(s, " ")) }
	first := lines[line-1]
	for i := line; i < len(lines); i++ {
		t := strings.TrimSpace(lines[i])
		if t == "" || strings.HasPrefix(t, "#") {
			continue
		}
		if indent(lines[i]) <= indent(first) && !strings.HasPrefix(t, "- ") {
			return i
		}
	}
	return len(lines)
}

// yamlIndentProblem finds the first line, from line from (1-based) on, whose
// indentation matches no enclosing block: less indented than its
// predecessor but not as far back as an enclosing level, or a key more
// indented than the line before it, which opens no block. It returns the
// line and column and what is wrong, in words.
func yamlIndentProblem(lines []string, from int) (line, col int, why string, ok bool) {
	stack := []int{0}
	opened := false // the previous line opens a block (ends with ":" or is a bare "-")
	scalar := -1    // inside a block scalar (| or >) of a key at this indent
	flowDepth := 0  // inside a multi-line flow collection or quoted string
	for n, raw := range lines {
		trimmed := strings.TrimSpace(raw)
		if trimmed == "" || strings.HasPrefix(trimmed, "#") || trimmed == "---" || trimmed == "..." {
			continue
		}
		indent := len(raw) - len(strings.TrimLeft(raw, " "))
		if scalar >= 0 {
			if indent > scalar {
				continue
			}
			scalar = -1
		}
		if flowDepth > 0 {
			flowDepth += bracketDepth(trimmed)
			continue
		}
		top := stack[len(stack)-1]
		switch {
		case indent > top:
			if !opened && yamlKeyLine.MatchString(trimmed) && n+1 >= from {
				return n + 1, indent + 1, "deeper than the line above, which opens no block (a key that has a value cannot hold more keys)", true
			}
			if opened {
				stack = append(stack, indent)
			}
		case indent < top:
			levels := describeLevels(stack)
			for len(stack) > 1 && stack[len(stack)-1] > indent {
				stack = stack[:len(stack)-1]
			}
			if stack[len(stack)-1] != indent && n+1 >= from {
				return n + 1, indent + 1, "which matches no enclosing block (the blocks above start at " + levels + ")", true
			}
		}
		content := trimmed
		// A list item: its content is a block at the item's column plus two.
		for strings.HasPrefix(content, "- ") || content == "-" {
			if stack[len(stack)-1] != indent {
				stack = append(stack, indent)
			}
			rest := strings.TrimLeft(strings.TrimPrefix(content, "-"), " ")
			indent += len(content) - len(rest)
			content = rest
			if content != "" {
				stack = append(stack, indent)
			}
		}
		value := content
		if i := strings.Index(content, ": "); i >= 0 {
			value = strings.TrimSpace(content[i+1:])
		} else if strings.HasSuffix(content, ":") {
			value = ""
		}
		if j := strings.Index(value, " #"); j >= 0 {
			value = strings.TrimSpace(value[:j])
		}
		opened = content == "" || (value == "" && strings.HasSuffix(content, ":"))
		if strings.HasPrefix(value, "|") || strings.HasPrefix(value, ">") {
			scalar = stack[len(stack)-1]
		}
		flowDepth = bracketDepth(value)
	}
	return 0, 0, "", false
}

// bracketDepth is how many flow brackets or quotes a YAML value leaves open.
func bracketDepth(s string) int {
	depth := 0
	var quote byte
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '"' || c == '\'':
			if i == 0 || s[i-1] == ' ' || s[i-1] == '[' || s[i-1] == '{' || s[i-1] == ',' {
				quote = c
			}
		case c == '[' || c == '{':
			depth++
		case c == ']' || c == '}':
			depth--
		case c == '#' && (i == 0 || s[i-1] == ' '):
			i = len(s)
		}
	}
	if quote != 0 {
		depth++
	}
	return max(depth, 0)
}

// describeLevels lists indentation levels in spaces: "0, 2 or 4 spaces".
func describeLevels(stack []int) string {
	parts := make([]string, len(stack))
	for i, n := range stack {
		parts[i] = fmt.Sprint(n)
	}
	var b bytes.Buffer
	for i, p := range parts {
		switch {
		case i == 0:
		case i == len(parts)-1:
			b.WriteString(" and ")
		default:
			b.WriteString(", ")
		}
		b.WriteString(p)
	}
	b.WriteString(" spaces")
	return b.String()
}
