// Command parley runs, checks and serves Parley scenarios.
//
// The command line is a thin layer over the packages: each verb lives in its
// own file with its own options struct, and plugins are wired in here.
package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"runtime"
	"runtime/debug"
	"strings"

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
	root.Version = versionString()
	root.SetVersionTemplate("parley {{.Version}}\n")
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
		newTestCmd(s),
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
		Short: "Print the parley version, commit and Go version (also parley --version)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			fmt.Fprintln(s.out, "parley", versionString())
			return nil
		},
	}
}

// readBuildInfo returns the build information of the binary; tests replace it.
var readBuildInfo = debug.ReadBuildInfo

// buildVersion is Version when set at build time, else the module version
// of the build information (go install ...@v1.2.3), else "dev".
func buildVersion() string {
	if bi, ok := readBuildInfo(); ok && Version == "dev" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return Version
}

// versionString describes the build: the version (Version when set at
// build time, else the module version), the commit and its time when the
// binary was built in a git checkout, and the Go version and platform.
func versionString() string {
	version, commit, when, modified, goVersion := buildVersion(), "", "", false, runtime.Version()
	if bi, ok := readBuildInfo(); ok {
		if bi.GoVersion != "" {
			goVersion = bi.GoVersion
		}
		for _, st := range bi.Settings {
			switch st.Key {
			case "vcs.revision":
				commit = st.Value
			case "vcs.time":
				when = st.Value
			case "vcs.modified":
				modified = st.Value == "true"
			}
		}
	}
	var b strings.Builder
	b.WriteString(version)
	if commit == "" {
		b.WriteString(", commit unknown (not recorded in this build)")
	} else {
		if len(commit) > 12 {
			commit = commit[:12]
		}
		b.WriteString(", commit " + commit)
		if when != "" {
			b.WriteString(" of " + when)
		}
		if modified {
			b.WriteString(" with uncommitted changes")
		}
	}
	fmt.Fprintf(&b, ", %s %s/%s", goVersion, runtime.GOOS, runtime.GOARCH)
	return b.String()
}

// checkScenarioDir fails (exit 2) when dir is missing or not a directory,
// before anything is loaded: a mistyped path is a usage error, not invalid
// scenarios (exit 1).
func checkScenarioDir(dir string) error {
	st, err := os.Stat(dir)
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return fmt.Errorf("%s: %w", dir, err)
	}
	if !st.IsDir() {
		return fmt.Errorf("%s is not a directory: give the directory of the scenarios", dir)
	}
	return nil
}
