// Package diag holds Parley's diagnostics: a problem found in a scenario
// file, at a position, with a stable code.
package diag

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
)

// Stable diagnostic codes. Tools and tests match on these, so they never change meaning.
const (
	CodeSyntax          = "syntax"                   // a file is not valid CUE or YAML
	CodeFieldNotAllowed = "schema.field_not_allowed" // a field the schema does not define
	CodeSchemaType      = "schema.type"              // a value of the wrong type or out of range
	CodeSchemaRequired  = "schema.required"          // a required field is missing or not concrete
	CodeSchemaConflict  = "schema.conflict"          // files give conflicting values
	CodeActionKind      = "schema.action_kind"       // an action without exactly one kind
	CodeExprSyntax      = "expr.syntax"              // an expression that does not parse
	CodeExprType        = "expr.type"                // an expression of the wrong type
	CodeExprUnknown     = "expr.unknown_name"        // an expression that names an unknown variable
	CodeTemplate        = "template.syntax"          // an unterminated {{ in a template
	CodePattern         = "pattern.syntax"           // a regular expression that does not compile
	CodeUnknownAction   = "ref.unknown_action"       // an intent uses an action that is not declared
	CodeUnknownInput    = "ref.unknown_input"        // an input mapping for an undeclared input
	CodeUnknownIntent   = "ref.unknown_intent"       // valid_origins, virtual or a callback names no intent
	CodeUnknownTarget   = "ref.unknown_target"       // a transition to a conversation, scene or turn that does not exist
	CodeDuplicateIntent = "ref.duplicate_intent"     // two intents of one scenario share an id in one role
	CodeUnknownPlugin   = "ref.unknown_plugin"       // an interpreter or action kind that is not registered
	CodeReadOnly        = "ref.read_only"            // a mapping that writes a read-only context
	CodePluginConfig    = "plugin.config"            // a plugin rejected its configuration
	CodeIO              = "io"                       // a file could not be read
	// CodeNoActiveScenario: a reload that would leave no active scenario, rejected.
	CodeNoActiveScenario = "reload.no_active_scenario"
)

// Diagnostic is one problem at a position in a file. Line and Col are 1-based;
// zero means unknown.
type Diagnostic struct {
	File    string `json:"file"`
	Line    int    `json:"line"`
	Col     int    `json:"col"`
	Code    string `json:"code"`
	Message string `json:"message"`
}

// String renders the diagnostic as file:line:col: code: message.
func (d Diagnostic) String() string {
	var b strings.Builder
	if d.File != "" {
		b.WriteString(d.File)
		if d.Line > 0 {
			fmt.Fprintf(&b, ":%d", d.Line)
			if d.Col > 0 {
				fmt.Fprintf(&b, ":%d", d.Col)
			}
		}
		b.WriteString(": ")
	}
	b.WriteString(d.Code)
	b.WriteString(": ")
	b.WriteString(d.Message)
	return b.String()
}

// List is a set of diagnostics. As an error it reports all of them.
type List []Diagnostic

// Error joins the diagnostics, one a line.
func (l List) Error() string {
	parts := make([]string, len(l))
	for i, d := range l {
		parts[i] = d.String()
	}
	return strings.Join(parts, "\n")
}

// Sort orders the diagnostics by file, position, code and message, and drops exact duplicates.
func (l *List) Sort() {
	s := *l
	sort.SliceStable(s, func(i, j int) bool {
		a, b := s[i], s[j]
		if a.File != b.File {
			return a.File < b.File
		}
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		if a.Col != b.Col {
			return a.Col < b.Col
		}
		if a.Code != b.Code {
			return a.Code < b.Code
		}
		return a.Message < b.Message
	})
	out := s[:0]
	for i, d := range s {
		if i > 0 && d == s[i-1] {
			continue
		}
		out = append(out, d)
	}
	*l = out
}

// JSON renders the list as a JSON array (never null).
func (l List) JSON() []byte {
	if l == nil {
		l = List{}
	}
	b, _ := json.MarshalIndent(l, "", "  ")
	return b
}
