package webhook

import (
	"sync"
	"time"
)

// breaker is a consecutive-failure circuit breaker, one per action.
//
// Closed, it lets every call through and counts consecutive failed calls;
// at the threshold it opens and fails calls fast for the cooldown; then it
// lets exactly one trial call through (half-open): success closes it, failure
// opens it again. A small one of our own rather than sony/gobreaker: no extra
// dependency, an injectable clock for tests, and the only policy we need.
type breaker struct {
	threshold int
	cooldown  time.Duration
	now       func() time.Time

	mu       sync.Mutex
	state    breakerState
	failures int
	openedAt time.Time
	probing  bool
}

type breakerState int

const (
	breakerClosed breakerState = iota
	breakerOpen
	breakerHalfOpen
)

func newBreaker(threshold int, cooldown time.Duration, now func() time.Time) *breaker {
	if now == nil {
		now = time.Now
	}
	return &breaker{threshold: threshold, cooldown: cooldown, now: now}
}

// allow reports whether a call may go ahead; probe is true for the trial
// call of a half-open breaker. When allowed, done must be called with the outcome.
// When refused, wait says how long until the next trial call.
func (b *breaker) allow() (ok, probe bool, wait time.Duration) {
	b.mu.Lock()
	defer b.mu.Unlock()
	switch b.state {
	case breakerClosed:
		return true, false, 0
	case breakerOpen:
		if elapsed := b.now().Sub(b.openedAt); elapsed < b.cooldown {
			return false, false, b.cooldown - elapsed
		}
		b.state = breakerHalfOpen
		b.probing = true
		return true, true, 0
	default: // half-open: one trial at a time
		if b.probing {
			return false, false, 0
		}
		b.probing = true
		return true, true, 0
	}
}

// done records the outcome of an allowed call. failed counts only faults of
// the service (no answer, timeouts, 5xx, 429), not answers it chose to give.
func (b *breaker) done(probe, failed bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if probe {
		b.probing = false
	}
	if !failed {
		if probe || b.state != breakerOpen {
			b.state, b.failures = breakerClosed, 0
		}
		return
	}
	if probe || b.state == breakerHalfOpen {
		b.state, b.openedAt = breakerOpen, b.now()
		return
	}
	if b.state == breakerClosed {
		b.failures++
		if b.failures >= b.threshold {
			b.state, b.openedAt = breakerOpen, b.now()
		}
	}
}
