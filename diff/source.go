package diff

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"testing/fstest"

	"github.com/parleyhq/parley/dsl"
)

// DefaultDir is the scenario directory a revision without a path reads,
// relative to the working directory, when the other side names none either.
const DefaultDir = "scenarios"

// Source is one side of a diff: a directory, or a git revision with an
// optional path (main, HEAD~1, origin/main:bots/shop).
type Source struct {
	// Spec is the argument as given.
	Spec string
	// Dir is set when Spec names a directory.
	Dir string
	// Rev and Path are set for a git revision; Path is relative to the repository's top level.
	Rev, Path string
}

// Name is how the source is shown: the directory, or rev:path.
func (s Source) Name() string {
	if s.Dir != "" {
		return s.Dir
	}
	return s.Rev + ":" + s.Path
}

// Resolve interprets the two arguments of a diff, in the working directory
// wd ("" for the current one). An argument that names an existing directory is
// that directory; anything else is a git revision, REV or REV:PATH. A
// revision without a path reads the other side's path (a directory's path
// inside the repository, or the other revision's path), else DefaultDir.
func Resolve(wd, oldSpec, newSpec string) (Source, Source, error) {
	o, err := classify(wd, oldSpec)
	if err != nil {
		return Source{}, Source{}, err
	}
	n, err := classify(wd, newSpec)
	if err != nil {
		return Source{}, Source{}, err
	}
	for _, pair := range [][2]*Source{{&o, &n}, {&n, &o}} {
		s, other := pair[0], pair[1]
		if s.Dir != "" || s.Path != "" {
			continue
		}
		switch {
		case other.Path != "":
			s.Path = other.Path
		case other.Dir != "":
			p, err := repoPath(wd, other.Dir)
			if err != nil {
				return Source{}, Source{}, err
			}
			s.Path = p
		default:
			p, err := repoPath(wd, DefaultDir)
			if err != nil {
				return Source{}, Source{}, err
			}
			s.Path = p
		}
	}
	return o, n, nil
}

func classify(wd, spec string) (Source, error) {
	if spec == "" {
		return Source{}, errors.New("an empty argument names neither a directory nor a git revision")
	}
	dir := spec
	if wd != "" && !filepath.IsAbs(dir) {
		dir = filepath.Join(wd, spec)
	}
	if st, err := os.Stat(dir); err == nil && st.IsDir() {
		return Source{Spec: spec, Dir: spec}, nil
	}
	rev, p, _ := strings.Cut(spec, ":")
	if strings.HasPrefix(rev, "-") {
		return Source{}, fmt.Errorf("%q is neither a directory nor a git revision", spec)
	}
	if _, err := git(wd, nil, "rev-parse", "--verify", "--quiet", rev+"^{commit}"); err != nil {
		return Source{}, fmt.Errorf("%q is neither a directory nor a git revision: %w", spec, err)
	}
	if strings.HasPrefix(p, "./") || strings.HasPrefix(p, "../") {
		// Relative to the working directory, as git's REV:./PATH is.
		prefix, err := git(wd, nil, "rev-parse", "--show-prefix")
		if err != nil {
			return Source{}, err
		}
		p = path.Join(strings.TrimSpace(string(prefix)), p)
	}
	p = strings.Trim(path.Clean("/"+p), "/")
	return Source{Spec: spec, Rev: rev, Path: p}, nil
}

// repoPath is a directory's path relative to the top level of the repository holding wd.
func repoPath(wd, dir string) (string, error) {
	top, err := git(wd, nil, "rev-parse", "--show-toplevel")
	if err != nil {
		return "", err
	}
	abs := dir
	if !filepath.IsAbs(abs) {
		base := wd
		if base == "" {
			if base, err = os.Getwd(); err != nil {
				return "", fmt.Errorf("finding the working directory: %w", err)
			}
		}
		abs = filepath.Join(base, dir)
	}
	topDir := strings.TrimSpace(string(top))
	// Compare real paths: a temporary directory may sit behind a symbolic link.
	if r, err := filepath.EvalSymlinks(topDir); err == nil {
		topDir = r
	}
	if r, err := filepath.EvalSymlinks(filepath.Dir(abs)); err == nil {
		abs = filepath.Join(r, filepath.Base(abs))
	}
	rel, err := filepath.Rel(topDir, abs)
	if err != nil || strings.HasPrefix(rel, "..") {
		return "", fmt.Errorf("%s is outside the git repository at %s", dir, topDir)
	}
	if rel == "." {
		return "", nil
	}
	return filepath.ToSlash(rel), nil
}

// Load loads the configuration of a source; a revision's files are read with
// git itself (ls-tree and cat-file), without a checkout.
func (s Source) Load(wd string, opts dsl.Options) (*dsl.Config, error) {
	if s.Dir != "" {
		dir := s.Dir
		if wd != "" && !filepath.IsAbs(dir) {
			dir = filepath.Join(wd, dir)
		}
		if opts.Display == "" {
			opts.Display = filepath.ToSlash(filepath.Clean(s.Dir))
		}
		return dsl.LoadDir(dir, opts)
	}
	fsys, err := s.files(wd)
	if err != nil {
		return nil, err
	}
	if opts.Display == "" {
		opts.Display = s.Name()
	}
	return dsl.Load(fsys, opts)
}

// files reads a revision's scenario files under its path into memory.
func (s Source) files(wd string) (fstest.MapFS, error) {
	args := []string{"ls-tree", "-r", "-z", "--full-tree", s.Rev}
	if s.Path != "" {
		args = append(args, "--", s.Path)
	}
	out, err := git(wd, nil, args...)
	if err != nil {
		return nil, err
	}
	type blob struct{ name, oid string }
	var blobs []blob
	prefix := s.Path
	if prefix != "" {
		prefix += "/"
	}
	for _, rec := range bytes.Split(out, []byte{0}) {
		meta, name, ok := bytes.Cut(rec, []byte{'\t'})
		if !ok {
			continue
		}
		f := strings.Fields(string(meta)) // mode type oid
		if len(f) != 3 || f[1] != "blob" {
			continue
		}
		rel, ok := strings.CutPrefix(string(name), prefix)
		if !ok || !dsl.IsScenarioFile(path.Base(rel)) {
			continue
		}
		blobs = append(blobs, blob{rel, f[2]})
	}
	if len(blobs) == 0 {
		where := s.Path
		if where == "" {
			where = "the top level"
		}
		return nil, fmt.Errorf("revision %s has no scenario files under %s", s.Rev, where)
	}
	var in bytes.Buffer
	for _, b := range blobs {
		in.WriteString(b.oid + "\n")
	}
	out, err = git(wd, &in, "cat-file", "--batch")
	if err != nil {
		return nil, err
	}
	r := bufio.NewReader(bytes.NewReader(out))
	fsys := fstest.MapFS{}
	for _, b := range blobs {
		header, err := r.ReadString('\n')
		if err != nil {
			return nil, fmt.Errorf("reading %s from git: %w", b.name, err)
		}
		f := strings.Fields(header) // oid type size
		if len(f) != 3 {
			return nil, fmt.Errorf("reading %s from git: unexpected %q", b.name, strings.TrimSpace(header))
		}
		size, err := strconv.Atoi(f[2])
		if err != nil {
			return nil, fmt.Errorf("reading %s from git: bad size %q", b.name, f[2])
		}
		data := make([]byte, size)
		if _, err := io.ReadFull(r, data); err != nil {
			return nil, fmt.Errorf("reading %s from git: %w", b.name, err)
		}
		r.ReadByte() // the newline after the content
		fsys[b.name] = &fstest.MapFile{Data: data, Mode: 0o644}
	}
	return fsys, nil
}

// git runs git in wd and returns its standard output.
func git(wd string, stdin io.Reader, args ...string) ([]byte, error) {
	cmd := exec.Command("git", args...)
	cmd.Dir = wd
	cmd.Stdin = stdin
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(errOut.String())
		if msg == "" {
			msg = err.Error()
		}
		return nil, fmt.Errorf("git %s: %s", strings.Join(args, " "), msg)
	}
	return out.Bytes(), nil
}
