package engine

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/parleyhq/parley/dsl"
	"github.com/parleyhq/parley/plugins"
	"github.com/parleyhq/parley/plugins/store"
)

// DefaultNoMatchText is what the engine answers when nothing matches an
// utterance and the scenario declares none of the no-match intents.
const DefaultNoMatchText = "Sorry, I didn't understand that."

// DefaultMaxChain bounds how many intents one utterance may run through
// virtual intents, so a cycle of virtual intents cannot loop forever.
const DefaultMaxChain = 10

// ErrClosed is returned by an engine after Close.
var ErrClosed = errors.New("engine is closed")

// Engine runs conversations on a compiled configuration. It is safe for concurrent use.
type Engine struct {
	cfg            atomic.Pointer[version] // the live configuration (see reload.go)
	swapMu         sync.Mutex              // orders Swap, Replace, Watch and Close
	watchers       []*Watcher              // started by WithWatch or Watch, closed by Close
	watch          *WatchOptions           // set by WithWatch
	env            *plugins.Environment
	store          store.Store
	ownStore       bool
	log            *slog.Logger
	now            func() time.Time
	sessionTimeout time.Duration
	noMatchText    string
	maxChain       int
	locks          userLocks
	closed         atomic.Bool
	closeOnce      sync.Once
}

// Option configures an Engine.
type Option func(*Engine)

// WithEnvironment sets the plugins (interpreters and action kinds) the engine
// uses; the default is plugins.Global(). Open and OpenFS also load the
// configuration with it.
func WithEnvironment(env *plugins.Environment) Option {
	return func(e *Engine) {
		if env != nil {
			e.env = env
		}
	}
}

// WithStore sets where user states are kept; the default is a new in-memory
// store. The engine does not close a store given here.
func WithStore(s store.Store) Option {
	return func(e *Engine) {
		if s != nil {
			e.store, e.ownStore = s, false
		}
	}
}

// WithLogger sets the logger; the default discards everything.
func WithLogger(l *slog.Logger) Option {
	return func(e *Engine) {
		if l != nil {
			e.log = l
		}
	}
}

// WithClock sets the clock used for session timeouts and traces; the default is time.Now.
func WithClock(now func() time.Time) Option {
	return func(e *Engine) {
		if now != nil {
			e.now = now
		}
	}
}

// WithSessionTimeout ends a user's conversation (and clears the session
// context) when the user has been silent for longer than d. Zero, the
// default, never times out.
func WithSessionTimeout(d time.Duration) Option {
	return func(e *Engine) {
		if d >= 0 {
			e.sessionTimeout = d
		}
	}
}

// WithNoMatchText sets the reply used when nothing matches and the scenario
// declares no no-match intent; the default is DefaultNoMatchText.
func WithNoMatchText(text string) Option {
	return func(e *Engine) {
		if text != "" {
			e.noMatchText = text
		}
	}
}

// WithMaxChain sets how many intents one utterance may run through virtual
// intents; the default is DefaultMaxChain.
func WithMaxChain(n int) Option {
	return func(e *Engine) {
		if n > 0 {
			e.maxChain = n
		}
	}
}

func newEngine(opts []Option) *Engine {
	e := &Engine{
		env:         plugins.Global(),
		log:         slog.New(slog.DiscardHandler),
		now:         time.Now,
		noMatchText: DefaultNoMatchText,
		maxChain:    DefaultMaxChain,
	}
	for _, o := range opts {
		o(e)
	}
	if e.store == nil {
		e.store, e.ownStore = store.NewMemory(), true
	}
	return e
}

// New returns an engine running cfg. The engine owns cfg from then on and
// closes it in Close (or when it is swapped out, by whoever calls Swap).
func New(cfg *dsl.Config, opts ...Option) (*Engine, error) {
	if cfg == nil {
		return nil, errors.New("creating engine: nil configuration")
	}
	e := newEngine(opts)
	e.cfg.Store(e.newVersion(cfg))
	return e, nil
}

// Open loads the scenario directory dir and returns an engine running it.
// A configuration that does not load is returned as a diag.List error.
func Open(dir string, opts ...Option) (*Engine, error) {
	e := newEngine(opts)
	if e.watch != nil {
		if err := e.openWatching(dir); err != nil {
			return nil, err
		}
		return e, nil
	}
	cfg, err := dsl.LoadDir(dir, dsl.Options{Env: e.env})
	if err != nil {
		e.closeStore()
		return nil, fmt.Errorf("loading scenarios from %s: %w", dir, err)
	}
	e.cfg.Store(e.newVersion(cfg))
	return e, nil
}

// OpenFS loads the scenario files of fsys and returns an engine running them.
// A configuration that does not load is returned as a diag.List error.
func OpenFS(fsys fs.FS, opts ...Option) (*Engine, error) {
	e := newEngine(opts)
	cfg, err := dsl.Load(fsys, dsl.Options{Env: e.env})
	if err != nil {
		e.closeStore()
		return nil, fmt.Errorf("loading scenarios: %w", err)
	}
	e.cfg.Store(e.newVersion(cfg))
	return e, nil
}

// Config returns the configuration the engine currently runs.
func (e *Engine) Config() *dsl.Config { return e.cfg.Load().cfg }

// Environment returns the plugins the engine uses.
func (e *Engine) Environment() *plugins.Environment { return e.env }

// Swap makes cfg the configuration of every turn that starts from now on and
// returns the previous one. Turns already running finish on the version they
// started with; the caller closes old once they are done. A nil cfg is ignored
// and returns nil. Replace does the same and closes the previous
// configuration itself when its last turn ends.
func (e *Engine) Swap(cfg *dsl.Config) (old *dsl.Config) {
	if cfg == nil {
		return nil
	}
	e.swapMu.Lock()
	defer e.swapMu.Unlock()
	prev := e.cfg.Swap(e.newVersion(cfg))
	prev.disown()
	return prev.cfg
}

// Close releases the configuration and, if the engine created it, the store.
// Calls after Close fail with ErrClosed.
func (e *Engine) Close() error {
	var err error
	e.closeOnce.Do(func() {
		e.closed.Store(true)
		// Stop reloading first: a reload in progress finishes (or is dropped).
		e.swapMu.Lock()
		watchers := e.watchers
		e.watchers = nil
		e.swapMu.Unlock()
		for _, w := range watchers {
			err = errors.Join(err, w.close())
		}
		// Wait for running turns: each holds its user's lock, and no lock
		// is handed out any more.
		e.locks.closeAndWait()
		// No turn runs any more: releasing the live version closes it.
		e.swapMu.Lock()
		err = errors.Join(err, e.cfg.Load().release())
		e.swapMu.Unlock()
		err = errors.Join(err, e.closeStore())
	})
	return err
}

func (e *Engine) closeStore() error {
	if e.ownStore {
		return e.store.Close()
	}
	return nil
}

// lock takes the lock of userID and returns it, for the caller to unlock;
// it returns nil once the engine is closed.
func (e *Engine) lock(userID string) *userLock {
	l := e.locks.lock(userID)
	if l != nil && e.closed.Load() {
		// Close began while this caller waited: it must not start.
		l.unlock()
		return nil
	}
	return l
}

// Handle runs one turn: it interprets u as the words of userID, selects and
// runs the intents, saves the user's state and returns the app's messages
// with a trace of the turn. An error means the turn did not happen (a bad
// argument, a closed engine or a store failure); failed actions and
// utterances that match nothing are not errors.
func (e *Engine) Handle(ctx context.Context, userID string, u plugins.Utterance) (*Reply, error) {
	if err := checkUser(userID); err != nil {
		return nil, fmt.Errorf("handling utterance: %w", err)
	}
	switch u.Type {
	case "":
		u.Type = plugins.Text
	case plugins.Text, plugins.ButtonResponse, plugins.ChatOpen, plugins.Trigger, plugins.FormResponse, plugins.LongTextResponse:
	default:
		return nil, fmt.Errorf("handling utterance of user %q: unknown utterance type %q (want %s, %s, %s, %s, %s or %s)",
			userID, u.Type, plugins.ChatOpen, plugins.Text, plugins.ButtonResponse, plugins.Trigger,
			plugins.FormResponse, plugins.LongTextResponse)
	}
	if e.closed.Load() {
		return nil, fmt.Errorf("handling utterance of user %q: %w", userID, ErrClosed)
	}
	mu := e.lock(userID)
	if mu == nil {
		return nil, fmt.Errorf("handling utterance of user %q: %w", userID, ErrClosed)
	}
	defer mu.unlock()
	ctx, release, err := e.lease(ctx, userID)
	if err != nil {
		return nil, fmt.Errorf("handling utterance of user %q: %w", userID, err)
	}
	defer release()
	// One configuration for the whole turn, kept open until the turn ends.
	v := e.acquire()
	defer v.release()
	cfg := v.cfg
	st, err := e.load(ctx, cfg, userID)
	if err != nil {
		return nil, fmt.Errorf("handling utterance of user %q: %w", userID, err)
	}
	if st.Version == 0 {
		if err := checkNewUser(ctx, userID); err != nil {
			return nil, fmt.Errorf("handling utterance of new user %q: %w", userID, err)
		}
	}
	var clientSet []string
	if len(u.User) > 0 {
		if clientSet, err = applyClientAttributes(cfg, &st, u.User); err != nil {
			return nil, fmt.Errorf("handling utterance of user %q: %w", userID, err)
		}
	}
	t := newTurn(ctx, e, cfg, userID, u, st)
	defer t.release()
	if len(clientSet) > 0 {
		t.event("client attributes set: %s", strings.Join(clientSet, ", "))
	}
	t.run()
	t.finish()
	entry, err := t.historyEntry()
	if err != nil {
		return nil, fmt.Errorf("handling utterance of user %q: recording history: %w", userID, err)
	}
	if _, err := e.store.Save(ctx, userID, t.st, entry); err != nil {
		return nil, fmt.Errorf("handling utterance of user %q: %w", userID, err)
	}
	if e.log.Enabled(ctx, slog.LevelDebug) {
		e.log.LogAttrs(ctx, slog.LevelDebug, "turn", slog.String("user", userID),
			slog.String("utterance_type", u.Type), slog.Int("messages", len(t.reply.Messages)),
			slog.String("intent", t.st.Intent), slog.Duration("duration", t.tr.Duration))
	}
	return t.reply, nil
}

// lease takes userID's lease when the store is shared by several processes
// (store.Leaser); the returned context carries it for the store's fencing
// check. Without a Leaser it returns ctx and a release that does nothing.
func (e *Engine) lease(ctx context.Context, userID string) (context.Context, func(), error) {
	l, ok := e.store.(store.Leaser)
	if !ok {
		return ctx, func() {}, nil
	}
	return l.Lease(ctx, userID)
}

// History returns the newest limit turns of userID's history, oldest first;
// limit <= 0 returns every turn the store keeps. A user never seen has none.
func (e *Engine) History(ctx context.Context, userID string, limit int) ([]store.HistoryEntry, error) {
	if err := checkUser(userID); err != nil {
		return nil, fmt.Errorf("reading history: %w", err)
	}
	if e.closed.Load() {
		return nil, fmt.Errorf("reading history of user %q: %w", userID, ErrClosed)
	}
	h, err := e.store.History(ctx, userID, limit)
	if err != nil {
		return nil, fmt.Errorf("reading history of user %q: %w", userID, err)
	}
	return h, nil
}

func checkUser(userID string) error {
	if userID == "" {
		return errors.New("empty user id")
	}
	if len(userID) > 512 {
		return errors.New("user id longer than 512 bytes")
	}
	if !utf8.ValidString(userID) {
		// Encoded as JSON (traces, stores) it would become another id.
		return errors.New("user id is not valid UTF-8")
	}
	return nil
}
