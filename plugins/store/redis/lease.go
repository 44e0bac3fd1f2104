package redis

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/parleyhq/parley/plugins/store"
)

// Polling bounds of a turn waiting for a lease held elsewhere.
const (
	minLeasePoll = time.Millisecond
	maxLeasePoll = 20 * time.Millisecond
)

// errReleased is the cause of a leased context after its release.
var errReleased = errors.New("the lease was released")

// leaseKey is the context key of a *lease.
type leaseKey struct{}

// lease is one held lease of one user.
type lease struct {
	s     *Store
	user  string
	key   string
	token string
	fence uint64
	// version and state are the state hash's v and s fields read when the
	// lease was taken; the first Load under the lease returns them.
	version, state any
	prefetched     atomic.Bool
	cancel         context.CancelCauseFunc

	mu      sync.Mutex
	done    bool
	timer   *time.Timer
	expires time.Time // the latest the lease may expire, by our clock
}

// leaseOf returns the lease of userID that ctx carries, if it is one of s.
func (s *Store) leaseOf(ctx context.Context, userID string) *lease {
	l, _ := ctx.Value(leaseKey{}).(*lease)
	if l == nil || l.s != s || l.user != userID {
		return nil
	}
	return l
}

// Lease takes userID's lease: a random token in the user's lease key, with
// a TTL of LeaseTTL, renewed every third of it until release or until a
// Save or Delete under it succeeds: a lease covers one write (the engine
// makes one per turn or context write), and that write releases it in the
// same script, saving a round trip to Redis per turn. While another
// process holds it, Lease polls until it is free, for at most LeaseWait or
// until ctx is done, and then fails with an error wrapping
// store.ErrLeaseHeld. The leased context is cancelled when the lease is lost
// (it could not be renewed before it expired, or another process has it),
// and Save and Delete made with it check the lease's token and fencing
// token in the same script that writes.
func (s *Store) Lease(ctx context.Context, userID string) (context.Context, func(), error) {
	what := fmt.Sprintf("taking the lease of user %q", userID)
	if s.closed.Load() {
		return nil, nil, fmt.Errorf("%s: %w", what, errClosed)
	}
	k := s.keys(userID)
	keys := []string{k[2], k[3], k[0]}
	token := rand.Text()
	ttl := s.cfg.LeaseTTL
	start := time.Now()
	deadline := start.Add(s.cfg.LeaseWait)
	poll := minLeasePoll
	for {
		sent := time.Now()
		res, err := s.run(ctx, acquireScript, keys, token, ttl.Milliseconds(), s.retention).Slice()
		if err != nil {
			return nil, nil, s.fail(ctx, what, err)
		}
		if len(res) == 4 && res[0] == int64(1) {
			fence, _ := res[1].(int64)
			l := &lease{s: s, user: userID, key: k[2], token: token, fence: uint64(fence),
				version: res[2], state: res[3], expires: sent.Add(ttl)}
			l.prefetched.Store(true)
			lctx, cancel := context.WithCancelCause(ctx)
			l.cancel = cancel
			l.mu.Lock()
			l.timer = time.AfterFunc(ttl/3, l.renew)
			l.mu.Unlock()
			return context.WithValue(lctx, leaseKey{}, l), l.release, nil
		}
		if len(res) != 2 {
			return nil, nil, fmt.Errorf("%s: unexpected reply %v of the lease script", what, res)
		}
		remaining, _ := res[1].(int64)
		now := time.Now()
		if !now.Before(deadline) {
			return nil, nil, fmt.Errorf("%s: waited %s, the lease is held for %d ms more: %w",
				what, now.Sub(start).Round(time.Millisecond), remaining, store.ErrLeaseHeld)
		}
		d := min(poll, deadline.Sub(now))
		if remaining > 0 {
			d = min(d, time.Duration(remaining)*time.Millisecond)
		}
		d = d/2 + mrand.N(d/2+1) // jitter, so that waiters do not poll in step
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, nil, fmt.Errorf("%s: %w while waiting: %w", what, store.ErrLeaseHeld, context.Cause(ctx))
		case <-t.C:
		}
		poll = min(poll*2, maxLeasePoll)
	}
}

// releaseFlag is the save script's argument that releases l with the save.
func releaseFlag(l *lease) string {
	if l == nil {
		return ""
	}
	return "1"
}

// releasedInRedis records that a write released the lease in Redis: it is
// no longer renewed, and release has nothing left to delete. Later writes
// under it are refused (the token is gone).
func (l *lease) releasedInRedis() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.done {
		l.done = true
		l.timer.Stop()
	}
}

// renew extends the lease, or gives it up as lost: when its token is gone
// from Redis, or when it could not be renewed before it expires.
func (l *lease) renew() {
	l.mu.Lock()
	if l.done {
		l.mu.Unlock()
		return
	}
	l.mu.Unlock()
	ttl := l.s.cfg.LeaseTTL
	sent := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), ttl/3)
	ok, err := l.s.run(ctx, renewScript, []string{l.key}, l.token, ttl.Milliseconds()).Int64()
	cancel()
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.done {
		return
	}
	switch {
	case err == nil && ok == 1:
		l.expires = sent.Add(ttl)
		l.timer.Reset(ttl / 3)
	case err == nil:
		l.lose(fmt.Errorf("lease of user %q lost: it expired and another process may hold it: %w", l.user, store.ErrLeaseHeld))
	case time.Until(l.expires) <= ttl/10:
		l.lose(fmt.Errorf("lease of user %q lost: it could not be renewed before it expired: %w: %w",
			l.user, store.ErrLeaseHeld, l.s.fail(context.Background(), "renewing it", err)))
	default:
		l.timer.Reset(min(ttl/10, time.Until(l.expires)/2)) // try again soon
	}
}

// lose ends the lease with cause; l.mu is held.
func (l *lease) lose(cause error) {
	l.done = true
	l.cancel(cause)
}

// release ends the lease and deletes its key if it still holds the token.
// If Redis cannot be reached the key expires by itself.
func (l *lease) release() {
	l.mu.Lock()
	if l.done {
		l.mu.Unlock()
		l.cancel(errReleased)
		return
	}
	l.done = true
	l.timer.Stop()
	l.mu.Unlock()
	l.cancel(errReleased)
	if l.s.closed.Load() {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), min(l.s.cfg.LeaseTTL, time.Second))
	defer cancel()
	_ = l.s.run(ctx, releaseScript, []string{l.key}, l.token).Err()
}
