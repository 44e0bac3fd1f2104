// Package interpreters holds Parley's built-in interpreters, registered in
// plugins.Global() as "callback" and "text".
//
// The callback interpreter matches button callbacks and the opening of a
// chat; the text interpreter matches typed text against an intent's
// utterances and regular expressions. Both are deterministic: a match has
// confidence 1, except a pattern that matches only part of the text (see Text).
package interpreters

import (
	"context"
	"strings"

	"github.com/parleyhq/parley/plugins"
)

// Names of the built-in interpreters.
const (
	CallbackName = "callback"
	TextName     = "text"
)

// welcomeID is the intent a chat_open utterance means.
const welcomeID = "intent.core.welcome"

// PartialConfidence is the confidence of a pattern that matches only part of the text.
const PartialConfidence = 0.8

func init() {
	plugins.Global().MustRegisterInterpreter(CallbackName, Callback{})
	plugins.Global().MustRegisterInterpreter(TextName, Text{})
}

// Callback interprets button callbacks, triggers and forms as the intent
// whose id is the callback id (the engine has already mapped it by the
// scenario's callbacks), and the opening of a chat without a callback id
// as intent.core.welcome. Every match has confidence 1. As in OpenDialog's
// CallbackInterpreter (core src/InterpreterEngine/Interpreters/CallbackInterpreter.php),
// a button value becomes an interpreted attribute (see ParseCallbackValue)
// and so does each field of a form.
type Callback struct{}

// Interpret implements plugins.Interpreter.
func (Callback) Interpret(_ context.Context, u plugins.Utterance, candidates []*plugins.Hints) []plugins.Match {
	id := u.CallbackID
	if u.Type == plugins.ChatOpen && id == "" {
		id = welcomeID
	}
	if id == "" {
		return nil
	}
	var out []plugins.Match
	for i, h := range candidates {
		if h != nil && h.IntentID == id {
			out = append(out, plugins.Match{Index: i, Confidence: 1, Attributes: callbackAttributes(u)})
		}
	}
	return out
}

// callbackAttributes are the attributes a callback utterance carries: its
// value (parsed) and its form fields. Each match gets its own map.
func callbackAttributes(u plugins.Utterance) map[string]any {
	if u.Value == "" && len(u.Data) == 0 {
		return nil
	}
	attrs := make(map[string]any, len(u.Data)+1)
	if u.Value != "" && u.Type != plugins.ChatOpen {
		name, value := ParseCallbackValue(u.Value)
		attrs[name] = value
	}
	for k, v := range u.Data {
		attrs[k] = v
	}
	if len(attrs) == 0 {
		return nil
	}
	return attrs
}

// CallbackValueAttribute is the attribute a button value without a name sets.
const CallbackValueAttribute = "callback_value"

// ParseCallbackValue splits a button value as OpenDialog's CallbackValueParser
// (core src/AttributeEngine/CallbackValueParser.php) does: "name.value" sets
// the attribute name to value; a value without a dot, or with more than one,
// sets callback_value to the whole value. "\." is a literal dot.
func ParseCallbackValue(v string) (name, value string) {
	const dot = "{dot}"
	esc := strings.ReplaceAll(v, `\.`, dot)
	parts := strings.Split(esc, ".")
	switch len(parts) {
	case 1:
		return CallbackValueAttribute, strings.ReplaceAll(esc, dot, ".")
	case 2:
		return parts[0], strings.ReplaceAll(parts[1], dot, ".")
	}
	return CallbackValueAttribute, esc
}

// Text interprets typed text. An utterance matches when it equals one of the
// intent's utterances ignoring case and runs of white space (confidence 1).
// A pattern is a regular expression searched in the text with surrounding
// white space trimmed (case-sensitive unless it says (?i)); its named groups
// become interpreted attributes. A pattern that matches the whole text has
// confidence 1; one that matches only part of it has PartialConfidence. An
// intent's best match counts.
type Text struct{}

// Interpret implements plugins.Interpreter.
func (Text) Interpret(_ context.Context, u plugins.Utterance, candidates []*plugins.Hints) []plugins.Match {
	raw := strings.TrimSpace(u.Text)
	if raw == "" {
		return nil
	}
	var norm string
	var out []plugins.Match
	for i, h := range candidates {
		if h == nil {
			continue
		}
		if len(h.Utterances) > 0 {
			if norm == "" {
				norm = Normalize(raw)
			}
			if matchesUtterance(h.Utterances, norm) {
				out = append(out, plugins.Match{Index: i, Confidence: 1})
				continue
			}
		}
		if m, ok := matchPatterns(h, raw); ok {
			m.Index = i
			out = append(out, m)
		}
	}
	return out
}

func matchesUtterance(list []string, norm string) bool {
	for _, s := range list {
		if s == norm {
			return true
		}
	}
	return false
}

// matchPatterns returns the best match of h's patterns in text: a whole-text
// match beats a partial one, and then more attributes, then earlier patterns.
func matchPatterns(h *plugins.Hints, text string) (plugins.Match, bool) {
	var best plugins.Match
	found := false
	for _, re := range h.Patterns {
		loc := re.FindStringSubmatchIndex(text)
		if loc == nil {
			continue
		}
		conf := PartialConfidence
		if loc[0] == 0 && loc[1] == len(text) {
			conf = 1
		}
		var attrs map[string]any
		for gi, name := range re.SubexpNames() {
			if name == "" || loc[2*gi] < 0 {
				continue
			}
			if attrs == nil {
				attrs = map[string]any{}
			}
			attrs[name] = text[loc[2*gi]:loc[2*gi+1]]
		}
		if !found || conf > best.Confidence || (conf == best.Confidence && len(attrs) > len(best.Attributes)) {
			best = plugins.Match{Confidence: conf, Attributes: attrs}
			found = true
		}
	}
	return best, found
}

// Normalize lower-cases s and collapses runs of white space, as the loader
// normalises an intent's utterances.
func Normalize(s string) string {
	// Fast path: already normalised ASCII text needs no allocation.
	clean := true
	prevSpace := true
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 0x80, c >= 'A' && c <= 'Z', c == '\t', c == '\n', c == '\r', c == '\v', c == '\f':
			clean = false
		case c == ' ':
			if prevSpace {
				clean = false
			}
			prevSpace = true
			continue
		}
		prevSpace = false
	}
	if clean && !prevSpace {
		return s
	}
	return strings.Join(strings.Fields(strings.ToLower(s)), " ")
}
