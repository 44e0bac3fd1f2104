package engine

import "sync"

// userLocks hands out one lock per user, created when a caller first asks
// for it and dropped when its last holder or waiter lets go, so a turn that
// waits on a slow webhook delays only the turns of its own user and the map
// holds only the users with a turn or a context call in progress.
type userLocks struct {
	mu      sync.Mutex
	idle    sync.Cond // signalled when refs of all locks fall to zero
	byUser  map[string]*userLock
	active  int       // holders and waiters, over every user
	free    sync.Pool // of *userLock nobody holds, so a turn allocates none
	closing bool      // closeAndWait was called: no lock is handed out any more
}

// userLock is the lock of one user.
type userLock struct {
	mu     sync.Mutex
	refs   int // holders and waiters, guarded by the owner's mu
	user   string
	parent *userLocks
}

// lock takes the lock of userID, waiting for its holder; nil means the
// locks are closing and the caller must not start.
func (ls *userLocks) lock(userID string) *userLock {
	ls.mu.Lock()
	if ls.closing {
		ls.mu.Unlock()
		return nil
	}
	if ls.byUser == nil {
		ls.byUser = map[string]*userLock{}
	}
	l := ls.byUser[userID]
	if l == nil {
		l, _ = ls.free.Get().(*userLock)
		if l == nil {
			l = &userLock{parent: ls}
		}
		l.user = userID
		ls.byUser[userID] = l
	}
	l.refs++
	ls.active++
	ls.mu.Unlock()
	l.mu.Lock()
	return l
}

// unlock releases the lock and forgets it when nobody else holds or waits for it.
func (l *userLock) unlock() {
	l.mu.Unlock()
	ls := l.parent
	ls.mu.Lock()
	l.refs--
	if l.refs == 0 {
		delete(ls.byUser, l.user)
		// Nobody holds or waits for l: it can serve another user.
		ls.free.Put(l)
	}
	ls.active--
	if ls.active == 0 && ls.closing {
		ls.idle.Broadcast()
	}
	ls.mu.Unlock()
}

// closeAndWait stops handing out locks and waits until every lock handed
// out before has been released.
func (ls *userLocks) closeAndWait() {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	ls.closing = true
	if ls.idle.L == nil {
		ls.idle.L = &ls.mu
	}
	for ls.active > 0 {
		ls.idle.Wait()
	}
}

// len returns how many users have a lock, for tests.
func (ls *userLocks) len() int {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	return len(ls.byUser)
}
