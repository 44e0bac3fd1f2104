package convtest

import (
	"fmt"
	"regexp"
	"slices"

	"github.com/parleyhq/parley/dsl"
)

// suggest names the closest of candidates to s, when one is close.
func suggest(s string, candidates []string) string {
	best, bestD := "", 3
	slices.Sort(candidates)
	for _, c := range candidates {
		if d := dsl.EditDistance(s, c); d < bestD {
			best, bestD = c, d
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf(" (did you mean %q?)", best)
}

func intentIDs(sc *dsl.Scenario) []string {
	var out []string
	sc.EachIntent(func(in *dsl.Intent) { out = append(out, in.ID) })
	return out
}

// attrRef finds the user and session attributes an expression reads or writes.
var attrRef = regexp.MustCompile(`\b(?:user|session)\s*\??\.\s*([A-Za-z_][A-Za-z0-9_]*)`)

// knownAttributes lists every attribute the scenarios declare, map, interpret or name in an expression.
func knownAttributes(cfg *dsl.Config) map[string]bool {
	known := map[string]bool{"action_status": true}
	addSrc := func(src string) {
		for _, m := range attrRef.FindAllStringSubmatch(src, -1) {
			known[m[1]] = true
		}
	}
	conds := func(cs []*dsl.Condition) {
		for _, c := range cs {
			addSrc(c.Source)
		}
	}
	for _, sc := range cfg.Scenarios {
		sc.EachConditions(conds)
		for n := range sc.Attributes {
			known[n] = true
		}
		for _, a := range sc.Actions {
			for _, n := range a.Inputs {
				known[n] = true
			}
			for _, n := range a.Outputs {
				known[n] = true
			}
		}
		sc.EachIntent(func(in *dsl.Intent) {
			conds(in.Conditions)
			for _, p := range in.ExpectedAttributes {
				known[p.Name] = true
			}
			if in.Hints != nil {
				for _, re := range in.Hints.Patterns {
					for _, n := range re.SubexpNames() {
						if n != "" {
							known[n] = true
						}
					}
				}
			}
			for _, call := range in.Actions {
				for _, m := range call.Inputs {
					if m.Prog != nil {
						addSrc(m.Prog.Source)
					} else {
						known[m.From.Name] = true
					}
				}
				for _, m := range call.Outputs {
					known[m.Target.Name] = true
					if m.Prog != nil {
						addSrc(m.Prog.Source)
					}
				}
			}
			if in.Message != nil {
				if in.Message.Text != nil {
					addSrc(in.Message.Text.Source)
				}
				for _, b := range in.Message.Buttons {
					if b.Text != nil {
						addSrc(b.Text.Source)
					}
				}
			}
		})
	}
	return known
}
