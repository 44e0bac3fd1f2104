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
	seed   maphash.Seed
	shards [memoryShards]memoryShard
	closed sync.Once
	done   chan struct{}
}

type memoryShard struct {
	mu    sync.RWMutex
	users map[string]State
}

// NewMemory returns an empty in-memory store.
func NewMemory() *Memory {
	m := &Memory{seed: maphash.MakeSeed(), done: make(chan struct{})}
	for i := range m.shards {
		m.shards[i].users = map[string]State{}
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
	st := s.users[userID]
	s.mu.RUnlock()
	return st, nil
}

// Save stores st if the stored version still equals st.Version.
func (m *Memory) Save(ctx context.Context, userID string, st State) (uint64, error) {
	if m.isClosed() {
		return 0, fmt.Errorf("saving state of user %q: %w", userID, errClosed)
	}
	s := m.shard(userID)
	s.mu.Lock()
	defer s.mu.Unlock()
	if cur := s.users[userID]; cur.Version != st.Version {
		return 0, fmt.Errorf("saving state of user %q (version %d, stored %d): %w", userID, st.Version, cur.Version, ErrConflict)
	}
	st.Version++
	s.users[userID] = st
	return st.Version, nil
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
			s.users = map[string]State{}
			s.mu.Unlock()
		}
	})
	return nil
}
