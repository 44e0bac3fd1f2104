package reload

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
)

// IsConfigFile reports whether a file with this base name is part of a
// configuration by default: .cue, .yaml and .yml files, except hidden ones
// and conversation tests (*_test.cue, *_test.yaml, *_test.yml). It is the
// same rule as dsl.IsScenarioFile, repeated here so that this package does
// not depend on the loader.
func IsConfigFile(base string) bool {
	if strings.HasPrefix(base, ".") {
		return false
	}
	ext := path.Ext(base)
	switch ext {
	case ".cue", ".yaml", ".yml":
	default:
		return false
	}
	return !strings.HasSuffix(strings.TrimSuffix(base, ext), "_test")
}

// errNotDir is the error of watching or reading a path that became a file.
var errNotDir error = syscall.ENOTDIR

// skipWatch reports whether a directory is never watched: version control
// metadata and Parley's own data directory (.parley, where parley serve
// writes its state on every turn) change often and never hold configuration.
func skipWatch(name string) bool {
	switch name {
	case ".git", ".hg", ".svn", ".jj", ".parley":
		return true
	}
	return false
}

// snapshot is the content of a configuration directory at one moment.
type snapshot struct {
	version string              // Version of the content (see Hash)
	files   map[string][32]byte // relative slash path -> sha256 of the bytes
	dirs    map[string]struct{} // real directories to watch: the tree, hidden ones included
	extra   map[string]struct{} // directories holding targets of symbolic links that lie outside the tree
	real    string              // the root with symbolic links resolved
}

// scanOptions configure scan.
type scanOptions struct {
	include func(base string) bool
	// onDir is called for each directory before its entries are read, so a
	// watch added there sees every change made after the entries are read.
	onDir func(dir string)
}

type scannedFile struct {
	rel  string
	abs  string
	link bool
}

// scan reads every configuration file under root the way the loader does:
// directories whose name starts with "." are not read (but are still listed
// for watching, as a Kubernetes ..data swap happens there), symbolic links to
// regular files are followed, symbolic links to directories are not, and the
// root itself may be a symbolic link.
func scan(root string, o scanOptions) (*snapshot, error) {
	real, err := filepath.EvalSymlinks(root)
	if err != nil {
		return nil, fmt.Errorf("resolving scenario directory %s: %w", root, err)
	}
	st, err := os.Stat(real)
	if err != nil {
		return nil, fmt.Errorf("reading scenario directory %s: %w", root, err)
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("reading scenario directory %s: not a directory", root)
	}
	s := &snapshot{
		files: map[string][32]byte{},
		dirs:  map[string]struct{}{},
		extra: map[string]struct{}{},
		real:  real,
	}
	var found []scannedFile
	err = filepath.WalkDir(real, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if p != real && errors.Is(err, fs.ErrNotExist) {
				return nil // removed while we walk; the removal is an event of its own
			}
			return err
		}
		if d.IsDir() {
			if p != real && skipWatch(d.Name()) {
				return fs.SkipDir
			}
			s.dirs[p] = struct{}{}
			if o.onDir != nil {
				o.onDir(p)
			}
			return nil
		}
		if !o.include(d.Name()) {
			return nil
		}
		rel, err := filepath.Rel(real, p)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		if hiddenDir(rel) {
			return nil
		}
		found = append(found, scannedFile{rel: rel, abs: p, link: d.Type()&fs.ModeSymlink != 0})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("reading scenario directory %s: %w", root, err)
	}
	// The loader hashes files in path order, not in walk order.
	sort.Slice(found, func(i, j int) bool { return found[i].rel < found[j].rel })
	h := sha256.New()
	for _, f := range found {
		if f.link {
			target, err := filepath.EvalSymlinks(f.abs)
			if err != nil {
				continue // a dangling link is not a configuration file
			}
			st, err := os.Stat(target)
			if err != nil || !st.Mode().IsRegular() {
				continue
			}
			if dir := filepath.Dir(target); !within(real, dir) {
				s.extra[dir] = struct{}{}
			}
		}
		data, err := os.ReadFile(f.abs)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				continue // removed while we read; the removal is an event of its own
			}
			return nil, fmt.Errorf("reading %s: %w", f.rel, err)
		}
		s.files[f.rel] = sha256.Sum256(data)
		h.Write([]byte(f.rel))
		h.Write([]byte{0})
		h.Write(data)
		h.Write([]byte{0})
	}
	s.version = hex.EncodeToString(h.Sum(nil))[:16]
	return s, nil
}

// hiddenDir reports whether a slash path lies in a directory whose name
// starts with ".": the loader does not read those.
func hiddenDir(rel string) bool {
	dir, _ := path.Split(rel)
	for _, part := range strings.Split(strings.TrimSuffix(dir, "/"), "/") {
		if strings.HasPrefix(part, ".") {
			return true
		}
	}
	return false
}

// within reports whether p is root or lies under it.
func within(root, p string) bool {
	rel, err := filepath.Rel(root, p)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator))
}

// Hash returns the version of the configuration under root: the first 16 hex
// digits of a SHA-256 over every configuration file's relative path and
// bytes, in path order. include selects files by base name; nil means
// IsConfigFile. With the default include it equals the Version of the
// dsl.Config that dsl.LoadDir builds from the same files.
func Hash(root string, include func(base string) bool) (string, error) {
	if include == nil {
		include = IsConfigFile
	}
	s, err := scan(root, scanOptions{include: include})
	if err != nil {
		return "", err
	}
	return s.version, nil
}

// diff lists the files added, removed and modified from old to cur. A nil
// old means the previous files are unknown: every file counts as modified.
func diff(old, cur *snapshot) (added, removed, modified []string) {
	if old == nil {
		for rel := range cur.files {
			modified = append(modified, rel)
		}
		sort.Strings(modified)
		return nil, nil, modified
	}
	for rel, sum := range cur.files {
		prev, ok := old.files[rel]
		switch {
		case !ok:
			added = append(added, rel)
		case prev != sum:
			modified = append(modified, rel)
		}
	}
	for rel := range old.files {
		if _, ok := cur.files[rel]; !ok {
			removed = append(removed, rel)
		}
	}
	sort.Strings(added)
	sort.Strings(removed)
	sort.Strings(modified)
	return added, removed, modified
}
