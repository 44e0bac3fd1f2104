package dsl

import (
	"crypto/sha256"
	"encoding/hex"
	"io/fs"
	"path"
	"path/filepath"
	"sort"
	"strings"
)

// FindFiles walks the directory root as the loader does (hidden directories
// below root are skipped) and returns, in path order, the files for which
// match is true. The verbs that act on scenario or test files use it to find
// them.
func FindFiles(root string, match func(d fs.DirEntry) bool) ([]string, error) {
	var out []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if p != root && strings.HasPrefix(d.Name(), ".") {
				return fs.SkipDir
			}
			return nil
		}
		if match(d) {
			out = append(out, p)
		}
		return nil
	})
	return out, err
}

// sourceFile is one scenario file read from the directory.
type sourceFile struct {
	rel  string // slash path relative to the root
	name string // the name used in diagnostics
	data []byte
}

// IsSourceFile reports whether a file with this base name is a source file
// of Parley's: a .cue, .yaml or .yml file that is not hidden. Scenario
// files, conversation tests, mock declarations and what parley fmt formats
// are all source files.
func IsSourceFile(base string) bool {
	if strings.HasPrefix(base, ".") {
		return false
	}
	switch path.Ext(base) {
	case ".cue", ".yaml", ".yml":
		return true
	}
	return false
}

// IsScenarioFile reports whether the loader reads a file with this base name:
// source files (IsSourceFile) except conversation tests (*_test.cue,
// *_test.yaml, *_test.yml).
func IsScenarioFile(base string) bool {
	return IsSourceFile(base) && !strings.HasSuffix(strings.TrimSuffix(base, path.Ext(base)), "_test")
}

// readFiles reads every scenario file under the root of fsys, in path order.
// Hidden directories (a leading dot, as in a Kubernetes ..data directory) are
// skipped; symbolic links to files are followed.
func readFiles(fsys fs.FS, display string) ([]sourceFile, error) {
	var files []sourceFile
	err := fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if p != "." && strings.HasPrefix(d.Name(), ".") {
				return fs.SkipDir
			}
			return nil
		}
		if !IsScenarioFile(d.Name()) {
			return nil
		}
		if d.Type()&fs.ModeSymlink != 0 {
			st, err := fs.Stat(fsys, p)
			if err != nil || !st.Mode().IsRegular() {
				return nil // a dangling link or a link to a directory is not a scenario file
			}
		}
		data, err := fs.ReadFile(fsys, p)
		if err != nil {
			return err
		}
		files = append(files, sourceFile{rel: p, name: joinDisplay(display, p), data: data})
		return nil
	})
	sort.Slice(files, func(i, j int) bool { return files[i].rel < files[j].rel })
	return files, err
}

func joinDisplay(display, rel string) string {
	if display == "" {
		return rel
	}
	return path.Join(display, rel)
}

// hashFiles is the content hash of a set of files: their paths and bytes.
func hashFiles(files []sourceFile) string {
	h := sha256.New()
	for _, f := range files {
		h.Write([]byte(f.rel))
		h.Write([]byte{0})
		h.Write(f.data)
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}
