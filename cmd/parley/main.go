// Command parley runs, checks and serves Parley scenarios.
//
// The command line is a thin layer over the packages: each verb lives in its
// own file with its own options struct, and plugins are wired in here.
package main

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	_ "github.com/parleyhq/parley/plugins/all" // the plugins of the parley binary
)

// Version is set at build time with -ldflags "-X main.Version=...".
var Version = "dev"

// exitError carries an exit code through cobra without printing twice.
type exitError struct{ code int }

func (e exitError) Error() string { return fmt.Sprintf("exit status %d", e.code) }

// streams are the standard streams a command reads and writes.
type streams struct {
	in       io.Reader
	out, err io.Writer
}

func main() {
	os.Exit(run(os.Args[1:], streams{os.Stdin, os.Stdout, os.Stderr}))
}

// run executes the command line and returns the process exit code.
func run(args []string, s streams) int {
	root := newRootCmd(s)
	root.SetArgs(args)
	err := root.Execute()
	if err == nil {
		return 0
	}
	var ee exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	fmt.Fprintln(s.err, "parley:", err)
	return 2
}

func newRootCmd(s streams) *cobra.Command {
	root := &cobra.Command{
		Use:           "parley",
		Short:         "Parley runs chatbot conversations declared in CUE or YAML",
		Long:          "Parley is a conversation engine for teams who keep their chatbot's behaviour in git.\nScenarios, intents and webhook actions are declared in CUE or YAML files, validated\nagainst a CUE schema, and run by a hot-reloading engine.",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetIn(s.in)
	root.SetOut(s.out)
	root.SetErr(s.err)
	root.AddCommand(
		newVersionCmd(s),
		newValidateCmd(s),
		newSchemaCmd(s),
		newInitCmd(s),
		newMockCmd(s),
		newChatCmd(s),
		newServeCmd(s),
		newStateCmd(s),
		newGraphCmd(s),
		newDiffCmd(s),
		newFmtCmd(s),
		// Each verb adds its constructor here.
	)
	return root
}

func newVersionCmd(s streams) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the parley version",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			fmt.Fprintln(s.out, "parley", Version)
			return nil
		},
	}
}
