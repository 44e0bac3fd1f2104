package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/spf13/cobra"

	"github.com/parleyhq/parley/dsl"
)

// initOptions are the flags of `parley init`.
type initOptions struct {
	name   string
	format string
}

var scenarioName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

func newInitCmd(s streams) *cobra.Command {
	o := &initOptions{}
	cmd := &cobra.Command{
		Use:   "init DIR",
		Short: "Write a new scenario, like the one OpenDialog starts with",
		Long: `Init writes DIR/<name>.cue (or .yaml with --format yaml): a scenario with a
welcome conversation whose welcome turn greets the user with an OK button. It never
overwrites a file; the result validates with "parley validate DIR".`,
		Example: `  parley init scenarios/hello
  parley init bots --name support --format yaml`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return o.run(s, args[0])
		},
	}
	cmd.Flags().StringVar(&o.name, "name", "", "scenario name (default: the directory's base name)")
	cmd.Flags().StringVar(&o.format, "format", "cue", `file format: "cue" or "yaml"`)
	return cmd
}

func (o *initOptions) run(s streams, dir string) error {
	name := o.name
	if name == "" {
		abs, err := filepath.Abs(dir)
		if err != nil {
			return fmt.Errorf("resolving %s: %w", dir, err)
		}
		name = filepath.Base(abs)
	}
	if !scenarioName.MatchString(name) {
		return fmt.Errorf("scenario name %q must be letters, digits and underscores, not starting with a digit: choose one with --name", name)
	}
	var file, src string
	switch o.format {
	case "cue":
		file, src = name+".cue", initCUE(name)
	case "yaml":
		file, src = name+".yaml", initYAML(name)
	default:
		return fmt.Errorf("unknown --format %q: use cue or yaml", o.format)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("creating %s: %w", dir, err)
	}
	path := filepath.Join(dir, file)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("%s already exists; init never overwrites a file", path)
	}
	if err != nil {
		return fmt.Errorf("creating %s: %w", path, err)
	}
	if _, err := f.WriteString(src); err != nil {
		f.Close()
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	ignore, err := ignoreDataDir(dir)
	if err != nil {
		return err
	}
	fmt.Fprintf(s.out, "wrote %s\n", path)
	if ignore != "" {
		fmt.Fprintf(s.out, "%s: %s/ (the state of parley serve) is kept out of git\n", ignore, DataDir)
	}
	fmt.Fprintf(s.out, "next: parley validate %s\n", dir)
	// Say so at once if the new scenario clashes with files already in DIR.
	if _, err := dsl.LoadDir(dir, dsl.Options{}); err != nil {
		fmt.Fprintf(s.err, "warning: %s does not validate yet:\n%v\n", dir, err)
	}
	return nil
}

// ignoreDataDir lists the data directory of parley serve in DIR/.gitignore,
// creating the file or appending a line to it, and returns the file's path;
// it returns "" when the file lists the directory already.
func ignoreDataDir(dir string) (string, error) {
	path := filepath.Join(dir, ".gitignore")
	b, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("reading %s: %w", path, err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		switch strings.TrimSpace(line) {
		case DataDir, DataDir + "/", "/" + DataDir, "/" + DataDir + "/":
			return "", nil
		}
	}
	var add strings.Builder
	if len(b) > 0 && !strings.HasSuffix(string(b), "\n") {
		add.WriteString("\n")
	}
	add.WriteString("# state of parley serve (users' contexts and history)\n" + DataDir + "/\n")
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return "", fmt.Errorf("updating %s: %w", path, err)
	}
	if _, err := f.WriteString(add.String()); err != nil {
		f.Close()
		return "", fmt.Errorf("updating %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return "", fmt.Errorf("updating %s: %w", path, err)
	}
	return path, nil
}

func initCUE(name string) string {
	return fmt.Sprintf(`package scenarios

// %[1]s greets the user when the chat opens, as a new OpenDialog scenario does.
scenarios: %[1]s: {
	active:      true
	description: "A new scenario: greets the user with an OK button."
	conversations: welcome: {
		behaviors: ["starting"]
		scenes: welcome_scene: {
			behaviors: ["starting"]
			turns: welcome_turn: {
				behaviors: ["starting"]
				request: [{id: "intent.core.welcome"}]
				response: [{
					id: "intent.app.welcomeResponse"
					message: {
						text: "Hello! This is the %[1]s scenario."
						buttons: [{text: "OK", callback: "intent.app.ok"}]
					}
				}]
			}
			turns: ok_turn: {
				valid_origins: ["intent.app.welcomeResponse"]
				request: [{id: "intent.app.ok"}]
				response: [{
					id: "intent.app.okResponse"
					message: text: "Great. Edit this file to make the conversation your own."
					behaviors: ["completing"]
				}]
			}
		}
	}
}
`, name)
}

func initYAML(name string) string {
	return fmt.Sprintf(`# %[1]s greets the user when the chat opens, as a new OpenDialog scenario does.
scenarios:
  %[1]s:
    active: true
    description: "A new scenario: greets the user with an OK button."
    conversations:
      welcome:
        behaviors: [starting]
        scenes:
          welcome_scene:
            behaviors: [starting]
            turns:
              welcome_turn:
                behaviors: [starting]
                request:
                  - id: intent.core.welcome
                response:
                  - id: intent.app.welcomeResponse
                    message:
                      text: Hello! This is the %[1]s scenario.
                      buttons:
                        - text: OK
                          callback: intent.app.ok
              ok_turn:
                valid_origins: [intent.app.welcomeResponse]
                request:
                  - id: intent.app.ok
                response:
                  - id: intent.app.okResponse
                    message:
                      text: Great. Edit this file to make the conversation your own.
                    behaviors: [completing]
`, name)
}
