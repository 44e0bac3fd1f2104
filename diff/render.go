package diff

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/parleyhq/parley/graph"
)

// ANSI colours of the text format on a terminal.
const (
	colorReset  = "\x1b[0m"
	colorGreen  = "\x1b[32m"
	colorRed    = "\x1b[31m"
	colorYellow = "\x1b[33m"
	colorBold   = "\x1b[1m"
	colorDim    = "\x1b[2m"
)

func symbol(kind string) string {
	switch kind {
	case Added:
		return "+"
	case Removed:
		return "-"
	}
	return "~"
}

// scenarioGroups splits the changes by scenario, global values first.
func (r *Report) scenarioGroups() ([]string, map[string][]Change) {
	groups := map[string][]Change{}
	var order []string
	for _, c := range r.Changes {
		if _, ok := groups[c.Scenario]; !ok {
			order = append(order, c.Scenario)
		}
		groups[c.Scenario] = append(groups[c.Scenario], c)
	}
	return order, groups
}

// Text writes the report for a terminal; color adds ANSI colours.
func (r *Report) Text(w io.Writer, color bool) {
	paint := func(c, s string) string {
		if !color {
			return s
		}
		return c + s + colorReset
	}
	if r.Empty() {
		fmt.Fprintf(w, "%s -> %s: no changes\n", r.Old, r.New)
		return
	}
	fmt.Fprintf(w, "%s -> %s: %d %s\n", r.Old, r.New, len(r.Changes), plural(len(r.Changes), "change", "changes"))
	order, groups := r.scenarioGroups()
	for _, sc := range order {
		if sc == "" {
			fmt.Fprintln(w, paint(colorBold, "global"))
		} else {
			fmt.Fprintln(w, paint(colorBold, "scenario "+sc))
		}
		for _, c := range groups[sc] {
			col := map[string]string{Added: colorGreen, Removed: colorRed, Changed: colorYellow}[c.Kind]
			line := fmt.Sprintf("  %s %s %s", symbol(c.Kind), c.What, c.Path)
			if c.What == WhatScenario {
				line = fmt.Sprintf("  %s scenario %s", symbol(c.Kind), c.Path)
			}
			if c.Reachability != "" {
				if c.Kind == Changed {
					line += " (now " + c.Reachability + ")"
				} else {
					line += " (" + c.Reachability + ")"
				}
			}
			fmt.Fprintln(w, paint(col, line))
			for _, f := range c.Fields {
				switch c.Kind {
				case Added:
					fmt.Fprintf(w, "      %s %s\n", paint(colorDim, f.Name+":"), showText(f.New))
				case Removed:
					fmt.Fprintf(w, "      %s %s\n", paint(colorDim, f.Name+":"), showText(f.Old))
				default:
					fmt.Fprintf(w, "      %s %s -> %s\n", paint(colorDim, f.Name+":"), showText(f.Old), showText(f.New))
				}
			}
		}
	}
}

// showText quotes a value for the text format; an absent value is "(none)".
func showText(s string) string {
	if s == "" {
		return "(none)"
	}
	if strings.ContainsAny(s, "\n\t") || strings.TrimSpace(s) != s {
		return fmt.Sprintf("%q", s)
	}
	return s
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// JSON writes the report as indented JSON.
func (r *Report) JSON(w io.Writer) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return fmt.Errorf("encoding the diff as JSON: %w", err)
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

var whatOrder = []string{WhatGlobal, WhatScenario, WhatAttribute, WhatAction, WhatConversation, WhatScene, WhatTurn, WhatIntent}

var whatPlural = map[string]string{WhatGlobal: "global values", WhatScenario: "scenarios", WhatAttribute: "attributes", WhatAction: "actions",
	WhatConversation: "conversations", WhatScene: "scenes", WhatTurn: "turns", WhatIntent: "intents"}

// Markdown writes the report for a pull request comment: a summary table,
// the details, and a Mermaid graph of the changed part of the new
// configuration with added and changed intents highlighted.
func (r *Report) Markdown(w io.Writer) {
	fmt.Fprintf(w, "### Scenario changes: %s → %s\n\n", code(r.Old), code(r.New))
	if r.Empty() {
		fmt.Fprintln(w, "No semantic changes: the compiled configurations are the same.")
		return
	}
	// Summary.
	type counts struct{ added, removed, changed, reach int }
	type row struct{ scenario, what string }
	sums := map[row]*counts{}
	var rows []row
	for _, c := range r.Changes {
		k := row{c.Scenario, c.What}
		if sums[k] == nil {
			sums[k] = &counts{}
			rows = append(rows, k)
		}
		switch c.Kind {
		case Added:
			sums[k].added++
		case Removed:
			sums[k].removed++
		default:
			sums[k].changed++
		}
		if c.Reachability != "" && c.Kind == Changed {
			sums[k].reach++
		}
	}
	slices.SortStableFunc(rows, func(a, b row) int {
		if a.scenario != b.scenario {
			return strings.Compare(a.scenario, b.scenario)
		}
		return slices.Index(whatOrder, a.what) - slices.Index(whatOrder, b.what)
	})
	fmt.Fprintln(w, "| scenario | what | added | removed | changed | reachability changed |")
	fmt.Fprintln(w, "|---|---|--:|--:|--:|--:|")
	for _, k := range rows {
		s := sums[k]
		sc := k.scenario
		if sc == "" {
			sc = "(global)"
		}
		fmt.Fprintf(w, "| %s | %s | %d | %d | %d | %d |\n", sc, whatPlural[k.what], s.added, s.removed, s.changed, s.reach)
	}
	// Details.
	order, groups := r.scenarioGroups()
	for _, sc := range order {
		if sc == "" {
			fmt.Fprintf(w, "\n#### Global values\n\n")
		} else {
			fmt.Fprintf(w, "\n#### Scenario %s\n\n", code(sc))
		}
		for _, c := range groups[sc] {
			label := map[string]string{Added: "added", Removed: "removed", Changed: "changed"}[c.Kind]
			line := fmt.Sprintf("- **%s** %s %s", label, c.What, code(c.Path))
			if c.Reachability != "" {
				if c.Kind == Changed {
					line += ", now **" + c.Reachability + "**"
				} else {
					line += ", **" + c.Reachability + "**"
				}
			}
			fmt.Fprintln(w, line)
			for _, f := range c.Fields {
				switch c.Kind {
				case Added:
					fmt.Fprintf(w, "  - %s: %s\n", code(f.Name), showMarkdown(f.New))
				case Removed:
					fmt.Fprintf(w, "  - %s: %s\n", code(f.Name), showMarkdown(f.Old))
				default:
					fmt.Fprintf(w, "  - %s: %s → %s\n", code(f.Name), showMarkdown(f.Old), showMarkdown(f.New))
				}
			}
		}
	}
	// The changed part of the conversation.
	classes := map[string]string{}
	turns := map[string]bool{}
	for _, c := range r.Changes {
		if c.Turn == "" {
			continue
		}
		// A removed intent's turn is shown when the new configuration still has it.
		turns[c.Turn] = true
		if c.Kind != Removed && c.Node != "" {
			if c.Kind == Added {
				classes[c.Node] = graph.ClassAdded
			} else {
				classes[c.Node] = graph.ClassChanged
			}
		}
	}
	// An intent that runs a changed or added action changes with it.
	for _, c := range r.Changes {
		if c.What != WhatAction || c.Kind == Removed || r.newGraph == nil {
			continue
		}
		gs := r.newGraph.Scenario(c.Scenario)
		if gs == nil {
			continue
		}
		for _, in := range gs.Intents() {
			if slices.Contains(in.Actions, c.Name) {
				turns[gs.Turn(in.Src.Turn).ID] = true
				if classes[in.ID] == "" {
					classes[in.ID] = graph.ClassChanged
				}
			}
		}
	}
	if len(turns) > 0 && r.newGraph != nil {
		fmt.Fprintf(w, "\n#### The changed turns in %s\n\nAdded intents are green; changed ones, and those running a changed action, yellow; removed ones are listed above.\n\n", code(r.New))
		fmt.Fprintf(w, "```mermaid\n%s```\n", r.newGraph.Mermaid(graph.Options{Turns: turns, Classes: classes}))
	}
}

// code renders s as a Markdown code span.
func code(s string) string {
	s = strings.ReplaceAll(s, "\n", "⏎")
	fence := "`"
	for strings.Contains(s, fence) {
		fence += "`"
	}
	pad := ""
	if strings.HasPrefix(s, "`") || strings.HasSuffix(s, "`") {
		pad = " "
	}
	return fence + pad + s + pad + fence
}

func showMarkdown(s string) string {
	if s == "" {
		return "*(none)*"
	}
	return code(s)
}
