package redis

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	goredis "github.com/redis/go-redis/v9"

	"github.com/parleyhq/parley/plugins/store"
)

// scanCount is the COUNT hint of the SCAN calls of Export.
const scanCount = 500

// Export calls fn with every user's record. It walks the state keys with
// SCAN (never KEYS, which blocks Redis), so users saved or deleted while it
// runs may or may not be seen; each user is seen once.
func (s *Store) Export(ctx context.Context, fn func(store.Record) error) error {
	if s.closed.Load() {
		return fmt.Errorf("exporting users: %w", errClosed)
	}
	head := s.cfg.Prefix + "{user:"
	const tail = "}:state"
	pattern := globEscape(head) + "*" + globEscape(tail)
	seen := map[string]struct{}{}
	var cursor uint64
	for {
		keys, next, err := s.client.Scan(ctx, cursor, pattern, scanCount).Result()
		if err != nil {
			return s.fail(ctx, "exporting users: scanning keys", err)
		}
		var ids []string
		for _, k := range keys {
			if !strings.HasPrefix(k, head) || !strings.HasSuffix(k, tail) || len(k) < len(head)+len(tail) {
				continue
			}
			id := k[len(head) : len(k)-len(tail)]
			if _, dup := seen[id]; dup {
				continue // SCAN may return a key twice
			}
			seen[id] = struct{}{}
			ids = append(ids, id)
		}
		if err := s.exportBatch(ctx, ids, fn); err != nil {
			return err
		}
		if cursor = next; cursor == 0 {
			return nil
		}
	}
}

// exportBatch reads the users ids in one pipeline and passes them to fn.
func (s *Store) exportBatch(ctx context.Context, ids []string, fn func(store.Record) error) error {
	if len(ids) == 0 {
		return nil
	}
	states := make([]*goredis.SliceCmd, len(ids))
	hists := make([]*goredis.StringSliceCmd, len(ids))
	_, err := s.client.Pipelined(ctx, func(p goredis.Pipeliner) error {
		for i, id := range ids {
			k := s.keys(id)
			states[i] = p.HMGet(ctx, k[0], "v", "s")
			hists[i] = p.LRange(ctx, k[1], s.historyStart(0), -1)
		}
		return nil
	})
	if err != nil {
		return s.fail(ctx, "exporting users", err)
	}
	for i, id := range ids {
		vals := states[i].Val()
		if len(vals) != 2 || vals[0] == nil {
			continue // expired or deleted since the scan
		}
		what := fmt.Sprintf("exporting user %q", id)
		st, err := decodeState(what, vals[0], vals[1])
		if err != nil {
			return err
		}
		h, err := decodeHistory(what, hists[i].Val())
		if err != nil {
			return err
		}
		if err := fn(store.Record{UserID: id, State: st, History: h}); err != nil {
			return err
		}
	}
	return nil
}

// globEscape escapes the characters SCAN's MATCH treats specially.
func globEscape(s string) string {
	var b strings.Builder
	for _, r := range s {
		if strings.ContainsRune(`*?[]\`, r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// Import replaces what is stored of r.UserID by r, its version and history
// (trimmed to the store's limit) included, in one script. The user's idle
// time starts at the import. Import ignores leases: run it while no server
// serves the users imported.
func (s *Store) Import(ctx context.Context, r store.Record) error {
	what := fmt.Sprintf("importing user %q", r.UserID)
	if s.closed.Load() {
		return fmt.Errorf("%s: %w", what, errClosed)
	}
	if r.UserID == "" {
		return fmt.Errorf("importing a user: empty user id")
	}
	st := r.State
	version := st.Version
	st.Version = 0
	js, err := json.Marshal(st)
	if err != nil {
		return fmt.Errorf("%s: encoding the state: %w", what, err)
	}
	args := []any{version, js, s.retention, s.limit}
	for i := range r.History {
		e, err := json.Marshal(&r.History[i])
		if err != nil {
			return fmt.Errorf("%s: encoding history entry %d: %w", what, i, err)
		}
		args = append(args, e)
	}
	k := s.keys(r.UserID)
	if err := importScript.Run(ctx, s.client, []string{k[0], k[1], k[3]}, args...).Err(); err != nil {
		return s.fail(ctx, what, err)
	}
	return nil
}
