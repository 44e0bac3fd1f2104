package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/parleyhq/parley/dsl"
	"github.com/parleyhq/parley/plugins/store"
)

// Context names.
const (
	ContextUser         = "user"
	ContextSession      = "session"
	ContextConversation = "conversation"
	ContextGlobal       = "global"
	ContextUtterance    = "utterance"
)

// ActionStatus is the user attribute that says whether the last action succeeded.
const ActionStatus = "action_status"

// ActionSuccess is action_status under the name OpenDialog's developer reference uses; both are always set together.
const ActionSuccess = "action_success"

// Contexts are a user's contexts, as returned by Engine.Context. The maps
// are copies: changing them changes nothing in the engine.
type Contexts struct {
	User    map[string]any `json:"user"`
	Session map[string]any `json:"session"`
	// Conversation is the read-only engine state: current_scenario,
	// current_conversation, current_scene, current_turn, current_intent.
	Conversation map[string]any `json:"conversation"`
	Global       map[string]any `json:"global"`
}

// Context returns a copy of userID's contexts. A user never seen has empty contexts.
func (e *Engine) Context(ctx context.Context, userID string) (Contexts, error) {
	if err := checkUser(userID); err != nil {
		return Contexts{}, fmt.Errorf("reading context: %w", err)
	}
	if e.closed.Load() {
		return Contexts{}, fmt.Errorf("reading context of user %q: %w", userID, ErrClosed)
	}
	mu := e.lock(userID)
	if mu == nil {
		return Contexts{}, fmt.Errorf("reading context of user %q: %w", userID, ErrClosed)
	}
	defer mu.unlock()
	cfg := e.cfg.Load().cfg
	st, err := e.load(ctx, cfg, userID)
	if err != nil {
		return Contexts{}, fmt.Errorf("reading context of user %q: %w", userID, err)
	}
	c := Contexts{
		User:         deepCopyMap(st.User),
		Session:      deepCopyMap(st.Session),
		Conversation: conversationMap(st, nil),
		Global:       deepCopyMap(cfg.Global),
	}
	return c, nil
}

// Forget deletes everything the engine keeps about userID: position, user
// and session contexts, and history. The next utterance of userID starts afresh.
func (e *Engine) Forget(ctx context.Context, userID string) error {
	if err := checkUser(userID); err != nil {
		return fmt.Errorf("forgetting user: %w", err)
	}
	if e.closed.Load() {
		return fmt.Errorf("forgetting user %q: %w", userID, ErrClosed)
	}
	mu := e.lock(userID)
	if mu == nil {
		return fmt.Errorf("forgetting user %q: %w", userID, ErrClosed)
	}
	defer mu.unlock()
	ctx, release, err := e.lease(ctx, userID)
	if err != nil {
		return fmt.Errorf("forgetting user %q: %w", userID, err)
	}
	defer release()
	if err := e.store.Delete(ctx, userID); err != nil {
		return fmt.Errorf("forgetting user %q: %w", userID, err)
	}
	return nil
}

// conversationMap renders the read-only conversation context of st into m (allocated when nil).
func conversationMap(st store.State, m map[string]any) map[string]any {
	if m == nil {
		m = make(map[string]any, 5)
	}
	m["current_scenario"] = st.Scenario
	m["current_conversation"] = st.Conversation
	m["current_scene"] = st.Scene
	m["current_turn"] = st.Turn
	m["current_intent"] = st.Intent
	return m
}

var attrName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// ParsePath parses an attribute path: "user.NAME", "session.NAME", or a bare
// NAME meaning user.NAME. Only the user and session contexts are writable.
func ParsePath(path string) (dsl.Path, error) {
	ctxName, name, ok := strings.Cut(path, ".")
	if !ok {
		ctxName, name = ContextUser, path
	}
	switch ctxName {
	case ContextUser, ContextSession:
	case ContextConversation, ContextGlobal, ContextUtterance:
		return dsl.Path{}, fmt.Errorf("attribute %q: the %s context is read-only; set user or session attributes", path, ctxName)
	default:
		return dsl.Path{}, fmt.Errorf("attribute %q: unknown context %q (want user or session)", path, ctxName)
	}
	if !attrName.MatchString(name) {
		return dsl.Path{}, fmt.Errorf("attribute %q: %q is not an attribute name (letters, digits and _, not starting with a digit)", path, name)
	}
	return dsl.Path{Context: ctxName, Name: name}, nil
}

// SetAttribute sets one attribute of userID's user or session context, as
// "user.NAME", "session.NAME" or a bare "NAME" (user). The value must fit the
// attribute's declared type (see CheckValue): otherwise an error is returned
// and the context is left unchanged. A nil value unsets the attribute.
//
// The declared type is taken from the scenario the user is in; a user who is
// in no conversation is checked against every scenario that declares the attribute.
func (e *Engine) SetAttribute(ctx context.Context, userID, path string, value any) error {
	return e.setAttribute(ctx, userID, path, func(t dsl.AttrType, declared bool) (any, error) {
		return CheckValue(t, declared, value)
	})
}

// SetAttributeText is SetAttribute for text typed by a person (the CLI, a
// form): the text is converted to the attribute's declared type ("42" for an
// int, "true" for a bool, RFC 3339 for a timestamp, JSON for a list or map).
// For an undeclared attribute, text that is a JSON number, boolean, null,
// array, object or quoted string is decoded as JSON; any other text is kept
// as a string.
func (e *Engine) SetAttributeText(ctx context.Context, userID, path, text string) error {
	return e.setAttribute(ctx, userID, path, func(t dsl.AttrType, declared bool) (any, error) {
		return ParseValue(t, declared, text)
	})
}

func (e *Engine) setAttribute(ctx context.Context, userID, path string, conv func(dsl.AttrType, bool) (any, error)) error {
	if err := checkUser(userID); err != nil {
		return fmt.Errorf("setting attribute %q: %w", path, err)
	}
	p, err := ParsePath(path)
	if err != nil {
		return fmt.Errorf("setting attribute of user %q: %w", userID, err)
	}
	if e.closed.Load() {
		return fmt.Errorf("setting attribute %s of user %q: %w", p, userID, ErrClosed)
	}
	mu := e.lock(userID)
	if mu == nil {
		return fmt.Errorf("setting attribute %s of user %q: %w", p, userID, ErrClosed)
	}
	defer mu.unlock()
	ctx, release, err := e.lease(ctx, userID)
	if err != nil {
		return fmt.Errorf("setting attribute %s of user %q: %w", p, userID, err)
	}
	defer release()
	cfg := e.cfg.Load().cfg
	st, err := e.load(ctx, cfg, userID)
	if err != nil {
		return fmt.Errorf("setting attribute %s of user %q: %w", p, userID, err)
	}
	var scenarios []*dsl.Scenario
	if sc := cfg.Scenario(st.Scenario); sc != nil && st.Conversation != "" {
		scenarios = []*dsl.Scenario{sc}
	} else {
		scenarios = cfg.Scenarios
	}
	var value any
	checked := false
	for _, sc := range scenarios {
		t, declared := declaredType(sc, p.Name)
		if !declared {
			continue
		}
		v, err := conv(t, true)
		if err != nil {
			return fmt.Errorf("setting attribute %s of user %q: %w", p, userID, err)
		}
		value, checked = v, true
	}
	if !checked {
		t, declared := declaredType(nil, p.Name)
		v, err := conv(t, declared)
		if err != nil {
			return fmt.Errorf("setting attribute %s of user %q: %w", p, userID, err)
		}
		value = v
	}
	switch p.Context {
	case ContextUser:
		st.User = withAttr(st.User, p.Name, value)
	case ContextSession:
		st.Session = withAttr(st.Session, p.Name, value)
	}
	if _, err := e.store.Save(ctx, userID, st, nil); err != nil {
		return fmt.Errorf("setting attribute %s of user %q: %w", p, userID, err)
	}
	return nil
}

// withAttr returns a copy of m with name set to v (deleted when v is nil).
func withAttr(m map[string]any, name string, v any) map[string]any {
	out := make(map[string]any, len(m)+1)
	maps.Copy(out, m)
	if v == nil {
		delete(out, name)
	} else {
		out[name] = v
	}
	return out
}

// load loads userID's state with its declared attributes in their canonical
// form. A store that keeps states as JSON gives back an int as a float64 and
// a timestamp as an RFC 3339 string; expressions and templates must see the
// values as they were set. Maps are copied only when a value changes.
func (e *Engine) load(ctx context.Context, cfg *dsl.Config, userID string) (store.State, error) {
	st, err := e.store.Load(ctx, userID)
	if err != nil {
		return st, err
	}
	var sc *dsl.Scenario
	if st.Conversation != "" {
		sc = cfg.Scenario(st.Scenario)
	}
	st.User = canonicalAttrs(cfg, sc, st.User)
	st.Session = canonicalAttrs(cfg, sc, st.Session)
	return st, nil
}

// canonicalAttrs returns m with the declared ints a JSON store gave back as
// float64 converted to int, and the declared timestamps it gave back as
// strings converted to time.Time (see CheckValue). The types are those of
// sc, or of the first scenario declaring the name when sc is nil.
func canonicalAttrs(cfg *dsl.Config, sc *dsl.Scenario, m map[string]any) map[string]any {
	var out map[string]any
	for name, v := range m {
		var want dsl.AttrType
		switch v.(type) {
		case float64:
			want = dsl.TypeInt
		case string:
			want = dsl.TypeTimestamp
		default:
			continue
		}
		if !declaresAs(cfg, sc, name, want) {
			continue
		}
		c, err := CheckValue(want, true, v)
		if err != nil {
			continue // kept as it is, as it was stored
		}
		if out == nil {
			out = maps.Clone(m)
		}
		out[name] = c
	}
	if out == nil {
		return m
	}
	return out
}

// declaresAs reports whether name is declared with type t in sc or, when sc
// is nil, in some scenario of cfg.
func declaresAs(cfg *dsl.Config, sc *dsl.Scenario, name string, t dsl.AttrType) bool {
	if sc != nil {
		got, ok := sc.Attributes[name]
		return ok && got == t
	}
	for _, s := range cfg.Scenarios {
		if got, ok := s.Attributes[name]; ok {
			return got == t
		}
	}
	return false
}

// declaredType returns the declared type of attribute name in sc; action_status is always bool.
func declaredType(sc *dsl.Scenario, name string) (dsl.AttrType, bool) {
	if name == ActionStatus || name == ActionSuccess {
		return dsl.TypeBool, true
	}
	if sc == nil {
		return "", false
	}
	t, ok := sc.Attributes[name]
	return t, ok
}

// CheckValue checks v against a declared attribute type and returns it in
// its canonical form: int as int, float as float64, timestamp as time.Time
// (an RFC 3339 string is accepted), list as []any, map as map[string]any.
// Whole float64 numbers (as JSON decodes them) are accepted for int, and
// integers for float. An undeclared attribute accepts any JSON value; other Go
// values are converted through JSON. A nil value (unset) always passes.
func CheckValue(t dsl.AttrType, declared bool, v any) (any, error) {
	if v == nil {
		return nil, nil
	}
	if !declared {
		return jsonValue(v)
	}
	switch t {
	// A value already of its type is returned as it is, not boxed again.
	case dsl.TypeString:
		if _, ok := v.(string); ok {
			return v, nil
		}
	case dsl.TypeBool:
		if _, ok := v.(bool); ok {
			return v, nil
		}
	case dsl.TypeInt:
		switch x := v.(type) {
		case int:
			return v, nil
		case int8, int16, int32, int64, uint8, uint16, uint32, uint64, uint:
			i := reflect.ValueOf(x)
			if i.CanInt() {
				return int(i.Int()), nil
			}
			if u := i.Uint(); u <= math.MaxInt64 {
				return int(u), nil
			}
		case float64:
			if x == math.Trunc(x) && math.Abs(x) < 1<<53 {
				return int(x), nil
			}
			return nil, fmt.Errorf("want an int, got the number %v", x)
		case json.Number:
			if i, err := x.Int64(); err == nil {
				return int(i), nil
			}
		}
	case dsl.TypeFloat:
		switch x := v.(type) {
		case float64:
			return v, nil
		case float32:
			return float64(x), nil
		case int:
			return float64(x), nil
		case int64:
			return float64(x), nil
		case int32:
			return float64(x), nil
		case json.Number:
			if f, err := x.Float64(); err == nil {
				return f, nil
			}
		}
	case dsl.TypeTimestamp:
		switch x := v.(type) {
		case time.Time:
			return x, nil
		case string:
			ts, err := time.Parse(time.RFC3339Nano, x)
			if err != nil {
				return nil, fmt.Errorf("want a timestamp (RFC 3339, e.g. 2024-05-01T12:00:00Z), got %q", x)
			}
			return ts, nil
		}
	case dsl.TypeList:
		if l, ok := v.([]any); ok {
			return l, nil
		}
		if rv := reflect.ValueOf(v); rv.Kind() == reflect.Slice || rv.Kind() == reflect.Array {
			if _, isBytes := v.([]byte); !isBytes {
				return jsonValue(v)
			}
		}
	case dsl.TypeMap:
		if m, ok := v.(map[string]any); ok {
			return m, nil
		}
		if rv := reflect.ValueOf(v); rv.Kind() == reflect.Map && rv.Type().Key().Kind() == reflect.String {
			return jsonValue(v)
		}
	default:
		return jsonValue(v)
	}
	return nil, fmt.Errorf("want %s %s, got %s", article(t), t, describe(v))
}

func article(t dsl.AttrType) string {
	if t == dsl.TypeInt {
		return "an"
	}
	return "a"
}

// describe names the kind of a value for an error message without printing
// the value itself (it might be personal data).
func describe(v any) string {
	switch v.(type) {
	case string:
		return "a string"
	case bool:
		return "a bool"
	case float64, float32, json.Number:
		return "a number"
	case int, int8, int16, int32, int64, uint, uint8, uint16, uint32, uint64:
		return "an integer"
	case []any:
		return "a list"
	case map[string]any:
		return "a map"
	case time.Time:
		return "a timestamp"
	}
	return fmt.Sprintf("a value of Go type %T", v)
}

// jsonValue returns v as a JSON value (nil, bool, float64, string, []any,
// map[string]any), keeping basic values and time.Time as they are.
func jsonValue(v any) (any, error) {
	switch x := v.(type) {
	case nil, bool, string, float64, int, int64, time.Time:
		return x, nil
	case []any:
		return x, nil
	case map[string]any:
		return x, nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("value of Go type %T is not JSON: %w", v, err)
	}
	var out any
	if err := json.Unmarshal(b, &out); err != nil {
		return nil, fmt.Errorf("value of Go type %T is not JSON: %w", v, err)
	}
	return out, nil
}

// ParseValue converts text typed by a person to a declared attribute type
// (see Engine.SetAttributeText).
func ParseValue(t dsl.AttrType, declared bool, text string) (any, error) {
	if !declared {
		s := strings.TrimSpace(text)
		if s != "" && (strings.ContainsAny(s[:1], "-0123456789[{\"") || s == "true" || s == "false" || s == "null") {
			var v any
			if err := json.Unmarshal([]byte(s), &v); err == nil {
				return v, nil
			}
		}
		return text, nil
	}
	s := strings.TrimSpace(text)
	switch t {
	case dsl.TypeString:
		return text, nil
	case dsl.TypeInt:
		i, err := strconv.Atoi(s)
		if errors.Is(err, strconv.ErrRange) {
			return nil, fmt.Errorf("want an int, got %q, which is out of range (ints are 64-bit: at most %d)", text, math.MaxInt64)
		}
		if err != nil {
			return nil, fmt.Errorf("want an int, got %q", text)
		}
		return i, nil
	case dsl.TypeFloat:
		f, err := strconv.ParseFloat(s, 64)
		if errors.Is(err, strconv.ErrRange) && math.IsInf(f, 0) {
			return nil, fmt.Errorf("want a float, got %q, which is out of range (floats are 64-bit: at most about 1.8e308)", text)
		}
		if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
			return nil, fmt.Errorf("want a float, got %q", text)
		}
		return f, nil
	case dsl.TypeBool:
		b, err := strconv.ParseBool(s)
		if err != nil {
			return nil, fmt.Errorf("want a bool (true or false), got %q", text)
		}
		return b, nil
	case dsl.TypeTimestamp:
		return CheckValue(t, true, s)
	case dsl.TypeList, dsl.TypeMap:
		var v any
		if err := json.Unmarshal([]byte(s), &v); err != nil {
			return nil, fmt.Errorf("want a JSON %s, got %q", map[dsl.AttrType]string{dsl.TypeList: "array", dsl.TypeMap: "object"}[t], text)
		}
		return CheckValue(t, true, v)
	}
	return CheckValue(t, true, text)
}

// deepCopyMap copies m and every map and list inside it.
func deepCopyMap(m map[string]any) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = deepCopy(v)
	}
	return out
}

func deepCopy(v any) any {
	switch x := v.(type) {
	case map[string]any:
		return deepCopyMap(x)
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = deepCopy(e)
		}
		return out
	}
	return v
}
