package engine

import (
	"errors"
	"fmt"
	"maps"
	"slices"

	"github.com/parleyhq/parley/dsl"
	"github.com/parleyhq/parley/plugins/store"
)

// ErrInvalidAttribute is wrapped by the error of a turn whose client
// attributes (plugins.Utterance.User) do not fit their declared types; the
// turn did not happen and nothing was written.
var ErrInvalidAttribute = errors.New("invalid client attribute")

// applyClientAttributes writes the client's user attributes (OpenDialog's
// content.user, as UserService::updateFromUtteranceUserObject in core 0.7.7
// writes them) into st.User, type-checked against the declared attributes of
// the user's scenario (or, outside a conversation, of every scenario that
// declares them). Only attributes a scenario accepts (client_attributes) are
// written; the engine's own action_status and action_success never are. On
// an error st is unchanged. It returns the names written, sorted.
func applyClientAttributes(cfg *dsl.Config, st *store.State, attrs map[string]any) ([]string, error) {
	var scenarios []*dsl.Scenario
	if sc := cfg.Scenario(st.Scenario); sc != nil && st.Conversation != "" {
		scenarios = []*dsl.Scenario{sc}
	} else {
		for _, sc := range cfg.Scenarios {
			if sc.Active {
				scenarios = append(scenarios, sc)
			}
		}
	}
	var user map[string]any
	var set []string
	for _, name := range slices.Sorted(maps.Keys(attrs)) {
		if !validName(name) {
			return nil, fmt.Errorf("%w: %q is not an attribute name (letters, digits and _, not starting with a digit)", ErrInvalidAttribute, truncateName(name))
		}
		if name == ActionStatus || name == ActionSuccess {
			continue
		}
		accepted := len(scenarios) == 0
		for _, sc := range scenarios {
			if sc.AcceptsClientAttribute(name) {
				accepted = true
				break
			}
		}
		if !accepted {
			continue
		}
		v, err := checkClientValue(scenarios, name, attrs[name])
		if err != nil {
			return nil, fmt.Errorf("%w: user.%s: %v", ErrInvalidAttribute, name, err)
		}
		if user == nil {
			user = make(map[string]any, len(st.User)+len(attrs))
			maps.Copy(user, st.User)
		}
		if v == nil {
			delete(user, name)
		} else {
			user[name] = v
		}
		set = append(set, name)
	}
	if user != nil {
		st.User = user
	}
	return set, nil
}

// checkClientValue checks v for every scenario declaring name; text is
// converted to a declared non-string type, as interpreted attributes are.
func checkClientValue(scenarios []*dsl.Scenario, name string, v any) (any, error) {
	out, checked := v, false
	for _, sc := range scenarios {
		typ, declared := declaredType(sc, name)
		if !declared {
			continue
		}
		var err error
		if s, isString := v.(string); isString && typ != dsl.TypeString {
			out, err = ParseValue(typ, true, s)
		} else {
			out, err = CheckValue(typ, true, v)
		}
		if err != nil {
			return nil, err
		}
		checked = true
	}
	if !checked {
		return CheckValue("", false, v)
	}
	return out, nil
}

// validName reports whether name can be an attribute name (schema #Name).
func validName(name string) bool {
	if name == "" || len(name) > 128 {
		return false
	}
	for i, r := range name {
		switch {
		case r == '_', r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z':
		case r >= '0' && r <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}

func truncateName(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}
