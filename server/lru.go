package server

import (
	"hash/maphash"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/parleyhq/parley/engine"
)

// lruShards is the number of independently locked parts of an lru.
const lruShards = 16

// lru is a bounded map from user ids to values, evicting the least recently
// used entry of a shard when the shard is full. It is safe for concurrent
// use; sharding keeps the lock of one shard off the path of the others.
type lru[V any] struct {
	seed   maphash.Seed
	shards [lruShards]lruShard[V]
}

type lruShard[V any] struct {
	mu   sync.Mutex
	cap  int
	m    map[string]*lruEntry[V]
	head lruEntry[V] // sentinel: head.next is the most recent, head.prev the least
}

type lruEntry[V any] struct {
	key        string
	val        V
	prev, next *lruEntry[V]
}

// newLRU returns an lru holding about capacity entries (at least one per shard).
func newLRU[V any](capacity int) *lru[V] {
	l := &lru[V]{seed: maphash.MakeSeed()}
	per := (capacity + lruShards - 1) / lruShards
	if per < 1 {
		per = 1
	}
	for i := range l.shards {
		s := &l.shards[i]
		s.cap = per
		s.m = make(map[string]*lruEntry[V])
		s.head.next, s.head.prev = &s.head, &s.head
	}
	return l
}

func (l *lru[V]) shard(key string) *lruShard[V] {
	return &l.shards[maphash.String(l.seed, key)%lruShards]
}

// with runs f on the value of key under the shard's lock, creating the value
// with create when key is absent and create is not nil. It reports whether
// the value existed or was created.
func (l *lru[V]) with(key string, create func() V, f func(v V)) bool {
	s := l.shard(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.m[key]
	if !ok {
		if create == nil {
			return false
		}
		if len(s.m) >= s.cap {
			old := s.head.prev
			old.unlink()
			delete(s.m, old.key)
		}
		e = &lruEntry[V]{key: key, val: create()}
		s.m[key] = e
	} else {
		e.unlink()
	}
	e.pushAfter(&s.head)
	f(e.val)
	return true
}

// remove drops key.
func (l *lru[V]) remove(key string) {
	s := l.shard(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	if e, ok := s.m[key]; ok {
		e.unlink()
		delete(s.m, key)
	}
}

// len returns the number of entries.
func (l *lru[V]) len() int {
	n := 0
	for i := range l.shards {
		s := &l.shards[i]
		s.mu.Lock()
		n += len(s.m)
		s.mu.Unlock()
	}
	return n
}

func (e *lruEntry[V]) unlink() {
	e.prev.next, e.next.prev = e.next, e.prev
	e.prev, e.next = nil, nil
}

func (e *lruEntry[V]) pushAfter(at *lruEntry[V]) {
	e.prev, e.next = at, at.next
	at.next.prev = e
	at.next = e
}

// limiters is the per-user rate limit: a token bucket per user in a bounded
// lru. A user evicted under memory pressure starts again with a full bucket.
type limiters struct {
	limit rate.Limit
	burst int
	users *lru[*rate.Limiter]
}

func newLimiters(limit rate.Limit, burst, users int) *limiters {
	return &limiters{limit: limit, burst: burst, users: newLRU[*rate.Limiter](users)}
}

// allow takes one token of user's bucket, or says how long to wait for one.
func (l *limiters) allow(user string, now time.Time) (ok bool, retryAfter time.Duration) {
	ok = true
	l.users.with(user, func() *rate.Limiter { return rate.NewLimiter(l.limit, l.burst) }, func(lim *rate.Limiter) {
		r := lim.ReserveN(now, 1)
		if !r.OK() {
			ok, retryAfter = false, time.Second
			return
		}
		if d := r.DelayFrom(now); d > 0 {
			r.CancelAt(now)
			ok, retryAfter = false, d
		}
	})
	return ok, retryAfter
}

// traceRing holds the last traces of one user, oldest first once full.
type traceRing struct {
	buf  []*engine.Trace
	next int
	full bool
}

// traceStore keeps the last traces of the most recent users.
type traceStore struct {
	perUser int
	users   *lru[*traceRing]
}

func newTraceStore(perUser, users int) *traceStore {
	return &traceStore{perUser: perUser, users: newLRU[*traceRing](users)}
}

// add records tr as the newest trace of user.
func (t *traceStore) add(user string, tr *engine.Trace) {
	t.users.with(user, func() *traceRing { return &traceRing{buf: make([]*engine.Trace, 0, min(t.perUser, 8))} }, func(r *traceRing) {
		if !r.full && len(r.buf) < t.perUser {
			r.buf = append(r.buf, tr)
			if len(r.buf) == t.perUser {
				r.full = true
			}
			return
		}
		r.buf[r.next] = tr
		r.next = (r.next + 1) % t.perUser
	})
}

// list returns the traces of user, oldest first, and whether any are kept.
func (t *traceStore) list(user string) ([]*engine.Trace, bool) {
	var out []*engine.Trace
	ok := t.users.with(user, nil, func(r *traceRing) {
		out = make([]*engine.Trace, 0, len(r.buf))
		if r.full {
			out = append(out, r.buf[r.next:]...)
			out = append(out, r.buf[:r.next]...)
		} else {
			out = append(out, r.buf...)
		}
	})
	return out, ok
}
