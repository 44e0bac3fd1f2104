package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/parleyhq/parley/dsl"
	"github.com/parleyhq/parley/plugins"
)

// schemaOptions are the flags of `parley schema`.
type schemaOptions struct {
	json bool
}

func newSchemaCmd(s streams) *cobra.Command {
	o := &schemaOptions{}
	cmd := &cobra.Command{
		Use:   "schema",
		Short: "Print the scenario schema (CUE, or JSON Schema with --json)",
		Long: `Schema prints the CUE schema scenario files are validated against: the base
schema and the definitions of every registered action kind.

With --json it prints a JSON Schema (draft 2020-12) generated from it, for YAML
editors. For example, with the YAML language server:

  parley schema --json > parley.schema.json
  # then, first line of a scenario file:
  # yaml-language-server: $schema=./parley.schema.json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			env := plugins.Global()
			if !o.json {
				fmt.Fprint(s.out, dsl.SchemaSource(env))
				return nil
			}
			b, err := dsl.JSONSchema(env)
			if err != nil {
				return err
			}
			_, err = s.out.Write(b)
			return err
		},
	}
	cmd.Flags().BoolVar(&o.json, "json", false, "print a JSON Schema instead of the CUE schema")
	return cmd
}
