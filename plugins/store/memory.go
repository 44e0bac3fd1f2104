package store

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"sync"
	"time"
)

// DefaultMaxUsers bounds how many users a memory store keeps unless
// Options.MaxUsers says otherwise; beyond it the least recently saved users
// are evicted.
const DefaultMaxUsers = 100_000

// maxMemoryShards spreads users over several locks so parallel turns rarely
// contend; a small store has fewer shards so that its bound stays exact.
const (
	maxMemoryShards   = 64
	minUsersPerShard  = 1024
	minSweepInterval  = 10 * time.Millisecond
	maxSweepInterval  = time.Minute
	sweepPerRetention = 4
	unboundedMaxUsers = int(^uint(0) >> 1)
)

// Memory is an in-memory Store, for tests, `parley chat` and embedders that
// keep no state across restarts. It is safe for concurrent use.
//
// It holds at most MaxUsers users: the users are spread over shards, each
// holding an equal share of the bound, and a shard that is full evicts its
// least recently saved user. With a retention, users not saved for longer
// are never served again and are swept in the background.
type Memory struct {
	seed         maphash.Seed
	historyLimit int
	retention    time.Duration
	now          func() time.Time
	shards       []memoryShard
	perShard     int
	closed       sync.Once
	done         chan struct{}
	sweeper      sync.WaitGroup
}

type memoryShard struct {
	mu    sync.RWMutex
	users map[string]*memoryUser
	// A list of the shard's users from the least to the most recently saved.
	oldest, newest *memoryUser
}

type memoryUser struct {
	id         string
	st         State
	history    []HistoryEntry // oldest first, at most historyLimit
	saved      time.Time
	prev, next *memoryUser // towards oldest, towards newest
}

// NewMemory returns an empty in-memory store that keeps DefaultHistoryLimit
// turns of history per user and at most DefaultMaxUsers users, forever.
func NewMemory() *Memory { return NewMemoryWith(Options{}) }

// NewMemoryWith returns an empty in-memory store configured by opts: the
// history limit, the retention and the bound on users (MaxUsers, zero
// meaning DefaultMaxUsers and a negative value no bound).
func NewMemoryWith(opts Options) *Memory {
	maxUsers := opts.MaxUsers
	switch {
	case maxUsers == 0:
		maxUsers = DefaultMaxUsers
	case maxUsers < 0:
		maxUsers = unboundedMaxUsers
	}
	shards := min(maxMemoryShards, max(1, maxUsers/minUsersPerShard))
	m := &Memory{
		seed:         maphash.MakeSeed(),
		historyLimit: opts.Limit(),
		retention:    max(opts.Retention, 0),
		now:          time.Now,
		shards:       make([]memoryShard, shards),
		perShard:     max(1, maxUsers/shards),
		done:         make(chan struct{}),
	}
	for i := range m.shards {
		m.shards[i].users = map[string]*memoryUser{}
	}
	if m.retention > 0 {
		m.sweeper.Add(1)
		go m.sweep(SweepInterval(m.retention))
	}
	return m
}

// SweepInterval is how often a store with retention r looks for expired
// users: a quarter of r, between 10ms and a minute.
func SweepInterval(r time.Duration) time.Duration {
	return min(max(r/sweepPerRetention, minSweepInterval), maxSweepInterval)
}

// errClosed is returned by a closed store.
var errClosed = errors.New("store is closed")

func (m *Memory) shard(userID string) *memoryShard {
	return &m.shards[maphash.String(m.seed, userID)%uint64(len(m.shards))]
}

func (m *Memory) isClosed() bool {
	select {
	case <-m.done:
		return true
	default:
		return false
	}
}

// live returns the stored user userID unless it expired.
func (m *Memory) live(s *memoryShard, userID string, now time.Time) *memoryUser {
	u := s.users[userID]
	if u == nil || m.expired(u, now) {
		return nil
	}
	return u
}

func (m *Memory) expired(u *memoryUser, now time.Time) bool {
	return m.retention > 0 && now.Sub(u.saved) > m.retention
}

// Load returns the state of userID.
func (m *Memory) Load(ctx context.Context, userID string) (State, error) {
	if m.isClosed() {
		return State{}, fmt.Errorf("loading state of user %q: %w", userID, errClosed)
	}
	s := m.shard(userID)
	now := m.now()
	s.mu.RLock()
	var st State
	if u := m.live(s, userID, now); u != nil {
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
	now := m.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.users[userID]
	if u != nil && m.expired(u, now) {
		s.remove(u)
		u = nil
	}
	var cur uint64
	if u != nil {
		cur = u.st.Version
	}
	if cur != st.Version {
		return 0, fmt.Errorf("saving state of user %q (version %d, stored %d): %w", userID, st.Version, cur, ErrConflict)
	}
	if u == nil {
		u = &memoryUser{id: userID}
		s.add(u, m.perShard)
	}
	st.Version++
	u.st = st
	u.saved = now
	s.touch(u)
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

// add inserts u, evicting the least recently saved users to stay within limit.
func (s *memoryShard) add(u *memoryUser, limit int) {
	for len(s.users) >= limit && s.oldest != nil {
		s.remove(s.oldest)
	}
	s.users[u.id] = u
	s.pushNewest(u)
}

// touch makes u the most recently saved user of the shard.
func (s *memoryShard) touch(u *memoryUser) {
	if s.newest == u {
		return
	}
	s.unlink(u)
	s.pushNewest(u)
}

func (s *memoryShard) pushNewest(u *memoryUser) {
	u.prev, u.next = s.newest, nil
	if s.newest != nil {
		s.newest.next = u
	} else {
		s.oldest = u
	}
	s.newest = u
}

func (s *memoryShard) unlink(u *memoryUser) {
	if u.prev != nil {
		u.prev.next = u.next
	} else if s.oldest == u {
		s.oldest = u.next
	}
	if u.next != nil {
		u.next.prev = u.prev
	} else if s.newest == u {
		s.newest = u.prev
	}
	u.prev, u.next = nil, nil
}

// remove forgets u.
func (s *memoryShard) remove(u *memoryUser) {
	s.unlink(u)
	delete(s.users, u.id)
}

// History returns the newest limit entries of userID's history, oldest first.
func (m *Memory) History(ctx context.Context, userID string, limit int) ([]HistoryEntry, error) {
	if m.isClosed() {
		return nil, fmt.Errorf("reading history of user %q: %w", userID, errClosed)
	}
	s := m.shard(userID)
	now := m.now()
	s.mu.RLock()
	defer s.mu.RUnlock()
	u := m.live(s, userID, now)
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
	if u := s.users[userID]; u != nil {
		s.remove(u)
	}
	s.mu.Unlock()
	return nil
}

// Len returns the number of users stored (expired users not swept yet included).
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

// Export calls fn with the record of every live user, shard by shard. The
// records hold copies of the users' histories; fn runs with no lock held.
func (m *Memory) Export(ctx context.Context, fn func(Record) error) error {
	for i := range m.shards {
		if m.isClosed() {
			return fmt.Errorf("exporting users: %w", errClosed)
		}
		s := &m.shards[i]
		now := m.now()
		s.mu.RLock()
		recs := make([]Record, 0, len(s.users))
		for u := s.oldest; u != nil; u = u.next {
			if !m.expired(u, now) {
				recs = append(recs, Record{UserID: u.id, State: u.st, History: append([]HistoryEntry(nil), u.history...)})
			}
		}
		s.mu.RUnlock()
		for _, r := range recs {
			if err := ctx.Err(); err != nil {
				return fmt.Errorf("exporting users: %w", err)
			}
			if err := fn(r); err != nil {
				return err
			}
		}
	}
	return nil
}

// Import stores r as it is, replacing the user's state and history; the
// import counts as the user's latest save for retention and eviction.
func (m *Memory) Import(ctx context.Context, r Record) error {
	if m.isClosed() {
		return fmt.Errorf("importing user %q: %w", r.UserID, errClosed)
	}
	if r.UserID == "" {
		return errors.New("importing a user: empty user id")
	}
	h := r.History
	if len(h) > m.historyLimit {
		h = h[len(h)-m.historyLimit:]
	}
	h = append([]HistoryEntry(nil), h...)
	s := m.shard(r.UserID)
	now := m.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.users[r.UserID]
	if u == nil {
		u = &memoryUser{id: r.UserID}
		s.add(u, m.perShard)
	}
	u.st, u.history, u.saved = r.State, h, now
	s.touch(u)
	return nil
}

// sweep removes expired users every interval until the store is closed.
func (m *Memory) sweep(interval time.Duration) {
	defer m.sweeper.Done()
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-m.done:
			return
		case <-t.C:
		}
		for i := range m.shards {
			s := &m.shards[i]
			now := m.now()
			s.mu.Lock()
			for s.oldest != nil && m.expired(s.oldest, now) {
				s.remove(s.oldest)
			}
			s.mu.Unlock()
		}
	}
}

// Close makes every later call fail; the states are dropped.
func (m *Memory) Close() error {
	m.closed.Do(func() {
		close(m.done)
		m.sweeper.Wait()
		for i := range m.shards {
			s := &m.shards[i]
			s.mu.Lock()
			s.users = map[string]*memoryUser{}
			s.oldest, s.newest = nil, nil
			s.mu.Unlock()
		}
	})
	return nil
}
