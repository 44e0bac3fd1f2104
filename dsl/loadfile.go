package dsl

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/parleyhq/parley/diag"
)

// LoadFile loads one scenario file (.cue, .yaml or .yml) as a whole
// configuration, as LoadDir loads a directory; diagnostics name the file as
// given. A scenario split across several files only validates with all of
// them: load their directory instead.
func LoadFile(file string, opts Options) (*Config, error) {
	display := filepath.ToSlash(filepath.Clean(file))
	if !IsScenarioFile(filepath.Base(file)) {
		return nil, diag.List{{File: display, Code: diag.CodeIO,
			Message: "not a scenario file: want a .cue, .yaml or .yml file (not hidden, not a *_test file)"}}
	}
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, diag.List{{File: display, Code: diag.CodeIO, Message: fmt.Sprintf("reading scenario file: %v", unwrapPathError(err))}}
	}
	return loadFiles([]sourceFile{{rel: filepath.Base(file), name: display, data: data}}, opts)
}

// ScenarioFiles lists the files Load reads from fsys (relative slash paths,
// in order), whether or not they are valid.
func ScenarioFiles(fsys fs.FS) ([]string, error) {
	files, err := readFiles(fsys, "")
	if err != nil {
		return nil, fmt.Errorf("listing scenario files: %w", err)
	}
	out := make([]string, len(files))
	for i, f := range files {
		out[i] = f.rel
	}
	return out, nil
}
