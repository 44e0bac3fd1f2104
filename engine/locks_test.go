package engine_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/parleyhq/parley/engine"
	"github.com/parleyhq/parley/plugins"
)

// A turn that waits in an action holds only its own user's lock: turns and
// context calls of other users go ahead, a second turn of the same user
// waits, and Close waits for the running turn.
func TestPerUserLocks(t *testing.T) {
	ctx := context.Background()
	entered := make(chan string, 64)
	unblock := make(chan struct{})
	funcs := map[string]plugins.ActionFunc{"f": func(ctx context.Context, req plugins.ActionRequest) plugins.ActionResult {
		entered <- "x"
		<-unblock
		return plugins.ActionResult{Success: true}
	}}
	e := open(t, actionScenario(`go: "f"`, "", "user.name"), funcs)
	var once sync.Once
	release := func() { once.Do(func() { close(unblock) }) }
	t.Cleanup(release) // before the engine's Close, even when the test fails

	var wg sync.WaitGroup
	errs := make(chan error, 64)
	const stalled = 32
	for i := 0; i < stalled; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := e.Handle(ctx, fmt.Sprint("slow", i), text("go")); err != nil {
				errs <- err
			}
		}()
	}
	for i := 0; i < stalled; i++ {
		select {
		case <-entered:
		case <-time.After(20 * time.Second):
			t.Fatalf("only %d of %d users' turns reached the action: they wait for each other", i, stalled)
		}
	}
	// Other users are served while 32 turns wait; had they shared a lock
	// with a stalled user, these calls would wait forever.
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; i < 200; i++ {
			u := fmt.Sprint("fast", i)
			if _, err := e.Handle(ctx, u, text("hello")); err != nil {
				errs <- err
			}
			if err := e.SetAttribute(ctx, u, "user.name", "n"); err != nil {
				errs <- err
			}
			if _, err := e.Context(ctx, u); err != nil {
				errs <- err
			}
			if _, err := e.History(ctx, u, 0); err != nil {
				errs <- err
			}
		}
	}()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("other users' turns waited for the stalled users")
	}
	// The same user's next call waits for its running turn.
	second := make(chan error, 1)
	go func() { _, err := e.Context(ctx, "slow0"); second <- err }()
	select {
	case err := <-second:
		t.Fatalf("a context read of a user in a turn did not wait for the turn (err %v)", err)
	case <-time.After(50 * time.Millisecond):
	}
	closed := make(chan error, 1)
	go func() { closed <- e.Close() }()
	select {
	case err := <-closed:
		t.Fatalf("Close returned while turns were running (err %v)", err)
	case <-time.After(50 * time.Millisecond):
	}
	release()
	wg.Wait()
	if err := <-closed; err != nil {
		t.Fatal(err)
	}
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	// The waiting read came after Close began: it is refused, not run on a closed store.
	if err := <-second; !errors.Is(err, engine.ErrClosed) {
		t.Fatalf("the read waiting during Close = %v, want ErrClosed", err)
	}
	if _, err := e.Handle(ctx, "late", text("go")); !errors.Is(err, engine.ErrClosed) {
		t.Fatalf("Handle after Close = %v", err)
	}
}

// A NewUserCheck runs before the first turn of a user only, and its error
// refuses the turn without creating the user.
func TestNewUserCheck(t *testing.T) {
	bg := context.Background()
	e := open(t, single(welcomeTurn), nil)
	refuse := errors.New("too many new users")
	var checked []string
	ctx := engine.WithNewUserCheck(bg, func(ctx context.Context, userID string) error {
		checked = append(checked, userID)
		if userID == "refused" {
			return refuse
		}
		return nil
	})
	if _, err := e.Handle(ctx, "refused", chatOpen); !errors.Is(err, refuse) {
		t.Fatalf("Handle = %v, want the check's error", err)
	}
	if h, _ := e.History(bg, "refused", 0); len(h) != 0 {
		t.Fatalf("a refused new user has history %+v", h)
	}
	for i := 0; i < 3; i++ {
		if _, err := e.Handle(ctx, "ok", chatOpen); err != nil {
			t.Fatal(err)
		}
	}
	if fmt.Sprint(checked) != "[refused ok]" {
		t.Fatalf("checked %v, want each new user once", checked)
	}
}
