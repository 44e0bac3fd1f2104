package reload

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fsnotify/fsnotify"
)

// waitLimit bounds every wait for an event; reloads take tens of milliseconds.
const waitLimit = 10 * time.Second

// testDebounce keeps the tests fast while leaving bursts room to merge.
const testDebounce = 30 * time.Millisecond

// liveConfig is what the test loader builds: the content of every
// configuration file, read independently of the Watcher's own scan.
type liveConfig struct {
	files map[string]string
}

// loadTree reads a directory the way dsl.Load does (fs.WalkDir over
// os.DirFS, hidden directories skipped, file symlinks followed) and rejects
// any file containing the word "invalid".
func loadTree(root string) (*liveConfig, error) {
	fsys := os.DirFS(root)
	cfg := &liveConfig{files: map[string]string{}}
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
		if !IsConfigFile(d.Name()) {
			return nil
		}
		if d.Type()&fs.ModeSymlink != 0 {
			if st, err := fs.Stat(fsys, p); err != nil || !st.Mode().IsRegular() {
				return nil
			}
		}
		data, err := fs.ReadFile(fsys, p)
		if err != nil {
			return err
		}
		if strings.Contains(string(data), "invalid") {
			return fmt.Errorf("%s:1:1: invalid content", p)
		}
		cfg.files[p] = string(data)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return cfg, nil
}

// harness is a Watcher applying the test loader's configurations, like the
// engine swaps dsl configurations.
type harness struct {
	t       *testing.T
	root    string
	w       *Watcher
	live    atomic.Pointer[liveConfig]
	applies atomic.Int64
	events  <-chan Event
	seen    []Event
}

func newHarness(t *testing.T, root string, opts Options, prepare ...func(*Watcher)) *harness {
	t.Helper()
	h := &harness{t: t, root: root}
	cfg, err := loadTree(root)
	if err != nil {
		t.Fatalf("initial load: %v", err)
	}
	h.live.Store(cfg)
	if opts.Debounce == 0 {
		opts.Debounce = testDebounce
	}
	opts.Apply = func(ctx context.Context, c Change) error {
		cfg, err := loadTree(root)
		if err != nil {
			return err
		}
		h.live.Store(cfg)
		h.applies.Add(1)
		return nil
	}
	w, err := New(root, opts)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range prepare {
		p(w)
	}
	h.w = w
	events, cancel := w.Subscribe()
	h.events = events
	if err := w.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		w.Close()
	})
	return h
}

// wait returns the first event satisfying ok, failing the test after waitLimit.
func (h *harness) wait(what string, ok func(Event) bool) Event {
	h.t.Helper()
	timeout := time.NewTimer(waitLimit)
	defer timeout.Stop()
	for {
		select {
		case ev, open := <-h.events:
			if !open {
				h.t.Fatalf("waiting for %s: subscription closed", what)
			}
			h.seen = append(h.seen, ev)
			if ok(ev) {
				return ev
			}
		case <-timeout.C:
			h.t.Fatalf("waiting for %s: timed out after %v; events seen: %s", what, waitLimit, describe(h.seen))
		}
	}
}

// waitContent waits for an applied event after which the live configuration
// holds want, and returns that event.
func (h *harness) waitContent(want map[string]string) Event {
	h.t.Helper()
	return h.wait(fmt.Sprintf("live content %v", want), func(ev Event) bool {
		return ev.Outcome == Applied && equalFiles(h.live.Load().files, want)
	})
}

// quiet drains events for d and returns those seen.
func (h *harness) quiet(d time.Duration) []Event {
	var got []Event
	timeout := time.NewTimer(d)
	defer timeout.Stop()
	for {
		select {
		case ev := <-h.events:
			got = append(got, ev)
		case <-timeout.C:
			return got
		}
	}
}

func describe(evs []Event) string {
	var b strings.Builder
	for _, ev := range evs {
		fmt.Fprintf(&b, "\n  %s %s (%s) +%v -%v ~%v err=%v", ev.Outcome, ev.Version, ev.Trigger, ev.Added, ev.Removed, ev.Modified, ev.Err)
	}
	return b.String()
}

func equalFiles(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

func write(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestEditInPlace(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	write(t, filepath.Join(root, "a.cue"), "v1")
	write(t, filepath.Join(root, "b.yaml"), "b1")
	h := newHarness(t, root, Options{})
	v1 := h.w.Version()
	if v1 == "" || h.w.Mode() != ModeNotify {
		t.Fatalf("version %q mode %q", v1, h.w.Mode())
	}

	f, err := os.OpenFile(filepath.Join(root, "a.cue"), os.O_WRONLY|os.O_TRUNC, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString("v2"); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	ev := h.waitContent(map[string]string{"a.cue": "v2", "b.yaml": "b1"})
	if ev.Previous != v1 || ev.Version == v1 || h.w.Version() != ev.Version {
		t.Errorf("versions: previous %s new %s live %s, started at %s", ev.Previous, ev.Version, h.w.Version(), v1)
	}
	if !slices.Equal(ev.Modified, []string{"a.cue"}) || len(ev.Added)+len(ev.Removed) != 0 {
		t.Errorf("files changed: %s", describe([]Event{ev}))
	}
	if ev.Trigger != TriggerNotify || ev.Detected.After(ev.Time) || ev.Duration <= 0 {
		t.Errorf("event metadata: %+v", ev)
	}
	if last, ok := h.w.Last(); !ok || last.Version != ev.Version || last.Outcome != Applied {
		t.Errorf("Last = %+v, %v", last, ok)
	}
	if want, _ := Hash(root, nil); want != ev.Version {
		t.Errorf("Hash = %s, event version %s", want, ev.Version)
	}
}

func TestRenameSave(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	write(t, filepath.Join(root, "main.cue"), "v1")
	h := newHarness(t, root, Options{})

	// An editor writes a temporary file next to the original and renames it over.
	for i, content := range []string{"v2", "v3"} {
		tmp := filepath.Join(root, fmt.Sprintf(".main.cue.swp%d", i))
		write(t, tmp, content)
		if err := os.Rename(tmp, filepath.Join(root, "main.cue")); err != nil {
			t.Fatal(err)
		}
		ev := h.waitContent(map[string]string{"main.cue": content})
		if !slices.Equal(ev.Modified, []string{"main.cue"}) {
			t.Errorf("files changed: %s", describe([]Event{ev}))
		}
	}
	// Vim's default: rename the original to a backup, write a new file.
	if err := os.Rename(filepath.Join(root, "main.cue"), filepath.Join(root, "main.cue~")); err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(root, "main.cue"), "v4")
	if err := os.Remove(filepath.Join(root, "main.cue~")); err != nil {
		t.Fatal(err)
	}
	h.waitContent(map[string]string{"main.cue": "v4"})
}

func TestDeleteAndRecreate(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	write(t, filepath.Join(root, "a.cue"), "v1")
	write(t, filepath.Join(root, "keep.cue"), "k")
	h := newHarness(t, root, Options{})

	if err := os.Remove(filepath.Join(root, "a.cue")); err != nil {
		t.Fatal(err)
	}
	ev := h.waitContent(map[string]string{"keep.cue": "k"})
	if !slices.Equal(ev.Removed, []string{"a.cue"}) {
		t.Errorf("delete: %s", describe([]Event{ev}))
	}
	write(t, filepath.Join(root, "a.cue"), "v2")
	ev = h.waitContent(map[string]string{"a.cue": "v2", "keep.cue": "k"})
	if !slices.Equal(ev.Added, []string{"a.cue"}) {
		t.Errorf("recreate: %s", describe([]Event{ev}))
	}

	// Deleted and recreated within one debounce: one change of content.
	if err := os.Remove(filepath.Join(root, "a.cue")); err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(root, "a.cue"), "v3")
	ev = h.waitContent(map[string]string{"a.cue": "v3", "keep.cue": "k"})
	if !slices.Equal(ev.Modified, []string{"a.cue"}) && !slices.Equal(ev.Added, []string{"a.cue"}) {
		t.Errorf("quick recreate: %s", describe([]Event{ev}))
	}

	// A whole subdirectory deleted and recreated: the new directory (a new
	// inode at the same path) must be watched again.
	write(t, filepath.Join(root, "sub", "s.cue"), "s1")
	h.waitContent(map[string]string{"a.cue": "v3", "keep.cue": "k", "sub/s.cue": "s1"})
	if err := os.RemoveAll(filepath.Join(root, "sub")); err != nil {
		t.Fatal(err)
	}
	h.waitContent(map[string]string{"a.cue": "v3", "keep.cue": "k"})
	write(t, filepath.Join(root, "sub", "s.cue"), "s2")
	h.waitContent(map[string]string{"a.cue": "v3", "keep.cue": "k", "sub/s.cue": "s2"})
	write(t, filepath.Join(root, "sub", "s.cue"), "s3")
	h.waitContent(map[string]string{"a.cue": "v3", "keep.cue": "k", "sub/s.cue": "s3"})
}

func TestNewSubdirectory(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	write(t, filepath.Join(root, "a.cue"), "v1")
	h := newHarness(t, root, Options{})

	// mkdir -p then files: the nested directories appear before any watch on them.
	write(t, filepath.Join(root, "greeter", "nested", "deep", "b.cue"), "b1")
	write(t, filepath.Join(root, "greeter", "c.yml"), "c1")
	ev := h.waitContent(map[string]string{"a.cue": "v1", "greeter/nested/deep/b.cue": "b1", "greeter/c.yml": "c1"})
	if len(ev.Added) == 0 {
		t.Errorf("added: %s", describe([]Event{ev}))
	}
	// The new directories are watched now: an edit deep inside is seen.
	write(t, filepath.Join(root, "greeter", "nested", "deep", "b.cue"), "b2")
	ev = h.waitContent(map[string]string{"a.cue": "v1", "greeter/nested/deep/b.cue": "b2", "greeter/c.yml": "c1"})
	if !slices.Equal(ev.Modified, []string{"greeter/nested/deep/b.cue"}) {
		t.Errorf("modified: %s", describe([]Event{ev}))
	}
	// A directory moved in from elsewhere, already full.
	outside := t.TempDir()
	write(t, filepath.Join(outside, "moved", "m.cue"), "m1")
	if err := os.Rename(filepath.Join(outside, "moved"), filepath.Join(root, "moved")); err != nil {
		t.Fatal(err)
	}
	h.waitContent(map[string]string{"a.cue": "v1", "greeter/nested/deep/b.cue": "b2", "greeter/c.yml": "c1", "moved/m.cue": "m1"})
	write(t, filepath.Join(root, "moved", "m.cue"), "m2")
	h.waitContent(map[string]string{"a.cue": "v1", "greeter/nested/deep/b.cue": "b2", "greeter/c.yml": "c1", "moved/m.cue": "m2"})
	// A directory renamed inside the tree stays watched under its new name.
	if err := os.Rename(filepath.Join(root, "moved"), filepath.Join(root, "renamed")); err != nil {
		t.Fatal(err)
	}
	h.waitContent(map[string]string{"a.cue": "v1", "greeter/nested/deep/b.cue": "b2", "greeter/c.yml": "c1", "renamed/m.cue": "m2"})
	write(t, filepath.Join(root, "renamed", "m.cue"), "m3")
	h.waitContent(map[string]string{"a.cue": "v1", "greeter/nested/deep/b.cue": "b2", "greeter/c.yml": "c1", "renamed/m.cue": "m3"})
}

// configMapUpdate does what the kubelet's atomic writer does to a ConfigMap
// volume: write the new files into a fresh timestamped directory, point a
// ..data_tmp symlink at it, rename that over ..data, make sure every
// top-level name is a symlink into ..data, and delete the old directory.
func configMapUpdate(t *testing.T, root, stamp string, files map[string]string) {
	t.Helper()
	dir := "..2026_01_01_00_00_" + stamp
	for name, content := range files {
		write(t, filepath.Join(root, dir, name), content)
	}
	old, _ := os.Readlink(filepath.Join(root, "..data"))
	if err := os.Symlink(dir, filepath.Join(root, "..data_tmp")); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(filepath.Join(root, "..data_tmp"), filepath.Join(root, "..data")); err != nil {
		t.Fatal(err)
	}
	for name := range files {
		link := filepath.Join(root, name)
		if _, err := os.Lstat(link); errors.Is(err, fs.ErrNotExist) {
			if err := os.Symlink(filepath.Join("..data", name), link); err != nil {
				t.Fatal(err)
			}
		}
	}
	entries, err := os.ReadDir(root)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if _, keep := files[e.Name()]; !keep && !strings.HasPrefix(e.Name(), ".") {
			if err := os.Remove(filepath.Join(root, e.Name())); err != nil {
				t.Fatal(err)
			}
		}
	}
	if old != "" {
		if err := os.RemoveAll(filepath.Join(root, old)); err != nil {
			t.Fatal(err)
		}
	}
}

func TestConfigMapSymlinkSwap(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	configMapUpdate(t, root, "01", map[string]string{"greeter.cue": "g1", "shop.yaml": "s1"})
	h := newHarness(t, root, Options{})
	if got := h.live.Load().files; !equalFiles(got, map[string]string{"greeter.cue": "g1", "shop.yaml": "s1"}) {
		t.Fatalf("initial content %v", got)
	}

	configMapUpdate(t, root, "02", map[string]string{"greeter.cue": "g2", "shop.yaml": "s1"})
	ev := h.waitContent(map[string]string{"greeter.cue": "g2", "shop.yaml": "s1"})
	if !slices.Equal(ev.Modified, []string{"greeter.cue"}) || len(ev.Added)+len(ev.Removed) != 0 {
		t.Errorf("swap: %s", describe([]Event{ev}))
	}
	configMapUpdate(t, root, "03", map[string]string{"greeter.cue": "g3", "shop.yaml": "s1", "extra.cue": "e"})
	ev = h.waitContent(map[string]string{"greeter.cue": "g3", "shop.yaml": "s1", "extra.cue": "e"})
	if !slices.Equal(ev.Added, []string{"extra.cue"}) {
		t.Errorf("swap with a new key: %s", describe([]Event{ev}))
	}
	configMapUpdate(t, root, "04", map[string]string{"greeter.cue": "g3"})
	ev = h.waitContent(map[string]string{"greeter.cue": "g3"})
	if !slices.Equal(ev.Removed, []string{"extra.cue", "shop.yaml"}) {
		t.Errorf("swap removing keys: %s", describe([]Event{ev}))
	}
	if want, _ := Hash(root, nil); want != h.w.Version() {
		t.Errorf("live version %s, files hash to %s", h.w.Version(), want)
	}
}

func TestSymlinkedFileOutsideTree(t *testing.T) {
	t.Parallel()
	root, shared := t.TempDir(), t.TempDir()
	write(t, filepath.Join(shared, "common.cue"), "c1")
	write(t, filepath.Join(root, "a.cue"), "a1")
	if err := os.Symlink(filepath.Join(shared, "common.cue"), filepath.Join(root, "common.cue")); err != nil {
		t.Fatal(err)
	}
	h := newHarness(t, root, Options{})
	// Editing the target, in a directory outside the tree, is seen.
	write(t, filepath.Join(shared, "common.cue"), "c2")
	ev := h.waitContent(map[string]string{"a.cue": "a1", "common.cue": "c2"})
	if !slices.Equal(ev.Modified, []string{"common.cue"}) {
		t.Errorf("modified: %s", describe([]Event{ev}))
	}
	// A dangling link is not a configuration file, as for the loader.
	if err := os.Remove(filepath.Join(shared, "common.cue")); err != nil {
		t.Fatal(err)
	}
	ev = h.waitContent(map[string]string{"a.cue": "a1"})
	if !slices.Equal(ev.Removed, []string{"common.cue"}) {
		t.Errorf("removed: %s", describe([]Event{ev}))
	}
}

func TestRootSymlink(t *testing.T) {
	t.Parallel()
	base := t.TempDir()
	targets := filepath.Join(base, "targets")
	write(t, filepath.Join(targets, "v1", "a.cue"), "a1")
	links := filepath.Join(base, "links")
	if err := os.Mkdir(links, 0o755); err != nil {
		t.Fatal(err)
	}
	root := filepath.Join(links, "current")
	if err := os.Symlink("../targets/v1", root); err != nil {
		t.Fatal(err)
	}
	h := newHarness(t, root, Options{})

	write(t, filepath.Join(targets, "v1", "a.cue"), "a2")
	h.waitContent(map[string]string{"a.cue": "a2"})

	// Point the root at another directory, atomically.
	write(t, filepath.Join(targets, "v2", "sub", "b.cue"), "b1")
	if err := os.Symlink("../targets/v2", filepath.Join(links, "current.tmp")); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(filepath.Join(links, "current.tmp"), root); err != nil {
		t.Fatal(err)
	}
	h.waitContent(map[string]string{"sub/b.cue": "b1"})
	// The watches followed the root to its new target.
	write(t, filepath.Join(targets, "v2", "sub", "b.cue"), "b2")
	h.waitContent(map[string]string{"sub/b.cue": "b2"})

	// The target directory deleted: rejected, the old version serves; recreated: applied.
	if err := os.RemoveAll(filepath.Join(targets, "v2")); err != nil {
		t.Fatal(err)
	}
	ev := h.wait("rejection", func(ev Event) bool { return ev.Outcome == Rejected })
	if ev.Err == nil || !equalFiles(h.live.Load().files, map[string]string{"sub/b.cue": "b2"}) {
		t.Errorf("target removed: %s", describe([]Event{ev}))
	}
	write(t, filepath.Join(targets, "v2", "sub", "b.cue"), "b3")
	h.waitContent(map[string]string{"sub/b.cue": "b3"})
	write(t, filepath.Join(targets, "v2", "sub", "b.cue"), "b4")
	h.waitContent(map[string]string{"sub/b.cue": "b4"})
}

func TestInvalidEditRejected(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	write(t, filepath.Join(root, "a.cue"), "v1")
	h := newHarness(t, root, Options{})
	good := h.w.Version()

	write(t, filepath.Join(root, "a.cue"), "invalid edit")
	ev := h.wait("rejection", func(ev Event) bool { return ev.Outcome == Rejected })
	if ev.Err == nil || !strings.Contains(ev.Err.Error(), "a.cue:1:1: invalid content") {
		t.Errorf("rejection error: %v", ev.Err)
	}
	if ev.Version == good || ev.Previous != good || !slices.Equal(ev.Modified, []string{"a.cue"}) {
		t.Errorf("rejection: %s", describe([]Event{ev}))
	}
	// The old version keeps serving.
	if got := h.live.Load().files; !equalFiles(got, map[string]string{"a.cue": "v1"}) {
		t.Errorf("live content after rejection: %v", got)
	}
	if h.w.Version() != good {
		t.Errorf("live version %s, want %s", h.w.Version(), good)
	}
	if last, ok := h.w.Last(); !ok || last.Outcome != Rejected || last.Err == nil {
		t.Errorf("Last = %+v", last)
	}
	// Touching the broken files again does not retry them.
	h.w.Rescan()
	ev = h.wait("rescan", func(ev Event) bool { return ev.Trigger == TriggerRescan })
	if ev.Outcome != Unchanged || h.applies.Load() != 0 {
		t.Errorf("rescan of a rejected version: %s (applies %d)", describe([]Event{ev}), h.applies.Load())
	}

	// Reverting to the live content clears the rejection without applying.
	write(t, filepath.Join(root, "a.cue"), "v1")
	ev = h.wait("revert", func(ev Event) bool { return ev.Version == good })
	if ev.Outcome != Unchanged || ev.Err != nil || h.applies.Load() != 0 {
		t.Errorf("revert: %s", describe([]Event{ev}))
	}
	if last, _ := h.w.Last(); last.Outcome != Unchanged || last.Err != nil || last.Version != good {
		t.Errorf("Last after revert = %+v", last)
	}

	// A fix applies.
	write(t, filepath.Join(root, "a.cue"), "v2")
	h.waitContent(map[string]string{"a.cue": "v2"})
}

func TestApplyPanicIsRejection(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	write(t, filepath.Join(root, "a.cue"), "v1")
	w, err := New(root, Options{Debounce: testDebounce, Apply: func(context.Context, Change) error { panic("loader bug") }})
	if err != nil {
		t.Fatal(err)
	}
	events, cancel := w.Subscribe()
	defer cancel()
	if err := w.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	write(t, filepath.Join(root, "a.cue"), "v2")
	h := &harness{t: t, events: events}
	ev := h.wait("rejection", func(ev Event) bool { return ev.Outcome != Unchanged })
	if ev.Outcome != Rejected || !strings.Contains(fmt.Sprint(ev.Err), "panic: loader bug") {
		t.Errorf("panic: %s", describe([]Event{ev}))
	}
}

func TestBurstOfWrites(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	write(t, filepath.Join(root, "a.cue"), "v0")
	h := newHarness(t, root, Options{Debounce: 50 * time.Millisecond})

	for i := 1; i <= 100; i++ {
		write(t, filepath.Join(root, "a.cue"), fmt.Sprintf("v%d", i))
	}
	h.waitContent(map[string]string{"a.cue": "v100"})
	h.quiet(150 * time.Millisecond)
	if n := h.applies.Load(); n < 1 || n > 2 {
		t.Errorf("100 writes gave %d reloads, want 1 or 2", n)
	}
}

func TestIgnoredFiles(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	write(t, filepath.Join(root, "a.cue"), "v1")
	h := newHarness(t, root, Options{})

	write(t, filepath.Join(root, "README.md"), "docs")
	write(t, filepath.Join(root, "a_test.cue"), "test")
	write(t, filepath.Join(root, "conv_test.yaml"), "test")
	write(t, filepath.Join(root, ".hidden.cue"), "hidden")
	write(t, filepath.Join(root, ".cache", "x.cue"), "hidden dir")
	write(t, filepath.Join(root, ".git", "objects", "x.cue"), "git")
	write(t, filepath.Join(root, ".parley", "state.db"), "state")
	write(t, filepath.Join(root, "a.cue"), "v1") // same content
	write(t, filepath.Join(root, "b.cue"), "b")
	ev := h.waitContent(map[string]string{"a.cue": "v1", "b.cue": "b"})
	if !slices.Equal(ev.Added, []string{"b.cue"}) || len(ev.Modified)+len(ev.Removed) != 0 {
		t.Errorf("changed files: %s", describe([]Event{ev}))
	}
	for _, e := range append(h.seen, ev) {
		if e.Outcome == Applied && e.Version != ev.Version {
			t.Errorf("applied for ignored files: %s", describe([]Event{e}))
		}
	}
	snap, err := scan(root, scanOptions{include: IsConfigFile})
	if err != nil {
		t.Fatal(err)
	}
	for _, dir := range []string{".git", ".parley"} {
		if _, watched := snap.dirs[filepath.Join(snap.real, dir)]; watched {
			t.Errorf("%s is watched", dir)
		}
	}
	if _, watched := snap.dirs[filepath.Join(snap.real, ".cache")]; !watched {
		t.Error(".cache is not watched")
	}
}

func TestPolling(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	write(t, filepath.Join(root, "a.cue"), "v1")
	h := newHarness(t, root, Options{Poll: 20 * time.Millisecond})
	if h.w.Mode() != ModePoll {
		t.Fatalf("mode %s", h.w.Mode())
	}
	write(t, filepath.Join(root, "sub", "a.cue"), "v2")
	ev := h.waitContent(map[string]string{"a.cue": "v1", "sub/a.cue": "v2"})
	if ev.Trigger != TriggerPoll || !slices.Equal(ev.Added, []string{"sub/a.cue"}) {
		t.Errorf("poll event: %s", describe([]Event{ev}))
	}
	// Polls that find nothing new publish nothing.
	if evs := h.quiet(100 * time.Millisecond); len(evs) != 0 {
		t.Errorf("idle polls published: %s", describe(evs))
	}
}

func TestPollingRootRemoved(t *testing.T) {
	t.Parallel()
	root := filepath.Join(t.TempDir(), "scenarios")
	write(t, filepath.Join(root, "a.cue"), "v1")
	h := newHarness(t, root, Options{Poll: 10 * time.Millisecond})
	if err := os.RemoveAll(root); err != nil {
		t.Fatal(err)
	}
	h.wait("rejection", func(ev Event) bool { return ev.Outcome == Rejected })
	// The same read error on later ticks is not published again.
	if evs := h.quiet(100 * time.Millisecond); len(evs) != 0 {
		t.Errorf("repeated: %s", describe(evs))
	}
	write(t, filepath.Join(root, "a.cue"), "v2")
	h.waitContent(map[string]string{"a.cue": "v2"})
}

func TestFallbackToPolling(t *testing.T) {
	t.Parallel()
	cases := map[string]func() (*fsnotify.Watcher, error){
		"cannot create watcher": func() (*fsnotify.Watcher, error) {
			return nil, errors.New("too many open files")
		},
		"cannot watch root": func() (*fsnotify.Watcher, error) {
			fw, err := fsnotify.NewWatcher()
			if err == nil {
				fw.Close() // every Add fails with fsnotify.ErrClosed
			}
			return fw, err
		},
	}
	for name, newFS := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			root := t.TempDir()
			write(t, filepath.Join(root, "a.cue"), "v1")
			h := newHarness(t, root, Options{FallbackPoll: 20 * time.Millisecond}, func(w *Watcher) { w.newFS = newFS })
			if h.w.Mode() != ModePoll {
				t.Fatalf("mode %s", h.w.Mode())
			}
			write(t, filepath.Join(root, "a.cue"), "v2")
			h.waitContent(map[string]string{"a.cue": "v2"})
		})
	}
}

func TestStartWithStaleVersion(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	write(t, filepath.Join(root, "a.cue"), "v1")
	// The engine loaded "v1", then the files changed before the watch began.
	old, err := Hash(root, nil)
	if err != nil {
		t.Fatal(err)
	}
	h := newHarness(t, root, Options{Version: old})
	write(t, filepath.Join(root, "a.cue"), "v2")
	h.waitContent(map[string]string{"a.cue": "v2"})

	root2 := t.TempDir()
	write(t, filepath.Join(root2, "a.cue"), "v2")
	h2 := newHarness(t, root2, Options{Version: old})
	ev := h2.wait("start reload", func(ev Event) bool { return ev.Trigger == TriggerStart })
	if ev.Outcome != Applied || ev.Previous != old || !slices.Equal(ev.Modified, []string{"a.cue"}) {
		t.Errorf("start: %s", describe([]Event{ev}))
	}
}

func TestRootRemovedAndRestored(t *testing.T) {
	t.Parallel()
	base := t.TempDir()
	root := filepath.Join(base, "scenarios")
	write(t, filepath.Join(root, "a.cue"), "v1")
	h := newHarness(t, root, Options{})
	good := h.w.Version()

	if err := os.RemoveAll(root); err != nil {
		t.Fatal(err)
	}
	ev := h.wait("rejection", func(ev Event) bool { return ev.Outcome == Rejected })
	if ev.Err == nil || ev.Version != "" || h.w.Version() != good {
		t.Errorf("root removed: %s", describe([]Event{ev}))
	}
	write(t, filepath.Join(root, "a.cue"), "v2")
	h.waitContent(map[string]string{"a.cue": "v2"})
	write(t, filepath.Join(root, "a.cue"), "v3")
	h.waitContent(map[string]string{"a.cue": "v3"})
}

func TestOverflowRescans(t *testing.T) {
	t.Parallel()
	if data, err := os.ReadFile("/proc/sys/fs/inotify/max_queued_events"); err != nil {
		t.Skip("no inotify queue limit to overflow")
	} else if n := strings.TrimSpace(string(data)); len(n) > 5 {
		t.Skipf("inotify queue holds %s events; too many to overflow in a test", n)
	}
	root := t.TempDir()
	write(t, filepath.Join(root, "a.cue"), "v1")
	write(t, filepath.Join(root, "b.cue"), "")
	write(t, filepath.Join(root, "c.cue"), "")
	entered := make(chan struct{}, 1)
	release := make(chan struct{})
	var calls atomic.Int64
	var live atomic.Pointer[liveConfig]
	w, err := New(root, Options{Debounce: testDebounce, Apply: func(ctx context.Context, c Change) error {
		if calls.Add(1) == 1 {
			entered <- struct{}{}
			select {
			case <-release:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		cfg, err := loadTree(root)
		if err == nil {
			live.Store(cfg)
		}
		return err
	}})
	if err != nil {
		t.Fatal(err)
	}
	events, cancel := w.Subscribe()
	defer cancel()
	if err := w.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	write(t, filepath.Join(root, "a.cue"), "v2")
	select {
	case <-entered:
	case <-time.After(waitLimit):
		t.Fatal("first reload never started")
	}
	// While the Watcher is busy, alternate writes to two files so the
	// kernel cannot merge them: more events than its queue holds.
	fb, err := os.OpenFile(filepath.Join(root, "b.cue"), os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer fb.Close()
	fc, err := os.OpenFile(filepath.Join(root, "c.cue"), os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer fc.Close()
	for i := 0; i < 15000; i++ {
		fb.Write([]byte("b"))
		fc.Write([]byte("c"))
	}
	write(t, filepath.Join(root, "a.cue"), "v3")
	close(release)
	h := &harness{t: t, events: events}
	h.wait("overflow rescan", func(ev Event) bool { return ev.Trigger == TriggerOverflow })
	// The rescan (or a reload before it) read everything written.
	if cfg := live.Load(); cfg == nil || cfg.files["a.cue"] != "v3" || len(cfg.files["b.cue"]) != 15000 || len(cfg.files["c.cue"]) != 15000 {
		t.Errorf("live content after the overflow is not the last written")
	}
}

func TestSubscriptions(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	write(t, filepath.Join(root, "a.cue"), "v1")
	h := newHarness(t, root, Options{})
	// A subscriber that never reads keeps only the latest events.
	slow, cancelSlow := h.w.Subscribe()
	gone, cancelGone := h.w.Subscribe()
	cancelGone()
	cancelGone()
	if _, open := <-gone; open {
		t.Error("cancelled subscription still open")
	}
	for i := 0; i < subscriptionBuffer+4; i++ {
		h.w.Rescan()
		h.wait("rescan", func(ev Event) bool { return ev.Trigger == TriggerRescan })
	}
	write(t, filepath.Join(root, "a.cue"), "v2")
	final := h.waitContent(map[string]string{"a.cue": "v2"})
	var got []Event
	for len(slow) > 0 {
		got = append(got, <-slow)
	}
	if len(got) != subscriptionBuffer || got[len(got)-1].Version != final.Version {
		t.Errorf("slow subscriber holds %d events, last %s", len(got), describe(got[len(got)-1:]))
	}
	cancelSlow()
	h.w.Close()
	if _, open := <-h.events; open {
		// drain what was buffered before Close
		for range h.events {
		}
	}
	late, _ := h.w.Subscribe()
	if _, open := <-late; open {
		t.Error("subscription after Close is open")
	}
	if err := h.w.Start(context.Background()); err == nil {
		t.Error("Start after Close succeeded")
	}
}

func TestBadInput(t *testing.T) {
	t.Parallel()
	apply := func(context.Context, Change) error { return nil }
	if _, err := New("", Options{Apply: apply}); err == nil {
		t.Error("empty root accepted")
	}
	if _, err := New(t.TempDir(), Options{}); err == nil {
		t.Error("nil Apply accepted")
	}
	if _, err := New(t.TempDir(), Options{Apply: apply, Debounce: -1}); err == nil {
		t.Error("negative debounce accepted")
	}
	missing := filepath.Join(t.TempDir(), "missing")
	w, err := New(missing, Options{Apply: apply})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Start(t.Context()); err == nil || !strings.Contains(err.Error(), "missing") {
		t.Errorf("Start on a missing directory: %v", err)
	}
	file := filepath.Join(t.TempDir(), "file.cue")
	write(t, file, "x")
	w, _ = New(file, Options{Apply: apply})
	if err := w.Start(t.Context()); err == nil || !strings.Contains(err.Error(), "not a directory") {
		t.Errorf("Start on a file: %v", err)
	}
	w.Close()
}

func TestEventJSON(t *testing.T) {
	ev := Event{
		Change:  Change{Version: "b", Previous: "a", Modified: []string{"x.cue"}},
		Outcome: Rejected, Err: errors.New("x.cue:1:2: schema.field_not_allowed: colour"), Trigger: TriggerNotify,
	}
	data, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"version":"b"`, `"previous":"a"`, `"modified":["x.cue"]`, `"outcome":"rejected"`, `"trigger":"notify"`, `"error":"x.cue:1:2: schema.field_not_allowed: colour"`} {
		if !strings.Contains(string(data), want) {
			t.Errorf("%s lacks %s", data, want)
		}
	}
}

func TestIsConfigFile(t *testing.T) {
	for name, want := range map[string]bool{
		"a.cue": true, "a.yaml": true, "a.yml": true, "a.json": false, "README.md": false,
		"a_test.cue": false, "a_test.yaml": false, "a_test.yml": false, ".a.cue": false,
		"..data": false, "test.cue": true, "a.cue~": false, "a.cue.swp": false,
	} {
		if got := IsConfigFile(name); got != want {
			t.Errorf("IsConfigFile(%q) = %v", name, got)
		}
	}
}

// TestOnEventSeesEveryEventBeforeSubscribers: the hook is called with each
// event before any subscriber receives it, so logging through it never lags.
func TestOnEventSeesEveryEventBeforeSubscribers(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	write(t, filepath.Join(root, "a.cue"), "v1")
	var mu sync.Mutex
	var seen []string
	h := newHarness(t, root, Options{OnEvent: func(ev Event) {
		mu.Lock()
		seen = append(seen, fmt.Sprint(ev.Version, " ", ev.Outcome))
		mu.Unlock()
	}})
	for i, content := range []string{"v2", "v3"} {
		write(t, filepath.Join(root, "a.cue"), content)
		ev := h.waitContent(map[string]string{"a.cue": content})
		mu.Lock()
		got := slices.Contains(seen, fmt.Sprint(ev.Version, " ", ev.Outcome))
		mu.Unlock()
		if !got {
			t.Fatalf("edit %d: subscriber got %s %s before OnEvent (seen %v)", i, ev.Version, ev.Outcome, seen)
		}
	}
}
