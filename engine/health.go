package engine

import (
	"context"
	"fmt"

	"github.com/parleyhq/parley/plugins/store"
)

// Ping checks that the engine's store can serve turns now, for a server's
// readiness check. A store that is not a store.Pinger (memory, file) is
// always reachable; a closed engine is not ready.
func (e *Engine) Ping(ctx context.Context) error {
	if e.closed.Load() {
		return ErrClosed
	}
	p, ok := e.store.(store.Pinger)
	if !ok {
		return nil
	}
	if err := p.Ping(ctx); err != nil {
		return fmt.Errorf("checking the store: %w", err)
	}
	return nil
}
