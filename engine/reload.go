package engine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/parleyhq/parley/diag"
	"github.com/parleyhq/parley/dsl"
	"github.com/parleyhq/parley/reload"
)

// version is a configuration as the engine runs it: each turn holds a
// reference for as long as it runs, and the engine holds one while the
// version is live, so a retired configuration is closed after the last turn
// that started on it, and never before.
type version struct {
	e    *Engine
	cfg  *dsl.Config
	refs atomic.Int64 // running turns, plus one while live
	own  atomic.Bool  // close cfg with the last reference (false after Swap)
	once sync.Once
}

func (e *Engine) newVersion(cfg *dsl.Config) *version {
	v := &version{e: e, cfg: cfg}
	v.refs.Store(1)
	v.own.Store(true)
	return v
}

// acquire returns the live version with a reference taken for the caller.
// A version swapped out between the load and the increment may already be
// closed (its count reached zero): the check after the increment sees the
// swap, and the caller tries again with the new live version.
func (e *Engine) acquire() *version {
	for {
		v := e.cfg.Load()
		v.refs.Add(1)
		if e.cfg.Load() == v {
			return v
		}
		v.release()
	}
}

// release drops a reference; the last one closes the configuration, once.
func (v *version) release() error {
	if v.refs.Add(-1) != 0 || !v.own.Load() {
		return nil
	}
	var err error
	v.once.Do(func() {
		if err = v.cfg.Close(); err != nil {
			v.e.log.Warn("closing a retired configuration", slog.String("version", v.cfg.Version), slog.Any("err", err))
		}
	})
	return err
}

// disown drops the live reference without closing: the configuration now
// belongs to whoever called Swap.
func (v *version) disown() {
	v.own.Store(false)
	v.release()
}

// Replace makes cfg the configuration of every turn that starts from now on,
// as Swap does, and closes the previous configuration itself once the last
// turn running on it has finished. After Close it closes cfg and fails with
// ErrClosed.
func (e *Engine) Replace(cfg *dsl.Config) error {
	if cfg == nil {
		return errors.New("replacing configuration: nil configuration")
	}
	e.swapMu.Lock()
	defer e.swapMu.Unlock()
	if e.closed.Load() {
		cfg.Close()
		return fmt.Errorf("replacing configuration: %w", ErrClosed)
	}
	e.cfg.Swap(e.newVersion(cfg)).release()
	return nil
}

// WatchOptions configure the reloading of a scenario directory (see Watch).
type WatchOptions struct {
	// Debounce is how long the files must stay quiet after a change before
	// they are loaded; 0 means reload.DefaultDebounce (50ms).
	Debounce time.Duration
	// Poll, when positive, rereads the files at this interval instead of
	// using filesystem notifications (for network filesystems).
	Poll time.Duration
	// FallbackPoll is the polling interval used when notifications cannot be
	// used; 0 means reload.DefaultFallbackPoll (2s).
	FallbackPoll time.Duration
	// AllowEmpty lets a reload remove every active scenario (all files
	// deleted, emptied or deactivated). Without it such a change is
	// rejected with a reload.no_active_scenario diagnostic, and the live
	// version keeps answering: an emptied file is more often a copy in
	// progress or a mistake than a wish to answer nothing.
	AllowEmpty bool
}

// WithWatch makes Open watch the directory it loads and reload it on every
// change, as Watch does; Engine.Watcher returns the watcher and Close stops
// it. New and OpenFS, which have no directory, ignore it.
func WithWatch(o WatchOptions) Option {
	return func(e *Engine) { e.watch = &o }
}

// Watcher reloads an engine's scenario directory when its files change. Its
// methods are safe for concurrent use.
type Watcher struct {
	e      *Engine
	dir    string
	loader *dsl.Loader
	w      *reload.Watcher
	// allowEmpty lets a reload leave no active scenario (WatchOptions.AllowEmpty).
	allowEmpty bool
	once       sync.Once
	err        error
}

// Watch makes the scenarios of dir the engine's configuration and reloads
// them whenever a file under dir changes, until ctx is done, the Watcher is
// closed or the engine is.
//
// Each change is loaded off the request path by an incremental loader (only
// the scenarios whose files changed are compiled again; see dsl.Loader) and
// swapped in atomically: a turn runs entirely on one version, and a retired
// version is closed when its last turn ends. A change that does not load is
// rejected: its diagnostics are logged (as a warning on the engine's logger)
// and published as the event's Err (a diag.List), and the last good version
// keeps serving. A first load that fails is returned as a diag.List error.
func (e *Engine) Watch(ctx context.Context, dir string, opts WatchOptions) (*Watcher, error) {
	if e.closed.Load() {
		return nil, fmt.Errorf("watching %s: %w", dir, ErrClosed)
	}
	loader := dsl.NewDirLoader(dir, dsl.Options{Env: e.env})
	cfg, err := loader.Load()
	if err != nil {
		loader.Close()
		return nil, fmt.Errorf("loading scenarios from %s: %w", dir, err)
	}
	if err := e.Replace(cfg); err != nil {
		loader.Close()
		return nil, fmt.Errorf("watching %s: %w", dir, err)
	}
	return e.startWatch(ctx, dir, loader, cfg.Version, opts)
}

// openWatching is Open with WithWatch: the first load goes through the
// incremental loader, so the first reload already reuses its work.
func (e *Engine) openWatching(dir string) error {
	loader := dsl.NewDirLoader(dir, dsl.Options{Env: e.env})
	cfg, err := loader.Load()
	if err != nil {
		loader.Close()
		e.closeStore()
		return fmt.Errorf("loading scenarios from %s: %w", dir, err)
	}
	e.cfg.Store(e.newVersion(cfg))
	if _, err := e.startWatch(context.Background(), dir, loader, cfg.Version, *e.watch); err != nil {
		return errors.Join(err, e.Close())
	}
	return nil
}

func (e *Engine) startWatch(ctx context.Context, dir string, loader *dsl.Loader, live string, o WatchOptions) (*Watcher, error) {
	w := &Watcher{e: e, dir: dir, loader: loader, allowEmpty: o.AllowEmpty}
	rw, err := reload.New(dir, reload.Options{
		Apply:        w.apply,
		Version:      live,
		Include:      dsl.IsScenarioFile,
		Debounce:     o.Debounce,
		Poll:         o.Poll,
		FallbackPoll: o.FallbackPoll,
		Logger:       e.log,
		OnEvent:      w.logEvent,
	})
	if err != nil {
		loader.Close()
		return nil, fmt.Errorf("watching %s: %w", dir, err)
	}
	w.w = rw
	if err := rw.Start(ctx); err != nil {
		rw.Close()
		loader.Close()
		return nil, fmt.Errorf("watching %s: %w", dir, err)
	}
	e.swapMu.Lock()
	if e.closed.Load() {
		e.swapMu.Unlock()
		w.close()
		return nil, fmt.Errorf("watching %s: %w", dir, ErrClosed)
	}
	e.watchers = append(e.watchers, w)
	e.swapMu.Unlock()
	return w, nil
}

// apply loads the files and makes them live; an error rejects them.
func (w *Watcher) apply(ctx context.Context, c reload.Change) error {
	cfg, err := w.loader.Load()
	if err != nil {
		return err
	}
	if live := w.e.Config(); !w.allowEmpty && live != nil && activeScenarios(cfg) == 0 && activeScenarios(live) > 0 {
		n := len(cfg.Scenarios)
		cfg.Close()
		return diag.List{{File: w.dir, Code: diag.CodeNoActiveScenario, Message: fmt.Sprintf(
			"the change leaves no active scenario (%d scenario(s), %d file(s)): rejected, the previous version keeps serving; "+
				"if a file is being copied, the next change applies it; to serve nothing on purpose, allow an empty configuration (parley serve --allow-empty)",
			n, len(cfg.Files))}}
	}
	if activeScenarios(cfg) == 0 {
		w.e.log.Warn("the reloaded configuration has no active scenario: every turn gets the default reply", slog.String("dir", w.dir))
	}
	return w.e.Replace(cfg)
}

// activeScenarios counts the active scenarios of cfg.
func activeScenarios(cfg *dsl.Config) int {
	n := 0
	for _, sc := range cfg.Scenarios {
		if sc.Active {
			n++
		}
	}
	return n
}

// logEvent logs a reload decision on the engine's logger. It runs before
// subscribers see the event, so a subscriber never sees an unlogged decision.
func (w *Watcher) logEvent(ev reload.Event) {
	log := w.e.log
	attrs := []slog.Attr{slog.String("dir", w.dir), slog.String("version", ev.Version),
		slog.String("previous", ev.Previous), slog.String("trigger", string(ev.Trigger)), slog.Duration("took", ev.Duration)}
	if len(ev.Added) > 0 {
		attrs = append(attrs, slog.Any("added", ev.Added))
	}
	if len(ev.Removed) > 0 {
		attrs = append(attrs, slog.Any("removed", ev.Removed))
	}
	if len(ev.Modified) > 0 {
		attrs = append(attrs, slog.Any("modified", ev.Modified))
	}
	switch ev.Outcome {
	case reload.Applied:
		log.LogAttrs(context.Background(), slog.LevelInfo, "scenarios reloaded", attrs...)
	case reload.Rejected:
		if list := Diagnostics(ev.Err); list != nil {
			lines := make([]string, len(list))
			for i, d := range list {
				lines[i] = d.String()
			}
			attrs = append(attrs, slog.Any("diagnostics", lines))
		} else {
			attrs = append(attrs, slog.Any("err", ev.Err))
		}
		log.LogAttrs(context.Background(), slog.LevelWarn, "scenario reload rejected; the previous version keeps serving", attrs...)
	default:
		log.LogAttrs(context.Background(), slog.LevelDebug, "scenarios unchanged", attrs...)
	}
}

// Diagnostics returns the diagnostics of a rejected reload (a reload.Event's
// Err), or nil when err holds none (the directory could not be read).
func Diagnostics(err error) diag.List {
	var list diag.List
	if errors.As(err, &list) {
		return list
	}
	return nil
}

// Dir returns the directory watched.
func (w *Watcher) Dir() string { return w.dir }

// Version returns the live version of the directory (a dsl.Config Version).
func (w *Watcher) Version() string { return w.w.Version() }

// Mode returns how changes are noticed: filesystem notifications or polling.
func (w *Watcher) Mode() reload.Mode { return w.w.Mode() }

// Last returns the latest reload that changed what the Watcher reports: an
// applied or rejected version (with its diagnostics in Err), or the files
// returning to the live version after a rejection. ok is false before the
// first one.
func (w *Watcher) Last() (ev reload.Event, ok bool) { return w.w.Last() }

// Subscribe returns a channel receiving every reload event from now on
// (version, time, files changed, outcome, diagnostics) and a function that
// ends the subscription. A subscriber more than 16 events behind loses the
// oldest. The channel is closed when the Watcher or the engine is closed.
func (w *Watcher) Subscribe() (<-chan reload.Event, func()) { return w.w.Subscribe() }

// Rescan asks for the files to be read now, as if they had changed (on
// SIGHUP, from an admin endpoint); it does not wait.
func (w *Watcher) Rescan() { w.w.Rescan() }

// Close stops watching; the live configuration keeps serving. It waits for
// a reload in progress and is safe to call more than once.
func (w *Watcher) Close() error {
	w.e.swapMu.Lock()
	w.e.watchers = slices.DeleteFunc(w.e.watchers, func(x *Watcher) bool { return x == w })
	w.e.swapMu.Unlock()
	return w.close()
}

func (w *Watcher) close() error {
	w.once.Do(func() {
		w.err = w.w.Close()
		w.err = errors.Join(w.err, w.loader.Close())
	})
	return w.err
}

// Watcher returns the watcher started last (by WithWatch or Watch) and not
// closed, or nil.
func (e *Engine) Watcher() *Watcher {
	e.swapMu.Lock()
	defer e.swapMu.Unlock()
	if len(e.watchers) == 0 {
		return nil
	}
	return e.watchers[len(e.watchers)-1]
}
