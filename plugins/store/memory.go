package store

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"sync"
)

// memoryShards spreads users over several locks so parallel turns rarely contend.
const memoryShards = 64

// Memory is an in-memory Store, for tests and embedders that keep no state
// across restarts. It is safe for concurrent use.
type Memory struct {
	seed         maphash.Seed
	historyLimit int
	shards       [memoryShards]memoryShard
	closed       sync.Once
	done         chan struct{}
}

type memoryShard struct {
	mu    sync.RWMutex
	users map[string]*memoryUser
}

type memoryUser struct {
	st      State
	history []HistoryEntry // oldest first, at most historyLimit
}

// NewMemory returns an empty in-memory store that keeps DefaultHistoryLimit
// turns of history per user.
func NewMemory() *Memory {
	m := &Memory{seed: maphash.MakeSeed(), historyLimit: DefaultHistoryLimit, done: make(chan struct{})}
	for i := range m.shards {
		m.shards[i].users = map[string]*memoryUser{}
	}
	return m
}

// errClosed is returned by a closed store.
var errClosed = errors.New("store is closed")

func (m *Memory) shard(userID string) *memoryShard {
	return &m.shards[maphash.String(m.seed, userID)%memoryShards]
}

func (m *Memory) isClosed() bool {
	select {
	case <-m.done:
		return true
	default:
		return false
	}
}

// Load returns the state of userID.
func (m *Memory) Load(ctx context.Context, userID string) (State, error) {
	if m.isClosed() {
		return State{}, fmt.Errorf("loading state of user %q: %w", userID, errClosed)
	}
	s := m.shard(userID)
	s.mu.RLock()
	var st State
	if u := s.users[userID]; u != nil {
		st = u.st
	}
	s.mu.RUnlock()
	return st, nil
}

// Save stores st if the stored version still equals st.Version.
func (m *Memory) Save(ctx context.Context, userID string, st State, entry *HistoryEntry) (uint64, error) {
	if m.isClosed() {
		return 0, fmt.Errorf("saving state of user %q: %w", userID, errClosed)
	}
	s := m.shard(userID)
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.users[userID]
	var cur uint64
	if u != nil {
		cur = u.st.Version
	}
	if cur != st.Version {
		return 0, fmt.Errorf("saving state of user %q (version %d, stored %d): %w", userID, st.Version, cur, ErrConflict)
	}
	if u == nil {
		u = &memoryUser{}
		s.users[userID] = u
	}
	st.Version++
	u.st = st
	if entry != nil && m.historyLimit > 0 {
		if len(u.history) >= m.historyLimit {
			// Drop the oldest in place of a new allocation per turn.
			n := copy(u.history, u.history[len(u.history)-m.historyLimit+1:])
			u.history = u.history[:n]
		}
		u.history = append(u.history, *entry)
	}
	return st.Version, nil
}

// History returns the newest limit entries of userID's history, oldest first.
func (m *Memory) History(ctx context.Context, userID string, limit int) ([]HistoryEntry, error) {
	if m.isClosed() {
		return nil, fmt.Errorf("reading history of user %q: %w", userID, errClosed)
	}
	s := m.shard(userID)
	s.mu.RLock()
	defer s.mu.RUnlock()
	u := s.users[userID]
	if u == nil {
		return nil, nil
	}
	h := u.history
	if limit > 0 && len(h) > limit {
		h = h[len(h)-limit:]
	}
	return append([]HistoryEntry(nil), h...), nil
}

// Delete forgets userID.
func (m *Memory) Delete(ctx context.Context, userID string) error {
	if m.isClosed() {
		return fmt.Errorf("deleting state of user %q: %w", userID, errClosed)
	}
	s := m.shard(userID)
	s.mu.Lock()
	delete(s.users, userID)
	s.mu.Unlock()
	return nil
}

// Len returns the number of users stored.
func (m *Memory) Len() int {
	n := 0
	for i := range m.shards {
		s := &m.shards[i]
		s.mu.RLock()
		n += len(s.users)
		s.mu.RUnlock()
	}
	return n
}

// Close makes every later call fail; the states are dropped.
func (m *Memory) Close() error {
	m.closed.Do(func() {
		close(m.done)
		for i := range m.shards {
			s := &m.shards[i]
			s.mu.Lock()
			s.users = map[string]*memoryUser{}
			s.mu.Unlock()
		}
	})
	return nil
}
