package graph

import (
	"encoding/json"
	"fmt"
	"strings"
)

// Classes a node may be highlighted with (Options.Classes), as parley diff does.
const (
	ClassAdded   = "added"
	ClassChanged = "changed"
)

// Options select and highlight what a rendering shows.
type Options struct {
	// Scenario, when set, renders only the scenario of that name.
	Scenario string
	// Turns, when set, renders only the turns with these ids (and the edges between their intents).
	Turns map[string]bool
	// Classes highlights nodes by id: ClassAdded or ClassChanged.
	Classes map[string]string
}

func (o Options) scenarios(g *Graph) []*Scenario {
	var out []*Scenario
	for _, s := range g.Scenarios {
		if o.Scenario == "" || s.Name == o.Scenario {
			out = append(out, s)
		}
	}
	return out
}

// view is the part of a scenario a rendering shows.
type view struct {
	s     *Scenario
	convs []*Conversation
	nodes map[string]bool
	edges []Edge
}

func (o Options) view(s *Scenario) view {
	v := view{s: s, nodes: map[string]bool{s.ID: true}}
	for _, c := range s.Conversations {
		keep := false
		for _, sc := range c.Scenes {
			for _, t := range sc.Turns {
				if o.Turns != nil && !o.Turns[t.ID] {
					continue
				}
				keep = true
				for _, in := range t.Intents {
					v.nodes[in.ID] = true
				}
			}
		}
		if keep {
			v.convs = append(v.convs, c)
		}
	}
	for _, e := range s.Edges {
		if v.nodes[e.From] && v.nodes[e.To] {
			v.edges = append(v.edges, e)
		}
	}
	return v
}

// startShown reports whether the view holds an edge from the start.
func (v view) startShown() bool {
	for _, e := range v.edges {
		if e.Kind == EdgeStart {
			return true
		}
	}
	return false
}

func (o Options) turnShown(t *Turn) bool { return o.Turns == nil || o.Turns[t.ID] }

func (o Options) sceneShown(sc *Scene) bool {
	for _, t := range sc.Turns {
		if o.turnShown(t) {
			return true
		}
	}
	return false
}

// label lines of an intent node.
func intentLines(in *Intent) []string {
	lines := []string{in.Speaker + ": " + in.Intent}
	if len(in.Actions) > 0 {
		lines = append(lines, "actions: "+strings.Join(in.Actions, ", "))
	}
	if in.Src.Virtual != "" {
		lines = append(lines, "virtual: "+in.Src.Virtual)
	}
	var marks []string
	if in.Starting {
		marks = append(marks, "starts")
	}
	if in.Completing {
		marks = append(marks, "completes")
	}
	if !in.Reachable {
		marks = append(marks, "unreachable")
	}
	if len(marks) > 0 {
		lines = append(lines, "("+strings.Join(marks, ", ")+")")
	}
	return lines
}

func levelLabel(kind, name string, behaviors []string, reachable bool) string {
	l := kind + " " + name
	if len(behaviors) > 0 {
		l += " (" + strings.Join(behaviors, ", ") + ")"
	}
	if !reachable {
		l += " unreachable"
	}
	return l
}

func scenarioLabel(s *Scenario) string {
	l := "scenario " + s.Name
	if !s.Active {
		l += " (inactive)"
	}
	return l
}

// Mermaid renders the graph as a Mermaid flowchart, which GitHub renders in
// Markdown: one subgraph per scenario, conversation, scene and turn.
func (g *Graph) Mermaid(o Options) string {
	var b strings.Builder
	b.WriteString("flowchart TD\n")
	b.WriteString("  classDef app fill:#eef4ff,stroke:#3b6fd1\n")
	b.WriteString("  classDef user fill:#fff,stroke:#555\n")
	b.WriteString("  classDef start fill:#222,stroke:#222,color:#fff\n")
	b.WriteString("  classDef completing stroke-width:3px\n")
	b.WriteString("  classDef unreachable fill:#eee,stroke:#999,color:#888,stroke-dasharray:4 3\n")
	b.WriteString("  classDef added fill:#d9f7d9,stroke:#1f8f1f\n")
	b.WriteString("  classDef changed fill:#fff1c2,stroke:#b58900\n")
	classes := map[string][]string{}
	for _, s := range o.scenarios(g) {
		v := o.view(s)
		if o.Turns != nil && len(v.convs) == 0 {
			continue
		}
		fmt.Fprintf(&b, "  subgraph x_%s[\"%s\"]\n", escape(s.Name), mermaidText(scenarioLabel(s)))
		if v.startShown() {
			fmt.Fprintf(&b, "    %s((\"start\"))\n", s.ID)
			classes["start"] = append(classes["start"], s.ID)
		}
		for _, c := range v.convs {
			fmt.Fprintf(&b, "    subgraph %s[\"%s\"]\n", c.ID, mermaidText(levelLabel("conversation", c.Name, c.Behaviors, c.Reachable)))
			for _, sc := range c.Scenes {
				if !o.sceneShown(sc) {
					continue
				}
				fmt.Fprintf(&b, "      subgraph %s[\"%s\"]\n", sc.ID, mermaidText(levelLabel("scene", sc.Name, sc.Behaviors, sc.Reachable)))
				for _, t := range sc.Turns {
					if !o.turnShown(t) {
						continue
					}
					fmt.Fprintf(&b, "        subgraph %s[\"%s\"]\n", t.ID, mermaidText(levelLabel("turn", t.Name, t.Behaviors, t.Reachable)))
					for _, in := range t.Intents {
						lines := intentLines(in)
						for i := range lines {
							lines[i] = mermaidText(lines[i])
						}
						open, close := "[\"", "\"]"
						if in.Speaker == "user" {
							open, close = "([\"", "\"])"
						}
						fmt.Fprintf(&b, "          %s%s%s%s\n", in.ID, open, strings.Join(lines, "<br/>"), close)
						classes[in.Speaker] = append(classes[in.Speaker], in.ID)
						if in.Completing {
							classes["completing"] = append(classes["completing"], in.ID)
						}
						if !in.Reachable {
							classes["unreachable"] = append(classes["unreachable"], in.ID)
						}
						if c := o.Classes[in.ID]; c != "" {
							classes[c] = append(classes[c], in.ID)
						}
					}
					b.WriteString("        end\n")
				}
				b.WriteString("      end\n")
			}
			b.WriteString("    end\n")
		}
		b.WriteString("  end\n")
		for _, e := range v.edges {
			switch e.Kind {
			case EdgeStart, EdgeAnswer:
				fmt.Fprintf(&b, "  %s --> %s\n", e.From, e.To)
			case EdgeTransition:
				fmt.Fprintf(&b, "  %s ==>|transition| %s\n", e.From, e.To)
			case EdgeVirtual:
				fmt.Fprintf(&b, "  %s -.->|virtual| %s\n", e.From, e.To)
			case EdgeOrigin:
				fmt.Fprintf(&b, "  %s -.->|origin| %s\n", e.From, e.To)
			case EdgeButton:
				fmt.Fprintf(&b, "  %s -->|\"button: %s\"| %s\n", e.From, mermaidText(e.Label), e.To)
			}
		}
	}
	// Later class statements win: highlights last.
	for _, c := range []string{"user", "app", "start", "completing", "unreachable", ClassAdded, ClassChanged} {
		if ids := classes[c]; len(ids) > 0 {
			fmt.Fprintf(&b, "  class %s %s\n", strings.Join(ids, ","), c)
		}
	}
	return b.String()
}

// mermaidText escapes text for a quoted Mermaid label.
func mermaidText(s string) string { return mermaidEscaper.Replace(s) }

var mermaidEscaper = strings.NewReplacer(`"`, "#quot;", "<", "#lt;", ">", "#gt;", "\n", " ", "|", "#124;", "#", "#35;")

// DOT renders the graph for Graphviz: one cluster per scenario, conversation, scene and turn.
func (g *Graph) DOT(o Options) string {
	var b strings.Builder
	b.WriteString("digraph parley {\n")
	b.WriteString("  rankdir=TB;\n  compound=true;\n  fontname=\"Helvetica\";\n")
	b.WriteString("  node [fontname=\"Helvetica\", fontsize=11];\n")
	b.WriteString("  edge [fontname=\"Helvetica\", fontsize=10];\n")
	for _, s := range o.scenarios(g) {
		v := o.view(s)
		if o.Turns != nil && len(v.convs) == 0 {
			continue
		}
		fmt.Fprintf(&b, "  subgraph %s {\n    label=%s;\n", dotID("cluster_x_"+escape(s.Name)), dotID(scenarioLabel(s)))
		if v.startShown() {
			fmt.Fprintf(&b, "    %s [label=\"start\", shape=circle, style=filled, fillcolor=\"#222222\", fontcolor=white];\n", dotID(s.ID))
		}
		for _, c := range v.convs {
			fmt.Fprintf(&b, "    subgraph %s {\n      label=%s;\n", dotID("cluster_"+c.ID), dotID(levelLabel("conversation", c.Name, c.Behaviors, c.Reachable)))
			for _, sc := range c.Scenes {
				if !o.sceneShown(sc) {
					continue
				}
				fmt.Fprintf(&b, "      subgraph %s {\n        label=%s;\n", dotID("cluster_"+sc.ID), dotID(levelLabel("scene", sc.Name, sc.Behaviors, sc.Reachable)))
				for _, t := range sc.Turns {
					if !o.turnShown(t) {
						continue
					}
					fmt.Fprintf(&b, "        subgraph %s {\n          label=%s;\n", dotID("cluster_"+t.ID), dotID(levelLabel("turn", t.Name, t.Behaviors, t.Reachable)))
					if !t.Reachable {
						b.WriteString("          style=dashed;\n          color=gray;\n")
					}
					for _, in := range t.Intents {
						attrs := []string{"label=" + dotID(strings.Join(intentLines(in), "\n"))}
						style := []string{}
						if in.Speaker == "user" {
							attrs = append(attrs, "shape=box")
							style = append(style, "rounded")
						} else {
							attrs = append(attrs, "shape=box")
						}
						if in.Completing {
							attrs = append(attrs, "penwidth=2")
						}
						if !in.Reachable {
							style = append(style, "dashed")
							attrs = append(attrs, "color=gray", "fontcolor=gray")
						}
						switch o.Classes[in.ID] {
						case ClassAdded:
							style = append(style, "filled")
							attrs = append(attrs, `fillcolor="#d9f7d9"`)
						case ClassChanged:
							style = append(style, "filled")
							attrs = append(attrs, `fillcolor="#fff1c2"`)
						}
						if len(style) > 0 {
							attrs = append(attrs, "style="+dotID(strings.Join(style, ",")))
						}
						fmt.Fprintf(&b, "          %s [%s];\n", dotID(in.ID), strings.Join(attrs, ", "))
					}
					b.WriteString("        }\n")
				}
				b.WriteString("      }\n")
			}
			b.WriteString("    }\n")
		}
		b.WriteString("  }\n")
		for _, e := range v.edges {
			var attrs string
			switch e.Kind {
			case EdgeTransition:
				attrs = ` [label="transition", style=bold]`
			case EdgeVirtual:
				attrs = ` [label="virtual", style=dashed]`
			case EdgeOrigin:
				attrs = ` [label="origin", style=dotted]`
			case EdgeButton:
				attrs = " [label=" + dotID("button: "+e.Label) + "]"
			}
			fmt.Fprintf(&b, "  %s -> %s%s;\n", dotID(e.From), dotID(e.To), attrs)
		}
	}
	b.WriteString("}\n")
	return b.String()
}

// dotID quotes s as a DOT string.
func dotID(s string) string { return `"` + dotEscaper.Replace(s) + `"` }

var dotEscaper = strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`)

// JSON renders the graph (the selected scenarios) as indented JSON.
func (g *Graph) JSON(o Options) ([]byte, error) {
	out := &Graph{Scenarios: []*Scenario{}}
	for _, s := range o.scenarios(g) {
		if o.Turns == nil {
			out.Scenarios = append(out.Scenarios, s)
			continue
		}
		v := o.view(s)
		cp := *s
		cp.Conversations, cp.Edges = v.convs, v.edges
		out.Scenarios = append(out.Scenarios, &cp)
	}
	b, err := json.MarshalIndent(out, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encoding the graph as JSON: %w", err)
	}
	return append(b, '\n'), nil
}
