package engine

import (
	"fmt"
	"sync"
	"testing"
)

// Locks are created on demand and forgotten when their last user lets go.
func TestUserLocksAreReleased(t *testing.T) {
	var ls userLocks
	var wg sync.WaitGroup
	counts := make([]int, 8)
	for i := 0; i < 64; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < 200; j++ {
				u := j % len(counts)
				l := ls.lock(fmt.Sprint("u", u))
				counts[u]++ // guarded by the user's lock: the race detector checks it
				l.unlock()
			}
		}()
	}
	wg.Wait()
	if n := ls.len(); n != 0 {
		t.Fatalf("%d locks kept after every holder let go", n)
	}
	for u, c := range counts {
		if c != 64*200/len(counts) {
			t.Fatalf("user %d counted %d", u, c)
		}
	}
	ls.closeAndWait()
	if ls.lock("u") != nil {
		t.Fatal("a lock was handed out after closeAndWait")
	}
}
