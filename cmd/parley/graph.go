package main

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/parleyhq/parley/diag"
	"github.com/parleyhq/parley/dsl"
	"github.com/parleyhq/parley/graph"
)

// graphOptions are the flags of `parley graph`.
type graphOptions struct {
	scenario string
	format   string
}

func newGraphCmd(s streams) *cobra.Command {
	o := &graphOptions{}
	cmd := &cobra.Command{
		Use:   "graph [DIR]",
		Short: "Draw the conversations of a scenario directory (default \"scenarios\")",
		Long: `Graph prints the structure of the conversations of DIR (default "scenarios"):
one subgraph per scenario, conversation, scene and turn holding its intents,
with edges from the start to the intents a conversation may begin with, from
each intent to the app intents that may answer it, for transitions, virtual
intents, buttons (to the intent a press selects) and valid origins. Starting and
completing intents are marked, actions are shown on the intents that run them,
and what no conversation can reach is drawn dashed.

Formats: mermaid (the default; GitHub renders it in Markdown), dot (Graphviz:
parley graph --format dot | dot -Tsvg > graph.svg) and json (for tools).
Node ids are stable: an intent's id stays when it moves.`,
		Example: `  parley graph
  parley graph scenarios --scenario booking --format dot | dot -Tsvg > booking.svg`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			dir := "scenarios"
			if len(args) == 1 {
				dir = args[0]
			}
			return o.run(s, dir)
		},
	}
	cmd.Flags().StringVar(&o.scenario, "scenario", "", "draw only the scenario of this name")
	cmd.Flags().StringVar(&o.format, "format", "mermaid", `output format: "mermaid", "dot" or "json"`)
	return cmd
}

func (o *graphOptions) run(s streams, dir string) error {
	if o.format != "mermaid" && o.format != "dot" && o.format != "json" {
		return fmt.Errorf("unknown --format %q: use mermaid, dot or json", o.format)
	}
	cfg, err := dsl.LoadDir(dir, dsl.Options{})
	if err != nil {
		var list diag.List
		if !errors.As(err, &list) {
			return fmt.Errorf("loading %s: %w", dir, err)
		}
		for _, d := range list {
			fmt.Fprintln(s.err, d)
		}
		fmt.Fprintf(s.err, "%s: %d %s\n", dir, len(list), plural(len(list), "problem", "problems"))
		return exitError{code: 1}
	}
	defer cfg.Close()
	g := graph.New(cfg)
	if o.scenario != "" && g.Scenario(o.scenario) == nil {
		return fmt.Errorf("%s declares no scenario %q", dir, o.scenario)
	}
	opts := graph.Options{Scenario: o.scenario}
	switch o.format {
	case "dot":
		fmt.Fprint(s.out, g.DOT(opts))
	case "json":
		b, err := g.JSON(opts)
		if err != nil {
			return err
		}
		s.out.Write(b)
	default:
		fmt.Fprint(s.out, g.Mermaid(opts))
	}
	return nil
}
