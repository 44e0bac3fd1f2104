package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/parleyhq/parley/diag"
	"github.com/parleyhq/parley/diff"
	"github.com/parleyhq/parley/dsl"
)

// diffOptions are the flags of `parley diff`.
type diffOptions struct {
	format   string
	exitCode bool
	color    string
}

func newDiffCmd(s streams) *cobra.Command {
	o := &diffOptions{}
	cmd := &cobra.Command{
		Use:   "diff OLD NEW",
		Short: "Compare two versions of the scenarios semantically",
		Long: `Diff compares the compiled configurations of OLD and NEW, not their text:
scenarios, conversations, scenes, turns, intents, actions, attributes and global
values added, removed and changed; for each changed thing, every changed field
with its old and new value as written (templates are never resolved, so no
secret is shown); and what became reachable or unreachable. Moving text between
files or reformatting it is no change.

OLD and NEW are each a directory or a git revision: main, HEAD~1, a commit, or
REV:PATH (origin/main:bots/shop; REV:./PATH is relative to the working
directory). Revisions are read with git itself, without a checkout. A revision
without a path reads the other side's directory (or "scenarios" when neither
names one).

Formats: text (coloured on a terminal), markdown (for a pull request comment:
a summary table, the details and a Mermaid graph of the changed turns) and json.

Exit status: 0 (also when there are changes, unless --exit-code), 1 with
--exit-code when there are changes, 2 when a side cannot be read or is invalid.`,
		Example: `  parley diff main scenarios
  parley diff HEAD~1 HEAD
  parley diff origin/main:bots/shop bots/shop --format markdown > diff.md
  parley diff old/ new/ --exit-code`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return o.run(s, args[0], args[1])
		},
	}
	cmd.Flags().StringVar(&o.format, "format", "text", `output format: "text", "markdown" or "json"`)
	cmd.Flags().BoolVar(&o.exitCode, "exit-code", false, "exit 1 when there are changes")
	cmd.Flags().StringVar(&o.color, "color", "auto", `colour the text format: "auto" (on a terminal), "always" or "never"`)
	return cmd
}

func (o *diffOptions) run(s streams, oldSpec, newSpec string) error {
	switch o.format {
	case "text", "markdown", "json":
	default:
		return fmt.Errorf("unknown --format %q: use text, markdown or json", o.format)
	}
	if o.color != "auto" && o.color != "always" && o.color != "never" {
		return fmt.Errorf("unknown --color %q: use auto, always or never", o.color)
	}
	oldSrc, newSrc, err := diff.Resolve("", oldSpec, newSpec)
	if err != nil {
		return err
	}
	oldCfg, err := o.load(s, oldSrc)
	if err != nil {
		return err
	}
	defer oldCfg.Close()
	newCfg, err := o.load(s, newSrc)
	if err != nil {
		return err
	}
	defer newCfg.Close()
	r := diff.Compare(oldSrc.Name(), oldCfg, newSrc.Name(), newCfg)
	switch o.format {
	case "json":
		if err := r.JSON(s.out); err != nil {
			return err
		}
	case "markdown":
		r.Markdown(s.out)
	default:
		color := o.color == "always"
		if o.color == "auto" {
			if f, ok := s.out.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
				color = true
			}
		}
		r.Text(s.out, color)
	}
	if o.exitCode && !r.Empty() {
		return exitError{code: 1}
	}
	return nil
}

// load loads one side, printing its diagnostics when it is invalid.
func (o *diffOptions) load(s streams, src diff.Source) (*dsl.Config, error) {
	cfg, err := src.Load("", dsl.Options{})
	if err == nil {
		return cfg, nil
	}
	var list diag.List
	if !errors.As(err, &list) {
		fmt.Fprintf(s.err, "parley: reading %s: %v\n", src.Name(), err)
		return nil, exitError{code: 2}
	}
	for _, d := range list {
		fmt.Fprintln(s.err, d)
	}
	fmt.Fprintf(s.err, "%s: %d %s\n", src.Name(), len(list), plural(len(list), "problem", "problems"))
	return nil, exitError{code: 2}
}
