// Package reload watches a scenario directory and reloads the configuration
// when its content changes, without ever serving a broken version.
//
// A Watcher watches every directory of the tree with fsnotify (directories,
// not files, so an editor's rename-save, a delete and recreate, new
// subdirectories and a Kubernetes-style ..data symlink swap are all seen),
// waits for a burst of changes to settle (the debounce), then hashes the
// files the loader reads. When the hash differs from the version last
// considered it reads them again after Options.Settle, until two reads in a
// row agree (a file being written slowly is never applied half-written),
// and then calls Options.Apply, which builds the new configuration off
// the request path and swaps it in; an error from Apply rejects the version
// and the live one keeps serving. Each decision is published as an Event to
// subscribers, and the latest one is kept for status pages (Last).
//
// Where inotify does not work (network filesystems) the Watcher polls: set
// Options.Poll, or let it fall back by itself when the fsnotify watcher
// cannot be created or the root cannot be watched.
//
// The package does not depend on the loader or the engine. The engine wires
// them together:
//
//	w, err := reload.New(dir, reload.Options{
//		Version: cfg.Version, // the configuration already live
//		Include: dsl.IsScenarioFile,
//		Apply: func(ctx context.Context, c reload.Change) error {
//			next, err := dsl.LoadDir(dir, opts)
//			if err != nil {
//				return err // a diag.List: rejected, the old configuration keeps serving
//			}
//			old := e.Swap(next)
//			retire(old) // Close once the turns that started on it are done
//			return nil
//		},
//	})
package reload

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"path/filepath"
	"sync"
	"time"

	"github.com/fsnotify/fsnotify"
)

// Defaults for Options.
const (
	// DefaultDebounce is how long the files must stay quiet before they are read.
	DefaultDebounce = 50 * time.Millisecond
	// DefaultFallbackPoll is the polling interval used when fsnotify cannot be used.
	DefaultFallbackPoll = 2 * time.Second
)

// ApplyFunc builds and installs the configuration for a new version. It runs
// on the Watcher's goroutine, one call at a time; an error rejects the
// version and is reported as the Event's Err. The files may change again
// between the Watcher's read and Apply's own: Apply then loads newer files
// than c.Version, and the notification of that change makes the Watcher read
// and apply once more, so the two agree again.
type ApplyFunc func(ctx context.Context, c Change) error

// Options configure a Watcher.
type Options struct {
	// Apply installs a new version; required.
	Apply ApplyFunc
	// Version is the version already live (as returned by Hash, or the
	// Version of a dsl.Config). If the files at Start differ from it, Start
	// schedules a reload at once. Empty means the files found at Start are
	// the live version.
	Version string
	// Debounce is how long the files must stay quiet after a change before
	// they are read; 0 means DefaultDebounce.
	Debounce time.Duration
	// MaxDelay bounds the wait under a continuous stream of changes; 0 means
	// ten times Debounce.
	MaxDelay time.Duration
	// Settle is the pause between the two reads that must agree before a
	// new version is applied, so that a file still being written (by cp,
	// kubectl cp or rsync --inplace, which truncate it first) is never
	// applied half-written; 0 means Debounce. When the files keep changing
	// for MaxDelay, the Watcher waits for the next change, or the next
	// Debounce, and tries again.
	Settle time.Duration
	// Poll, when positive, polls the files at this interval instead of using fsnotify.
	Poll time.Duration
	// FallbackPoll is the polling interval used when fsnotify cannot be used;
	// 0 means DefaultFallbackPoll.
	FallbackPoll time.Duration
	// Include selects configuration files by base name; nil means IsConfigFile.
	Include func(base string) bool
	// Logger receives warnings (falling back to polling, watch errors) and
	// debug records of each decision; nil discards them.
	Logger *slog.Logger
	// OnEvent, when set, is called with every event before subscribers see
	// it, on the watcher's goroutine: unlike a subscription it never misses
	// an event, so it suits logging. It must not block for long.
	OnEvent func(Event)
}

// Outcome is what a Watcher decided about the files it read.
type Outcome int

// Outcomes.
const (
	// Unchanged: the content is the version already considered; nothing was applied.
	Unchanged Outcome = iota
	// Applied: the new version is live.
	Applied
	// Rejected: the new version could not be read or applied; the live version keeps serving.
	Rejected
)

// String returns "unchanged", "applied" or "rejected".
func (o Outcome) String() string {
	switch o {
	case Unchanged:
		return "unchanged"
	case Applied:
		return "applied"
	case Rejected:
		return "rejected"
	}
	return fmt.Sprintf("Outcome(%d)", int(o))
}

// MarshalText encodes the outcome as its name, for JSON status pages.
func (o Outcome) MarshalText() ([]byte, error) { return []byte(o.String()), nil }

// Mode is how a Watcher learns about changes.
type Mode string

// Modes.
const (
	// ModeNotify uses fsnotify (inotify on Linux).
	ModeNotify Mode = "fsnotify"
	// ModePoll rehashes the files periodically.
	ModePoll Mode = "poll"
)

// Trigger says what made a Watcher read the files.
type Trigger string

// Triggers.
const (
	// TriggerStart: the files at Start differed from Options.Version.
	TriggerStart Trigger = "start"
	// TriggerNotify: a filesystem notification.
	TriggerNotify Trigger = "notify"
	// TriggerOverflow: the kernel dropped notifications, so everything was rescanned.
	TriggerOverflow Trigger = "overflow"
	// TriggerPoll: a polling tick.
	TriggerPoll Trigger = "poll"
	// TriggerRescan: a call to Rescan.
	TriggerRescan Trigger = "rescan"
)

// Change describes a new version to apply.
type Change struct {
	// Version is the content hash of the new files (see Hash).
	Version string `json:"version"`
	// Previous is the live version.
	Previous string `json:"previous"`
	// Added, Removed and Modified list relative slash paths compared with the
	// live version. When the live version's files are unknown (the files at
	// Start did not match Options.Version), every file is listed as Modified.
	Added    []string `json:"added,omitempty"`
	Removed  []string `json:"removed,omitempty"`
	Modified []string `json:"modified,omitempty"`
}

// Event is one decision of a Watcher.
type Event struct {
	Change
	// Outcome is what was decided.
	Outcome Outcome `json:"outcome"`
	// Err is why a version was rejected: the error of Apply as returned
	// (a diag.List from the loader), or the error reading the files, in
	// which case Version is empty.
	Err error `json:"-"`
	// Trigger is what made the Watcher read the files.
	Trigger Trigger `json:"trigger"`
	// Detected is when the first change of the burst was noticed.
	Detected time.Time `json:"detected"`
	// Time is when the outcome was decided.
	Time time.Time `json:"time"`
	// Duration is the time spent reading the files and applying them.
	Duration time.Duration `json:"duration"`
}

// MarshalJSON encodes the event with Err as the string "error".
func (e Event) MarshalJSON() ([]byte, error) {
	type plain Event // without this method
	out := struct {
		plain
		Error string `json:"error,omitempty"`
	}{plain: plain(e)}
	if e.Err != nil {
		out.Error = e.Err.Error()
	}
	return json.Marshal(out)
}

// Watcher watches a scenario directory and applies new versions of it.
// Its methods are safe for concurrent use.
type Watcher struct {
	root     string // absolute and clean, as given (may be a symbolic link)
	opts     Options
	log      *slog.Logger
	rescanCh chan struct{}
	newFS    func() (*fsnotify.Watcher, error) // tests replace it to exercise the fallback

	// Owned by the run goroutine once Start returns.
	fsw        *fsnotify.Watcher
	watched    map[string]struct{} // tree directories and symlink target directories
	parents    map[string]struct{} // directories holding the root and its target, watched for the root being replaced
	realRoot   string
	addErr     error
	ticker     *time.Ticker
	live       *snapshot // files of the live version; nil when unknown
	liveVer    string
	considered string // version last applied or rejected; "" after a read error
	readErr    string // the last error reading the files, to publish a polled one only once
	startCheck bool

	mu      sync.Mutex
	mode    Mode
	version string
	last    Event
	hasLast bool
	subs    map[*subscription]struct{}
	state   int // 0 new, 1 started, 2 closed
	cancel  context.CancelFunc
	done    chan struct{}
}

// New returns a Watcher of the directory root. It does not touch the files
// until Start.
func New(root string, opts Options) (*Watcher, error) {
	if root == "" {
		return nil, errors.New("creating reload watcher: empty scenario directory")
	}
	if opts.Apply == nil {
		return nil, errors.New("creating reload watcher: Options.Apply is nil")
	}
	if opts.Debounce < 0 || opts.MaxDelay < 0 || opts.Poll < 0 || opts.FallbackPoll < 0 || opts.Settle < 0 {
		return nil, errors.New("creating reload watcher: negative duration in Options")
	}
	abs, err := filepath.Abs(root)
	if err != nil {
		return nil, fmt.Errorf("creating reload watcher for %s: %w", root, err)
	}
	if opts.Debounce == 0 {
		opts.Debounce = DefaultDebounce
	}
	if opts.MaxDelay == 0 {
		opts.MaxDelay = 10 * opts.Debounce
	}
	if opts.MaxDelay < opts.Debounce {
		opts.MaxDelay = opts.Debounce
	}
	if opts.Settle <= 0 {
		opts.Settle = opts.Debounce
	}
	if opts.FallbackPoll == 0 {
		opts.FallbackPoll = DefaultFallbackPoll
	}
	if opts.Include == nil {
		opts.Include = IsConfigFile
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	w := &Watcher{
		root:     abs,
		opts:     opts,
		log:      log,
		rescanCh: make(chan struct{}, 1),
		newFS:    fsnotify.NewWatcher,
		watched:  map[string]struct{}{},
		parents:  map[string]struct{}{},
		subs:     map[*subscription]struct{}{},
		done:     make(chan struct{}),
	}
	return w, nil
}

// Start reads the files, sets up the watches and starts watching in the
// background until ctx is done or Close is called. Changes made after Start
// returns are seen. It fails when the directory cannot be read.
func (w *Watcher) Start(ctx context.Context) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	switch w.state {
	case 1:
		return errors.New("starting reload watcher: already started")
	case 2:
		return errors.New("starting reload watcher: closed")
	}
	w.mode = ModePoll
	if w.opts.Poll <= 0 {
		fsw, err := w.newFS()
		if err != nil {
			w.log.Warn("reload: cannot use fsnotify, polling instead", "dir", w.root, "interval", w.opts.FallbackPoll, "err", err)
		} else {
			w.fsw = fsw
			w.mode = ModeNotify
		}
	}
	snap, err := w.scan()
	if err != nil {
		w.stopNotify()
		return fmt.Errorf("starting reload watcher: %w", err)
	}
	if w.fsw != nil {
		if w.addErr != nil {
			w.log.Warn("reload: cannot watch the scenario directory, polling instead", "dir", w.root, "interval", w.opts.FallbackPoll, "err", w.addErr)
			w.stopNotify()
			w.mode = ModePoll
		} else {
			w.reconcile(snap)
		}
	}
	if w.mode == ModePoll {
		every := w.opts.Poll
		if every <= 0 {
			every = w.opts.FallbackPoll
		}
		w.ticker = time.NewTicker(every)
	}
	w.live, w.liveVer, w.considered = snap, snap.version, snap.version
	if w.opts.Version != "" && w.opts.Version != snap.version {
		w.live, w.liveVer, w.considered = nil, w.opts.Version, w.opts.Version
		w.startCheck = true
	}
	w.version = w.liveVer
	ctx, cancel := context.WithCancel(ctx)
	w.cancel = cancel
	w.state = 1
	go w.run(ctx)
	return nil
}

// Close stops watching, waits for a running Apply to return and closes every
// subscription channel. It is safe to call more than once.
func (w *Watcher) Close() error {
	w.mu.Lock()
	state := w.state
	w.state = 2
	cancel := w.cancel
	w.mu.Unlock()
	if state == 1 {
		cancel()
		<-w.done
	}
	w.mu.Lock()
	for s := range w.subs {
		delete(w.subs, s)
		close(s.ch)
	}
	w.mu.Unlock()
	return nil
}

// Version returns the live version.
func (w *Watcher) Version() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.version
}

// Mode returns how the Watcher learns about changes; it may change from
// ModeNotify to ModePoll when a watch cannot be added.
func (w *Watcher) Mode() Mode {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.mode
}

// Last returns the latest event that changed what the Watcher reports: an
// applied or rejected version, or the files returning to the live version
// after a rejection (Outcome Unchanged, Err nil). ok is false before the
// first such event.
func (w *Watcher) Last() (ev Event, ok bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.last, w.hasLast
}

// Rescan asks the Watcher to read the files now, as if they had changed;
// it does not wait. Use it on SIGHUP or from an admin endpoint.
func (w *Watcher) Rescan() {
	select {
	case w.rescanCh <- struct{}{}:
	default:
	}
}

type subscription struct {
	ch   chan Event
	once sync.Once
}

// subscriptionBuffer is how many events a slow subscriber may fall behind
// before the oldest are dropped.
const subscriptionBuffer = 16

// Subscribe returns a channel receiving every event from now on, and a
// function that ends the subscription and closes the channel. A subscriber
// that falls more than 16 events behind loses the oldest ones, never the
// latest. Unchanged outcomes of polling ticks are not published. After Close
// the channel is closed.
func (w *Watcher) Subscribe() (<-chan Event, func()) {
	s := &subscription{ch: make(chan Event, subscriptionBuffer)}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.state == 2 {
		close(s.ch)
		return s.ch, func() {}
	}
	w.subs[s] = struct{}{}
	return s.ch, func() {
		s.once.Do(func() {
			w.mu.Lock()
			defer w.mu.Unlock()
			if _, ok := w.subs[s]; ok {
				delete(w.subs, s)
				close(s.ch)
			}
		})
	}
}

// publish sends ev to every subscriber without blocking and, when record is
// set, keeps it as the last event.
func (w *Watcher) publish(ev Event, record bool) {
	if w.opts.OnEvent != nil {
		w.opts.OnEvent(ev)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if record {
		w.last, w.hasLast = ev, true
	}
	if ev.Outcome == Applied {
		w.version = ev.Version
	}
	for s := range w.subs {
		select {
		case s.ch <- ev:
			continue
		default:
		}
		select { // full: drop the oldest to keep the latest
		case <-s.ch:
		default:
		}
		select {
		case s.ch <- ev:
		default:
		}
	}
}

// run is the Watcher's goroutine: it collects notifications, debounces
// them and decides.
func (w *Watcher) run(ctx context.Context) {
	defer close(w.done)
	defer w.stopNotify()
	defer func() {
		if w.ticker != nil {
			w.ticker.Stop()
		}
	}()
	debounce := time.NewTimer(time.Hour)
	debounce.Stop()
	defer debounce.Stop()
	var (
		pending  bool
		first    time.Time
		trigger  Trigger
		deadline time.Time
	)
	arm := func(t Trigger) {
		now := time.Now()
		if !pending {
			pending, first, trigger = true, now, t
			deadline = now.Add(w.opts.MaxDelay)
		}
		if t == TriggerOverflow {
			trigger = t
		}
		wait := w.opts.Debounce
		if left := deadline.Sub(now); left < wait {
			wait = left
		}
		debounce.Reset(wait)
	}
	if w.startCheck && !w.check(ctx, TriggerStart, time.Now()) {
		arm(TriggerStart)
	}
	for {
		var (
			events <-chan fsnotify.Event
			errs   <-chan error
			tick   <-chan time.Time
		)
		if w.fsw != nil {
			events, errs = w.fsw.Events, w.fsw.Errors
		}
		if w.ticker != nil {
			tick = w.ticker.C
		}
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-events:
			if !ok {
				w.fallBack(errors.New("fsnotify stopped delivering events"))
				continue
			}
			if w.relevant(ev) {
				arm(TriggerNotify)
			}
		case err, ok := <-errs:
			if !ok {
				w.fallBack(errors.New("fsnotify stopped delivering errors"))
				continue
			}
			if errors.Is(err, fsnotify.ErrEventOverflow) {
				w.log.Warn("reload: notifications overflowed, rescanning everything", "dir", w.root)
				arm(TriggerOverflow)
				continue
			}
			w.log.Warn("reload: watch error, rescanning", "dir", w.root, "err", err)
			arm(TriggerNotify)
		case <-debounce.C:
			pending = false
			if !w.check(ctx, trigger, first) {
				arm(trigger)
			}
		case t := <-tick:
			w.check(ctx, TriggerPoll, t) // unsettled: the next tick tries again
		case <-w.rescanCh:
			if pending {
				pending = false
				debounce.Stop()
			}
			if !w.check(ctx, TriggerRescan, time.Now()) {
				arm(TriggerRescan)
			}
		}
	}
}

// relevant filters notifications from the parent directories down to the
// root itself.
func (w *Watcher) relevant(ev fsnotify.Event) bool {
	dir := filepath.Dir(ev.Name)
	if _, parent := w.parents[dir]; !parent {
		return true
	}
	if _, tree := w.watched[dir]; tree {
		return true
	}
	return ev.Name == w.root || ev.Name == w.realRoot
}

// fallBack switches from fsnotify to polling.
func (w *Watcher) fallBack(reason error) {
	if w.fsw == nil {
		return
	}
	w.log.Warn("reload: fsnotify unusable, polling instead", "dir", w.root, "interval", w.opts.FallbackPoll, "err", reason)
	w.stopNotify()
	w.ticker = time.NewTicker(w.opts.FallbackPoll)
	w.mu.Lock()
	w.mode = ModePoll
	w.mu.Unlock()
}

func (w *Watcher) stopNotify() {
	if w.fsw != nil {
		w.fsw.Close()
		w.fsw = nil
		w.watched = map[string]struct{}{}
		w.parents = map[string]struct{}{}
	}
}

// scan reads the files, adding a watch on each directory before reading it.
func (w *Watcher) scan() (*snapshot, error) {
	o := scanOptions{include: w.opts.Include}
	w.addErr = nil
	if w.fsw != nil {
		o.onDir = func(dir string) {
			if err := w.fsw.Add(dir); err != nil && !gone(err) && w.addErr == nil {
				w.addErr = fmt.Errorf("watching %s: %w", dir, err)
			}
		}
	}
	return scan(w.root, o)
}

// gone reports whether err means the path vanished (or became a file) while we looked.
func gone(err error) bool {
	return errors.Is(err, fs.ErrNotExist) || errors.Is(err, errNotDir)
}

// reconcile watches the directories of snap (added by scan), the
// directories holding symlink targets outside the tree and the directories
// holding the root (as given and resolved), and drops watches on directories
// that are gone. The parents let the Watcher see the root replaced: a
// symlink swapped, the directory deleted and recreated. Watches outside the
// tree are best effort: without them every change inside is still seen.
func (w *Watcher) reconcile(snap *snapshot) {
	if w.fsw == nil {
		return
	}
	want := make(map[string]struct{}, len(snap.dirs)+len(snap.extra))
	for d := range snap.dirs {
		want[d] = struct{}{}
	}
	for d := range snap.extra {
		if _, ok := w.watched[d]; !ok {
			if err := w.fsw.Add(d); err != nil {
				w.log.Debug("reload: cannot watch a symlink target directory", "dir", d, "err", err)
				continue
			}
		}
		want[d] = struct{}{}
	}
	parents := map[string]struct{}{}
	for _, r := range []string{w.root, snap.real} {
		p := filepath.Dir(r)
		if p == r {
			continue // the filesystem root has no parent
		}
		if _, ok := w.parents[p]; !ok {
			if _, tree := want[p]; !tree {
				if err := w.fsw.Add(p); err != nil {
					w.log.Debug("reload: cannot watch the parent of the scenario directory", "dir", p, "err", err)
					continue
				}
			}
		}
		parents[p] = struct{}{}
	}
	for d := range w.watched {
		if _, ok := want[d]; !ok {
			if _, ok := parents[d]; !ok {
				_ = w.fsw.Remove(d) // fails when the kernel already dropped it with the directory
			}
		}
	}
	for d := range w.parents {
		if _, ok := parents[d]; !ok {
			if _, ok := want[d]; !ok {
				_ = w.fsw.Remove(d)
			}
		}
	}
	w.watched, w.parents = want, parents
	w.realRoot = snap.real
}

// settle reads the files again after Options.Settle, until two reads in a
// row agree, and returns the last read. ok is false when the files were
// still changing after MaxDelay (or ctx ended): then nothing must be decided.
func (w *Watcher) settle(ctx context.Context, snap *snapshot) (_ *snapshot, ok bool, err error) {
	deadline := time.Now().Add(w.opts.MaxDelay)
	t := time.NewTimer(w.opts.Settle)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return snap, false, nil
		case <-t.C:
		}
		again, err := w.scan()
		if err != nil {
			return nil, false, err
		}
		if again.version == snap.version {
			return again, true, nil
		}
		w.log.Debug("reload: the files are still changing; waiting for them to settle", "dir", w.root)
		snap = again
		if time.Now().After(deadline) {
			return snap, false, nil
		}
		t.Reset(w.opts.Settle)
	}
}

// check reads the files and decides. It returns false when the files were
// still changing and nothing was decided: the caller tries again later.
func (w *Watcher) check(ctx context.Context, trigger Trigger, detected time.Time) bool {
	start := time.Now()
	snap, err := w.scan()
	if err == nil && snap.version != w.considered && snap.version != w.liveVer {
		// A new version: apply it only once two reads agree.
		var settled bool
		snap, settled, err = w.settle(ctx, snap)
		if err == nil && !settled {
			return ctx.Err() != nil // closing: nothing more to try
		}
	}
	if w.fsw != nil && w.addErr != nil {
		w.fallBack(w.addErr)
	}
	if err != nil {
		if trigger == TriggerPoll && err.Error() == w.readErr {
			return true
		}
		w.considered, w.readErr = "", err.Error()
		w.log.Debug("reload: cannot read the scenario directory", "dir", w.root, "err", err)
		w.publish(Event{
			Change:  Change{Previous: w.liveVer},
			Outcome: Rejected, Err: err, Trigger: trigger,
			Detected: detected, Time: time.Now(), Duration: time.Since(start),
		}, true)
		return true
	}
	w.readErr = ""
	w.reconcile(snap)
	ev := Event{Trigger: trigger, Detected: detected}
	if snap.version == w.considered {
		if trigger == TriggerPoll {
			return true
		}
		ev.Change = Change{Version: snap.version, Previous: w.liveVer}
		ev.Outcome, ev.Time, ev.Duration = Unchanged, time.Now(), time.Since(start)
		w.publish(ev, false)
		return true
	}
	if snap.version == w.liveVer {
		// Back to the live version after a rejection: nothing to apply, but
		// the last rejection no longer describes the files.
		w.considered = snap.version
		if w.live != nil {
			w.live = snap
		}
		ev.Change = Change{Version: snap.version, Previous: w.liveVer}
		ev.Outcome, ev.Time, ev.Duration = Unchanged, time.Now(), time.Since(start)
		w.publish(ev, true)
		return true
	}
	added, removed, modified := diff(w.live, snap)
	ev.Change = Change{Version: snap.version, Previous: w.liveVer, Added: added, Removed: removed, Modified: modified}
	err = w.apply(ctx, ev.Change)
	ev.Time = time.Now()
	ev.Duration = ev.Time.Sub(start)
	if err != nil && ctx.Err() != nil {
		return true // closing: the version was neither applied nor judged
	}
	w.considered = snap.version
	if err != nil {
		ev.Outcome, ev.Err = Rejected, err
		w.log.Debug("reload: version rejected", "dir", w.root, "version", snap.version, "err", err)
		w.publish(ev, true)
		return true
	}
	w.live, w.liveVer = snap, snap.version
	ev.Outcome = Applied
	w.log.Debug("reload: version applied", "dir", w.root, "version", snap.version, "took", ev.Duration)
	w.publish(ev, true)
	return true
}

// apply calls Options.Apply, turning a panic into a rejection.
func (w *Watcher) apply(ctx context.Context, c Change) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("applying version %s: panic: %v", c.Version, r)
		}
	}()
	return w.opts.Apply(ctx, c)
}
