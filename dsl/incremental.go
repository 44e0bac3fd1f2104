package dsl

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"sync"
	"sync/atomic"

	"github.com/parleyhq/parley/diag"
)

// Loader loads the same scenario directory again and again, as a watcher
// does after each change, and reuses the compiled scenarios of the files that
// did not change.
//
// Files that touch the same scenarios form a group (see Load). A group whose
// files all kept their paths and bytes is not evaluated again: the new
// configuration shares its compiled scenarios with the previous one. Groups
// with a changed, added or removed file are evaluated, each batch in a fresh
// CUE context. When any file declares more than plain scenarios (global
// values, imports, references across scenarios) groups are not independent
// and every Load is a full one. Either way Load gives the same configuration
// and the same diagnostics as the package-level Load.
//
// Shared scenarios hold plugin actions. They are released by reference
// count: each configuration and the Loader's cache hold one reference to the
// groups they use, and the actions of a group are closed when the last of
// them is gone (Config.Close, Loader.Close). A Loader is safe for concurrent
// use; Loads run one at a time.
type Loader struct {
	fsys fs.FS
	dir  string // checked before each load, as LoadDir does; "" for an fs.FS
	opts Options

	mu     sync.Mutex
	files  map[string]*cachedFile    // by relative path: files parsed successfully before
	groups map[string]*compiledGroup // by content key: groups compiled without a problem
	stats  LoadStats
	closed bool
}

// LoadStats describe the work of the latest Load of a Loader.
type LoadStats struct {
	// Full is set when every file was evaluated (the first load, or files
	// that are not plain scenario declarations).
	Full bool
	// Groups is the number of independent file groups, Reused how many of
	// them were not evaluated again.
	Groups, Reused int
	// Parsed is the number of files parsed.
	Parsed int
	// CloseErr is the error of closing the actions of compiled groups that
	// no configuration uses any more, dropped from the cache by this Load.
	CloseErr error
}

// cachedFile is what the Loader remembers of a file it parsed.
type cachedFile struct {
	data  []byte
	sum   [32]byte
	names []string // the scenarios it declares
	plain bool     // it declares nothing but scenarios (see scenarioNames)
}

// compiledGroup is the compiled scenarios of one group of files, shared by
// the configurations that use them and the Loader's cache.
type compiledGroup struct {
	scenarios []*Scenario
	refs      atomic.Int64
}

func (g *compiledGroup) acquire() { g.refs.Add(1) }

// release drops one reference and closes the group's actions with the last.
func (g *compiledGroup) release() error {
	if g.refs.Add(-1) != 0 {
		return nil
	}
	return closeActions(g.scenarios)
}

// NewLoader returns a Loader of the scenario files of fsys.
func NewLoader(fsys fs.FS, opts Options) *Loader {
	return &Loader{fsys: fsys, opts: opts, files: map[string]*cachedFile{}, groups: map[string]*compiledGroup{}}
}

// NewDirLoader returns a Loader of the scenario directory dir; as with
// LoadDir, file names in diagnostics start with dir.
func NewDirLoader(dir string, opts Options) *Loader {
	if opts.Display == "" {
		opts.Display = filepath.ToSlash(filepath.Clean(dir))
	}
	l := NewLoader(os.DirFS(dir), opts)
	l.dir = dir
	return l
}

// Stats describe the work of the latest Load.
func (l *Loader) Stats() LoadStats {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.stats
}

// Close releases the compiled scenarios the Loader keeps for reuse. The
// configurations it returned stay usable until they are closed themselves.
func (l *Loader) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.closed = true
	return l.dropGroups(nil)
}

// dropGroups releases the cached groups whose keys are not in keep.
func (l *Loader) dropGroups(keep map[string]bool) error {
	var errs []error
	for k, g := range l.groups {
		if !keep[k] {
			delete(l.groups, k)
			errs = append(errs, g.release())
		}
	}
	return errors.Join(errs...)
}

// errLoaderClosed is returned by Load after Close.
var errLoaderClosed = errors.New("loader is closed")

// Load reads the files and returns the configuration they make, as the
// package-level Load does, evaluating only the groups of files that changed
// since the previous Load. On failure the error is a diag.List.
func (l *Loader) Load() (*Config, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil, diag.List{{File: l.opts.Display, Code: diag.CodeIO, Message: errLoaderClosed.Error()}}
	}
	if l.dir != "" {
		st, err := os.Stat(l.dir)
		if err != nil {
			return nil, diag.List{{File: l.dir, Code: diag.CodeIO, Message: fmt.Sprintf("reading scenario directory: %v", unwrapPathError(err))}}
		}
		if !st.IsDir() {
			return nil, diag.List{{File: l.dir, Code: diag.CodeIO, Message: "not a directory"}}
		}
	}
	files, err := readFiles(l.fsys, l.opts.Display)
	if err != nil {
		return nil, diag.List{{File: l.opts.Display, Code: diag.CodeIO, Message: fmt.Sprintf("reading scenario files: %v", err)}}
	}
	return l.load(files)
}

func (l *Loader) load(files []sourceFile) (*Config, error) {
	l.stats = LoadStats{}
	// Parse the files that are new or changed; the others are known to
	// parse and to declare the scenarios remembered.
	fresh := map[string]*parsedFile{}
	var toParse []sourceFile
	for _, f := range files {
		if c := l.files[f.rel]; c == nil || !bytes.Equal(c.data, f.data) {
			toParse = append(toParse, f)
		}
	}
	parsed, diags := parseAll(toParse)
	l.stats.Parsed = len(toParse)
	if len(diags) > 0 {
		// Parse errors stop a full Load before evaluation too, and the
		// unchanged files parsed without error before.
		diags.Sort()
		return nil, diags
	}
	seen := make(map[string]bool, len(files))
	for i := range parsed {
		p := &parsed[i]
		names, plain := scenarioNames(p.ast)
		l.files[p.rel] = &cachedFile{data: p.data, sum: sha256.Sum256(p.data), names: names, plain: plain}
		fresh[p.rel] = p
	}
	plain := len(files) > 0
	for _, f := range files {
		seen[f.rel] = true
		if !l.files[f.rel].plain {
			plain = false
		}
	}
	for rel := range l.files {
		if !seen[rel] {
			delete(l.files, rel)
		}
	}
	if !plain {
		// The groups are not independent: the full load, with nothing kept
		// for the next one.
		l.stats.Full = true
		l.stats.CloseErr = l.dropGroups(nil)
		return loadFiles(files, l.opts)
	}

	groups, _ := groupFiles(files, func(f sourceFile) ([]string, bool) { return l.files[f.rel].names, true })
	l.stats.Groups = len(groups)
	keys := make([]string, len(groups))
	keep := make(map[string]bool, len(groups))
	var todo []int // groups to evaluate
	for i, g := range groups {
		keys[i] = l.groupKey(g)
		keep[keys[i]] = true
		if _, ok := l.groups[keys[i]]; ok {
			l.stats.Reused++
		} else {
			todo = append(todo, i)
		}
	}
	if len(todo) == len(groups) {
		l.stats.Full = true
	}
	// Evaluate the changed groups in balanced batches, each batch in its
	// own CUE context. Unchanged files of a changed group are parsed again:
	// a syntax tree is used by one evaluation only.
	var reparse []sourceFile
	for _, i := range todo {
		for _, f := range groups[i] {
			if fresh[f.rel] == nil {
				reparse = append(reparse, f)
			}
		}
	}
	again, diags := parseAll(reparse)
	l.stats.Parsed += len(reparse)
	if len(diags) > 0 { // the files changed while we read them
		diags.Sort()
		return nil, diags
	}
	for i := range again {
		fresh[again[i].rel] = &again[i]
	}
	sources := make(map[string][]byte, len(files))
	for _, f := range files {
		sources[f.name] = f.data
	}
	batches := balance(todo, groups, runtime.GOMAXPROCS(0))
	type result struct {
		ld  *loader
		cfg *Config
	}
	results := make([]result, len(batches))
	var wg sync.WaitGroup
	for bi, b := range batches {
		var bf []parsedFile
		for _, gi := range b {
			for _, f := range groups[gi] {
				bf = append(bf, *fresh[f.rel])
			}
		}
		sort.Slice(bf, func(i, j int) bool { return bf[i].rel < bf[j].rel })
		results[bi].ld = &loader{env: l.opts.env(), files: bf, sources: sources}
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[bi].cfg = results[bi].ld.load()
		}()
	}
	wg.Wait()
	for bi, r := range results {
		diags = append(diags, r.ld.diags...)
		if r.cfg == nil {
			continue
		}
		if len(r.ld.diags) > 0 {
			r.cfg.Close() // partly compiled; its groups are evaluated again next time
			continue
		}
		byName := make(map[string]*Scenario, len(r.cfg.Scenarios))
		for _, s := range r.cfg.Scenarios {
			byName[s.Name] = s
		}
		for _, gi := range batches[bi] {
			g := &compiledGroup{}
			for _, name := range groupNames(groups[gi], l.files) {
				if s := byName[name]; s != nil {
					g.scenarios = append(g.scenarios, s)
				}
			}
			g.acquire() // the cache's reference
			l.groups[keys[gi]] = g
		}
	}
	// The cache keeps the groups of the files just read, and only those.
	l.stats.CloseErr = l.dropGroups(keep)
	if len(diags) > 0 {
		diags.Sort()
		return nil, diags
	}
	cfg := &Config{Version: hashFiles(files), Global: map[string]any{}, scenarioByName: map[string]*Scenario{}}
	for _, f := range files {
		cfg.Files = append(cfg.Files, f.rel)
	}
	for _, k := range keys {
		g := l.groups[k]
		g.acquire()
		cfg.groups = append(cfg.groups, g)
		for _, s := range g.scenarios {
			cfg.Scenarios = append(cfg.Scenarios, s)
			cfg.scenarioByName[s.Name] = s
		}
	}
	sort.Slice(cfg.Scenarios, func(i, j int) bool { return cfg.Scenarios[i].Name < cfg.Scenarios[j].Name })
	return cfg, nil
}

// groupKey identifies a group's content: its files' paths and bytes.
func (l *Loader) groupKey(g []sourceFile) string {
	h := sha256.New()
	for _, f := range g {
		sum := l.files[f.rel].sum
		h.Write([]byte(f.rel))
		h.Write([]byte{0})
		h.Write(sum[:])
	}
	return hex.EncodeToString(h.Sum(nil))
}

// groupNames lists the scenarios the files of a group declare, once each.
func groupNames(g []sourceFile, files map[string]*cachedFile) []string {
	seen := map[string]bool{}
	var out []string
	for _, f := range g {
		for _, n := range files[f.rel].names {
			if !seen[n] {
				seen[n] = true
				out = append(out, n)
			}
		}
	}
	return out
}

// groupFiles splits files (in path order) into groups joined by the
// scenario names they declare; each group keeps path order, groups are in
// the order of their first file. It fails when names does for a file.
func groupFiles[F any](files []F, names func(F) ([]string, bool)) ([][]F, bool) {
	parent := make([]int, len(files))
	for i := range parent {
		parent[i] = i
	}
	find := func(i int) int {
		for parent[i] != i {
			parent[i] = parent[parent[i]]
			i = parent[i]
		}
		return i
	}
	owner := map[string]int{}
	for i, f := range files {
		ns, ok := names(f)
		if !ok {
			return nil, false
		}
		for _, name := range ns {
			if j, seen := owner[name]; seen {
				parent[find(i)] = find(j)
			} else {
				owner[name] = i
			}
		}
	}
	index := map[int]int{}
	var out [][]F
	for i, f := range files {
		r := find(i)
		k, ok := index[r]
		if !ok {
			k = len(out)
			index[r] = k
			out = append(out, nil)
		}
		out[k] = append(out[k], f)
	}
	return out, true
}

// balance spreads the groups todo over at most n batches by size, largest first.
func balance(todo []int, groups [][]sourceFile, n int) [][]int {
	if len(todo) == 0 {
		return nil
	}
	n = max(1, min(n, len(todo)))
	size := func(gi int) int {
		s := 0
		for _, f := range groups[gi] {
			s += len(f.data)
		}
		return s
	}
	order := append([]int(nil), todo...)
	sort.SliceStable(order, func(a, b int) bool { return size(order[a]) > size(order[b]) })
	batches := make([][]int, n)
	weights := make([]int, n)
	for _, gi := range order {
		k := 0
		for j := range weights {
			if weights[j] < weights[k] {
				k = j
			}
		}
		batches[k] = append(batches[k], gi)
		weights[k] += size(gi)
	}
	return batches
}
