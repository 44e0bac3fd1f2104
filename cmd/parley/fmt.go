package main

import (
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/parleyhq/parley/dsl"
	"github.com/parleyhq/parley/format"
)

// fmtOptions are the flags of `parley fmt`.
type fmtOptions struct {
	list  bool
	write bool
	check bool
}

func newFmtCmd(s streams) *cobra.Command {
	o := &fmtOptions{}
	cmd := &cobra.Command{
		Use:   "fmt [PATH...]",
		Short: "Format scenario files (default: the files under \"scenarios\")",
		Long: `Fmt formats the .cue, .yaml and .yml files named, or found under the
directories named (default "scenarios"; hidden files and directories are
skipped). CUE files go through the CUE formatter; YAML files are re-indented
by two spaces and their keys unquoted where a plain key reads the same, with
every comment kept. Formatting is idempotent and never changes what a file
means: a file whose formatting would change its data is reported and left as
it is.

Without flags the formatted files are printed. -l lists the files whose
formatting differs, -w rewrites them in place, --check lists them and exits 1
when there are any. Exit status 2 means a file could not be read or parsed.`,
		Example: `  parley fmt -w
  parley fmt --check scenarios mocks`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				args = []string{"scenarios"}
			}
			return o.run(s, args)
		},
	}
	cmd.Flags().BoolVarP(&o.list, "list", "l", false, "list the files whose formatting differs")
	cmd.Flags().BoolVarP(&o.write, "write", "w", false, "write the formatted files back")
	cmd.Flags().BoolVar(&o.check, "check", false, "list the files that would change and exit 1 if any")
	return cmd
}

func (o *fmtOptions) run(s streams, paths []string) error {
	var files []string
	failed := false
	for _, p := range paths {
		found, err := fmtFiles(p)
		if err != nil {
			fmt.Fprintf(s.err, "parley fmt: %v\n", err)
			failed = true
			continue
		}
		files = append(files, found...)
	}
	changed := 0
	for _, name := range files {
		src, err := os.ReadFile(name)
		if err != nil {
			fmt.Fprintf(s.err, "parley fmt: %v\n", err)
			failed = true
			continue
		}
		out, err := format.Source(name, src)
		if err != nil {
			fmt.Fprintf(s.err, "parley fmt: %v\n", err)
			failed = true
			continue
		}
		differs := !bytes.Equal(src, out)
		if differs {
			changed++
		}
		switch {
		case o.list || o.check:
			if differs {
				fmt.Fprintln(s.out, name)
			}
		case !o.write:
			s.out.Write(out)
		}
		if o.write && differs {
			if err := writeFileAtomic(name, out); err != nil {
				fmt.Fprintf(s.err, "parley fmt: %v\n", err)
				failed = true
			}
		}
	}
	if failed {
		return exitError{code: 2}
	}
	if o.check && changed > 0 {
		fmt.Fprintf(s.err, "%d %s not formatted (parley fmt -w formats them)\n", changed, plural(changed, "file is", "files are"))
		return exitError{code: 1}
	}
	return nil
}

// fmtFiles returns p when it is a file, else the scenario files under it, in path order.
func fmtFiles(p string) ([]string, error) {
	st, err := os.Stat(p)
	if err != nil {
		return nil, err
	}
	if !st.IsDir() {
		return []string{p}, nil
	}
	return dsl.FindFiles(p, func(d fs.DirEntry) bool { return d.Type().IsRegular() && dsl.IsSourceFile(d.Name()) })
}

// writeFileAtomic replaces the file at name with data, keeping its mode: a
// crash leaves the old or the new content, never half of one.
func writeFileAtomic(name string, data []byte) error {
	st, err := os.Stat(name)
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(name), "."+filepath.Base(name)+".*.tmp")
	if err != nil {
		return fmt.Errorf("writing %s: %w", name, err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("writing %s: %w", name, err)
	}
	if err := tmp.Chmod(st.Mode().Perm()); err != nil {
		tmp.Close()
		return fmt.Errorf("writing %s: %w", name, err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("writing %s: %w", name, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("writing %s: %w", name, err)
	}
	if err := os.Rename(tmp.Name(), name); err != nil {
		return fmt.Errorf("writing %s: %w", name, err)
	}
	return nil
}
