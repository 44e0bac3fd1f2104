package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/parleyhq/parley/diag"
	"github.com/parleyhq/parley/dsl"
	"github.com/parleyhq/parley/lint"
)

// validateOptions are the flags of `parley validate`.
type validateOptions struct {
	format string
	strict bool
}

// validateReport is the JSON output of `parley validate --format json`.
type validateReport struct {
	Dir         string          `json:"dir"`
	Valid       bool            `json:"valid"`
	Version     string          `json:"version,omitempty"`
	Files       int             `json:"files"`
	Scenarios   []string        `json:"scenarios"`
	Diagnostics json.RawMessage `json:"diagnostics"`
	// Warnings are the lints of a valid configuration (errors with --strict).
	Warnings json.RawMessage `json:"warnings"`
}

func newValidateCmd(s streams) *cobra.Command {
	o := &validateOptions{}
	cmd := &cobra.Command{
		Use:   "validate [DIR|FILE]",
		Short: "Check the scenarios of a directory (default \"scenarios\") or a file",
		Long: `Validate loads every .cue, .yaml and .yml file under DIR (default "scenarios") as one
configuration, checks it against the schema, compiles every expression and checks every
reference, exactly as the engine does before serving it. Given a FILE, it validates that
file alone as a configuration.

It exits 0 when the configuration is valid and 1 when it is not, printing one
diagnostic a line: file:line:col: code: message. It exits 2 when DIR or FILE
cannot be read, or on a usage error.

A valid configuration is then linted for what the schema cannot catch (codes
lint.*): an expression reading an attribute nothing declares or sets, turns and
intents no conversation reaches, buttons whose callback no turn accepts, actions
never used, outputs never read, valid origins that can never precede their turn,
app intents an earlier one always shadows, and user intents competing with the
same utterance. Lints are warnings; --strict makes them errors (exit 1). A
comment "parley:ignore CODE" on the line of a lint or the line above silences it
(// in CUE, # in YAML).`,
		Example: `  parley validate
  parley validate scenarios/greeter/greeter.cue
  parley validate ./bots --format json
  parley validate --strict`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			dir := "scenarios"
			if len(args) == 1 {
				dir = args[0]
			}
			return o.run(s, dir)
		},
	}
	cmd.Flags().StringVar(&o.format, "format", "text", `output format: "text" or "json"`)
	cmd.Flags().BoolVar(&o.strict, "strict", false, "treat lint warnings as errors")
	return cmd
}

func (o *validateOptions) run(s streams, dir string) error {
	if o.format != "text" && o.format != "json" {
		return fmt.Errorf("unknown --format %q: use text or json", o.format)
	}
	// A path that cannot be read is a usage error (exit 2), not invalid scenarios.
	st, err := os.Stat(dir)
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		err = fmt.Errorf("%s: %w", dir, err)
		if o.format == "json" {
			list := diag.List{{File: dir, Code: diag.CodeIO, Message: err.Error()}}
			b, _ := json.MarshalIndent(validateReport{Dir: dir, Scenarios: []string{}, Diagnostics: list.JSON(), Warnings: diag.List(nil).JSON()}, "", "  ")
			fmt.Fprintln(s.out, string(b))
		}
		return err
	}
	var cfg *dsl.Config
	files := 1
	if st.IsDir() {
		cfg, err = dsl.LoadDir(dir, dsl.Options{})
		if names, lerr := dsl.ScenarioFiles(os.DirFS(dir)); lerr == nil {
			files = len(names)
		}
	} else {
		if !dsl.IsScenarioFile(filepath.Base(dir)) {
			return fmt.Errorf("%s is not a scenario file: validate a .cue, .yaml or .yml file, or a directory", dir)
		}
		cfg, err = dsl.LoadFile(dir, dsl.Options{})
	}
	var list diag.List
	if err != nil && !errors.As(err, &list) {
		list = diag.List{{File: dir, Code: diag.CodeIO, Message: err.Error()}}
	}
	var warnings diag.List
	if cfg != nil {
		warnings = lint.Check(cfg, nil, lint.Options{})
	}
	failed := err != nil || o.strict && len(warnings) > 0
	if o.format == "json" {
		r := validateReport{Dir: dir, Valid: !failed, Files: files, Scenarios: []string{}, Diagnostics: list.JSON(), Warnings: warnings.JSON()}
		if cfg != nil {
			r.Version, r.Files = cfg.Version, len(cfg.Files)
			for _, sc := range cfg.Scenarios {
				r.Scenarios = append(r.Scenarios, sc.Name)
			}
		}
		b, _ := json.MarshalIndent(r, "", "  ")
		fmt.Fprintln(s.out, string(b))
	} else if err != nil {
		for _, d := range list {
			fmt.Fprintln(s.out, d)
		}
		fmt.Fprintf(s.err, "%s: %d %s\n", dir, len(list), plural(len(list), "problem", "problems"))
	} else if failed {
		for _, d := range warnings {
			fmt.Fprintln(s.out, d)
		}
		fmt.Fprintf(s.err, "%s: %d %s (lint warnings are errors with --strict)\n", dir, len(warnings), plural(len(warnings), "problem", "problems"))
	} else {
		for _, d := range warnings {
			fmt.Fprintln(s.out, d)
		}
		if len(warnings) > 0 {
			fmt.Fprintf(s.err, "%s: %d lint %s (--strict makes them errors)\n", dir, len(warnings), plural(len(warnings), "warning", "warnings"))
		}
		fmt.Fprintf(s.out, "%s: valid: %d %s in %d %s (version %s)\n", dir,
			len(cfg.Scenarios), plural(len(cfg.Scenarios), "scenario", "scenarios"),
			len(cfg.Files), plural(len(cfg.Files), "file", "files"), cfg.Version)
	}
	if cfg != nil {
		cfg.Close()
	}
	if failed {
		return exitError{code: 1}
	}
	return nil
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
