package store

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"
)

// Options configure a store opened by URL.
type Options struct {
	// HistoryLimit bounds each user's history; zero means DefaultHistoryLimit
	// and a negative value keeps no history.
	HistoryLimit int
	// Retention expires users idle (not saved) for longer than this: their
	// state and history are erased. Zero keeps users until they are deleted.
	Retention time.Duration
	// MaxUsers bounds how many users a store held in memory keeps; zero means
	// the store's own default (DefaultMaxUsers for memory:) and a negative
	// value no bound. Persistent stores ignore it.
	MaxUsers int
}

// Limit returns the history limit o asks for (see HistoryLimit).
func (o Options) Limit() int {
	switch {
	case o.HistoryLimit == 0:
		return DefaultHistoryLimit
	case o.HistoryLimit < 0:
		return 0
	}
	return o.HistoryLimit
}

// Opener opens a store from a parsed URL. The URL may hold a password: an
// opener never puts it in an error (use u.Redacted()).
type Opener func(ctx context.Context, u *url.URL, opts Options) (Store, error)

var (
	openersMu sync.RWMutex
	openers   = map[string]Opener{}
)

// Register makes a store kind available to Open under a URL scheme
// ("memory", "file", "redis" ...). It fails if the scheme is taken.
func Register(scheme string, open Opener) error {
	if scheme == "" || open == nil {
		return errors.New("registering a store: empty scheme or nil opener")
	}
	openersMu.Lock()
	defer openersMu.Unlock()
	if _, ok := openers[scheme]; ok {
		return fmt.Errorf("registering a store: scheme %q is already registered", scheme)
	}
	openers[scheme] = open
	return nil
}

// MustRegister is Register that panics on error, for init functions.
func MustRegister(scheme string, open Opener) {
	if err := Register(scheme, open); err != nil {
		panic(err)
	}
}

// Open opens the store named by rawURL: memory:, file:PATH, redis://... as
// registered. Errors never show a password the URL holds.
func Open(ctx context.Context, rawURL string, opts Options) (Store, error) {
	u, err := url.Parse(rawURL)
	if err != nil || u.Scheme == "" {
		return nil, fmt.Errorf("opening store %q: not a store URL (want %s)", redactRaw(rawURL), Schemes())
	}
	openersMu.RLock()
	open := openers[u.Scheme]
	openersMu.RUnlock()
	if open == nil {
		return nil, fmt.Errorf("opening store %s: unknown scheme %q (want %s)", u.Redacted(), u.Scheme, Schemes())
	}
	return open(ctx, u, opts)
}

// Schemes lists the registered schemes as "memory:, file:, ...".
func Schemes() string {
	openersMu.RLock()
	names := slices.Sorted(maps.Keys(openers))
	openersMu.RUnlock()
	for i, n := range names {
		names[i] = n + ":"
	}
	return strings.Join(names, ", ")
}

// redactRaw hides anything between "//" and "@" in a URL that did not parse.
func redactRaw(raw string) string {
	if i := strings.Index(raw, "//"); i >= 0 {
		if j := strings.LastIndex(raw[i+2:], "@"); j >= 0 {
			return raw[:i+2] + "xxxxx" + raw[i+2+j:]
		}
	}
	return raw
}

func init() {
	MustRegister("memory", func(ctx context.Context, u *url.URL, opts Options) (Store, error) {
		if u.Opaque != "" || u.Host != "" || (u.Path != "" && u.Path != "/") {
			return nil, fmt.Errorf("opening store %s: a memory store takes no path (write memory:)", u.Redacted())
		}
		return NewMemoryWith(opts), nil
	})
}

// Record is everything a store keeps of one user, as `parley state export`
// writes it and `parley state import` reads it.
type Record struct {
	UserID  string         `json:"user_id"`
	State   State          `json:"state"`
	History []HistoryEntry `json:"history,omitempty"`
}

// Porter is implemented by stores whose users can be exported and imported,
// to move from one store to another.
type Porter interface {
	// Export calls fn with every user's record, one at a time, in no
	// particular order; it stops at fn's first error and returns it.
	Export(ctx context.Context, fn func(Record) error) error
	// Import stores r as it is, its state's version and its history
	// included, replacing whatever is stored for r.UserID: importing the
	// same record twice leaves the same data.
	Import(ctx context.Context, r Record) error
}
