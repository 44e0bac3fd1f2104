// Package redis is a store.Store in Redis, for several engine replicas that
// share their users' state: store.Open("redis://[user:pass@]host:port/db")
// or "rediss://..." (TLS), registered by importing this package.
//
// # Layout
//
// Each user's keys share the hash tag {user:ID}, so every script touches one
// slot and the layout also works on Redis Cluster:
//
//	PREFIX{user:ID}:state    hash: v (version), s (state JSON), f (fencing token of the last save), w (save id)
//	PREFIX{user:ID}:history  list of history entries (JSON), oldest first, trimmed to the history limit
//	                         when it exceeds it by an eighth (reads return the newest limit)
//	PREFIX{user:ID}:lease    the lease's random token, with the lease's TTL
//	PREFIX{user:ID}:fence    the user's fencing counter
//
// PREFIX is "parley:" unless the URL says otherwise (?prefix=...).
//
// # Saves
//
// A save is one Lua script: it compares the stored version with the
// state's, checks the lease (its token must still be in the lease key and
// no save under a newer fencing token may be stored), writes the state,
// appends and trims the history and sets the idle expiry, all or nothing.
//
// # Leases
//
// Store implements store.Leaser. A lease is a key holding a random token
// with a TTL (?lease_ttl=, default 5s), renewed every third of the TTL
// while the turn runs and released by a script that checks the token. Each
// lease also gets a fencing token larger than any before it for that user.
// A replica that crashes holding a lease stops renewing it, so the lease
// expires at most lease_ttl after the crash. A turn whose lease another
// process holds waits for it (?lease_wait=, default 10s, polling) and then
// fails with store.ErrLeaseHeld.
//
// # Failures
//
// Every error of an unreachable or unavailable Redis wraps
// store.ErrUnavailable; Store is a store.Pinger for readiness checks. The
// client reconnects by itself when Redis is back.
//
// Other URL parameters are go-redis's (dial_timeout, read_timeout,
// pool_size, max_retries ...: see redis.ParseURL); this package makes the
// dial, read and write timeouts 2s unless the URL sets them, so that turns
// fail fast when Redis is away, and speaks RESP2 unless ?protocol=3.
package redis

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"

	"github.com/parleyhq/parley/plugins/store"
)

// Defaults of the URL parameters this package reads.
const (
	DefaultPrefix    = "parley:"
	DefaultLeaseTTL  = 5 * time.Second
	DefaultLeaseWait = 10 * time.Second
	// defaultTimeout is the dial, read and write timeout unless the URL sets them.
	defaultTimeout = 2 * time.Second
	// openTimeout bounds the first PING of Open.
	openTimeout = 5 * time.Second
)

func init() {
	for _, scheme := range []string{"redis", "rediss"} {
		store.MustRegister(scheme, func(ctx context.Context, u *url.URL, opts store.Options) (store.Store, error) {
			return Open(ctx, u, opts)
		})
	}
}

// Config is what a redis:// URL says besides go-redis's own options.
type Config struct {
	// Prefix starts every key (?prefix=, default DefaultPrefix). It may not
	// hold '{' or '}', which would break the hash tags.
	Prefix string
	// LeaseTTL is how long a lease lives without renewal (?lease_ttl=): the
	// bound on how long a crashed replica's users wait.
	LeaseTTL time.Duration
	// LeaseWait is how long a turn waits for a lease held elsewhere (?lease_wait=).
	LeaseWait time.Duration
}

// Store is a store.Store, store.Leaser, store.Porter and store.Pinger in Redis.
type Store struct {
	client *goredis.Client
	// cmds is go-redis's blocking autopipeliner, which sends the commands
	// waiting at a moment to Redis in one write and reads their replies in
	// one read; conn sends a command there while others are in flight.
	cmds      *goredis.AutoPipeliner
	running   atomic.Int64 // commands in flight (see conn)
	cfg       Config
	limit     int   // history entries kept per user; 0 keeps none
	retention int64 // idle expiry in ms; 0 keeps users
	redacted  string
	closed    atomic.Bool
}

// Open connects to the Redis named by u (redis:// or rediss://) and checks
// that it answers. Errors show the URL without its password.
func Open(ctx context.Context, u *url.URL, opts store.Options) (*Store, error) {
	red := u.Redacted()
	cfg, rest, err := parseConfig(u)
	if err != nil {
		return nil, fmt.Errorf("opening store %s: %w", red, err)
	}
	ro, err := goredis.ParseURL(rest.String())
	if err != nil {
		// go-redis's messages name options and numbers, never the password.
		return nil, fmt.Errorf("opening store %s: %w", red, err)
	}
	q := rest.Query()
	for name, d := range map[string]*time.Duration{"dial_timeout": &ro.DialTimeout, "read_timeout": &ro.ReadTimeout, "write_timeout": &ro.WriteTimeout} {
		if !q.Has(name) {
			*d = defaultTimeout
		}
	}
	quietLogs.Do(func() { goredis.SetLogger(debugLogger{}) })
	if !q.Has("protocol") {
		// RESP2: this store needs no RESP3 push messages, and skipping
		// their handling was measurably faster per turn (BenchmarkStoreTurnPaired).
		ro.Protocol = 2
	}
	ro.DialerRetries = 1
	ro.MaintNotificationsConfig = &maintnotifications.Config{Mode: maintnotifications.ModeDisabled}
	s := &Store{client: goredis.NewClient(ro), cfg: cfg, limit: opts.Limit(), redacted: red}
	// The commands of concurrent turns share round trips: at 32 concurrent
	// users this was 15-25% more turns/s than a command per round trip, with
	// a third less CPU in Redis and in this process (BenchmarkStoreTurnPaired,
	// BenchmarkTurnStore). A lone command goes straight to a connection
	// (see conn). (The
	// autopipeliner is marked experimental in go-redis 9.23, the version
	// go.mod pins; the store's tests, outages and replicas included, run
	// through it.)
	if s.cmds, err = s.client.AutoPipeline(); err != nil {
		s.client.Close()
		return nil, fmt.Errorf("opening store %s: %w", red, err)
	}
	if opts.Retention > 0 {
		s.retention = max(opts.Retention.Milliseconds(), 1)
	}
	pctx, cancel := context.WithTimeout(ctx, openTimeout)
	defer cancel()
	if err := s.Ping(pctx); err != nil {
		s.client.Close()
		return nil, fmt.Errorf("opening store %s: %w", red, err)
	}
	return s, nil
}

// parseConfig takes this package's parameters out of u's query and returns
// them with the rest of the URL, for go-redis.
func parseConfig(u *url.URL) (Config, *url.URL, error) {
	cfg := Config{Prefix: DefaultPrefix, LeaseTTL: DefaultLeaseTTL, LeaseWait: DefaultLeaseWait}
	q := u.Query()
	if q.Has("prefix") {
		cfg.Prefix = q.Get("prefix")
		if strings.ContainsAny(cfg.Prefix, "{}") {
			return cfg, nil, fmt.Errorf("prefix %q may not hold '{' or '}' (they would break the hash tags)", cfg.Prefix)
		}
		q.Del("prefix")
	}
	for name, d := range map[string]*time.Duration{"lease_ttl": &cfg.LeaseTTL, "lease_wait": &cfg.LeaseWait} {
		if !q.Has(name) {
			continue
		}
		v, err := time.ParseDuration(q.Get(name))
		if err != nil || v < 0 || (name == "lease_ttl" && v < 100*time.Millisecond) {
			return cfg, nil, fmt.Errorf("%s=%q: want a duration such as 5s (lease_ttl at least 100ms, lease_wait not negative)", name, q.Get(name))
		}
		*d = v
		q.Del(name)
	}
	rest := *u
	rest.RawQuery = q.Encode()
	return cfg, &rest, nil
}

// quietLogs installs debugLogger once.
var quietLogs sync.Once

// debugLogger sends go-redis's own log lines (one per failed dial while
// Redis is away) to slog's default logger at debug level: the failures
// reach operators as store errors, with the request that met them.
type debugLogger struct{}

func (debugLogger) Printf(ctx context.Context, format string, v ...any) {
	slog.Default().Log(ctx, slog.LevelDebug, fmt.Sprintf(format, v...), slog.String("component", "go-redis"))
}

// Config returns the store's prefix and lease settings.
func (s *Store) Config() Config { return s.cfg }

// String names the store by its URL without the password.
func (s *Store) String() string { return s.redacted }

// conn returns where to send a command: straight to a connection of the
// client when no other command of this store is in flight, so that a lone
// turn pays no hand-over to the autopipeliner's sender (60-100 µs per turn
// with one user), or to the autopipeliner, sharing round trips, when others
// are. Call sent once the command has returned.
func (s *Store) conn() goredis.Cmdable {
	if s.running.Add(1) == 1 {
		return s.client
	}
	return s.cmds
}

// sent ends a command of conn.
func (s *Store) sent() { s.running.Add(-1) }

// run runs script through conn.
func (s *Store) run(ctx context.Context, script *goredis.Script, keys []string, args ...any) *goredis.Cmd {
	defer s.sent()
	return script.Run(ctx, s.conn(), keys, args...)
}

// keys returns the keys of userID: state, history, lease and fence.
func (s *Store) keys(userID string) [4]string {
	base := s.cfg.Prefix + "{user:" + userID + "}:"
	return [4]string{base + "state", base + "history", base + "lease", base + "fence"}
}

// errClosed is returned by a closed store.
var errClosed = errors.New("store is closed")

// unavailable reports whether err means Redis cannot serve us now: the
// connection failed or timed out, or Redis answered that it is loading,
// read-only, out of memory, busy or without a master. Other replies of
// Redis (a script error) are bugs, not outages.
func unavailable(err error) bool {
	var re goredis.Error
	if !errors.As(err, &re) {
		return true // a network, timeout or pool error
	}
	msg := strings.TrimPrefix(re.Error(), "ERR ")
	for _, p := range []string{"LOADING", "READONLY", "MASTERDOWN", "CLUSTERDOWN", "TRYAGAIN", "BUSY", "NOREPLICAS", "MISCONF", "OOM", "MAXCLIENTS", "max number of clients"} {
		if strings.HasPrefix(msg, p) {
			return true
		}
	}
	return false
}

// fail wraps err of doing what, marking an unavailable Redis.
func (s *Store) fail(ctx context.Context, what string, err error) error {
	if s.closed.Load() || errors.Is(err, goredis.ErrClosed) {
		return fmt.Errorf("%s: %w", what, errClosed)
	}
	if ctx.Err() != nil {
		// The caller gave up, or the lease was lost (the cause says which).
		return fmt.Errorf("%s: %w", what, context.Cause(ctx))
	}
	if unavailable(err) {
		return fmt.Errorf("%s: redis %s: %w: %w", what, s.client.Options().Addr, store.ErrUnavailable, err)
	}
	return fmt.Errorf("%s: %w", what, err)
}

// Ping checks that Redis answers, for readiness checks.
func (s *Store) Ping(ctx context.Context) error {
	if s.closed.Load() {
		return fmt.Errorf("pinging redis: %w", errClosed)
	}
	if err := s.client.Ping(ctx).Err(); err != nil {
		return s.fail(ctx, "pinging redis", err)
	}
	return nil
}

// Load returns the state of userID. Under the user's lease (ctx from
// Lease) the first Load returns the state read when the lease was taken.
func (s *Store) Load(ctx context.Context, userID string) (store.State, error) {
	what := "loading state of user " + strconv.Quote(userID)
	if s.closed.Load() {
		return store.State{}, fmt.Errorf("%s: %w", what, errClosed)
	}
	if l := s.leaseOf(ctx, userID); l != nil && l.prefetched.CompareAndSwap(true, false) {
		return decodeState(what, l.version, l.state)
	}
	k := s.keys(userID)
	vals, err := s.conn().HMGet(ctx, k[0], "v", "s").Result()
	s.sent()
	if err != nil {
		return store.State{}, s.fail(ctx, what, err)
	}
	return decodeState(what, vals[0], vals[1])
}

// decodeState builds a State from the v and s fields of a state hash (nil
// when missing).
func decodeState(what string, v, s any) (store.State, error) {
	var st store.State
	vs, _ := v.(string)
	js, _ := s.(string)
	if vs == "" && js == "" {
		return st, nil
	}
	if js != "" {
		if err := json.Unmarshal([]byte(js), &st); err != nil {
			return store.State{}, fmt.Errorf("%s: decoding the stored state: %w", what, err)
		}
	}
	ver, err := strconv.ParseUint(vs, 10, 64)
	if err != nil {
		return store.State{}, fmt.Errorf("%s: the stored version %q is not a number", what, vs)
	}
	st.Version = ver
	return st, nil
}

// Save stores st if the stored version still equals st.Version, appending
// entry to the history, in one script. Under a lease (ctx from Lease) the
// save is refused with store.ErrLeaseHeld if the lease was lost, and a
// successful save also releases the lease in Redis: a lease covers one
// write, as the engine makes one per turn (see Lease).
func (s *Store) Save(ctx context.Context, userID string, st store.State, entry *store.HistoryEntry) (uint64, error) {
	what := fmt.Sprintf("saving state of user %q", userID)
	if s.closed.Load() {
		return 0, fmt.Errorf("%s: %w", what, errClosed)
	}
	expected := st.Version
	st.Version = 0 // the hash's v field is the version
	js, err := json.Marshal(st)
	if err != nil {
		return 0, fmt.Errorf("%s: encoding the state: %w", what, err)
	}
	var ej []byte
	if entry != nil && s.limit > 0 {
		if ej, err = json.Marshal(entry); err != nil {
			return 0, fmt.Errorf("%s: encoding the history entry: %w", what, err)
		}
	}
	token, fence := "", uint64(0)
	l := s.leaseOf(ctx, userID)
	if l != nil {
		token, fence = l.token, l.fence
		l.prefetched.Store(false)
	}
	k := s.keys(userID)
	res, err := s.run(ctx, saveScript, k[:],
		expected, js, ej, s.limit, s.retention, token, fence, rand.Text(), releaseFlag(l)).Int64Slice()
	if err != nil {
		return 0, s.fail(ctx, what, err)
	}
	if len(res) != 2 {
		return 0, fmt.Errorf("%s: unexpected reply %v of the save script", what, res)
	}
	switch res[0] {
	case resOK:
		if l != nil {
			l.releasedInRedis()
		}
		return uint64(res[1]), nil
	case resConflict:
		return 0, fmt.Errorf("%s (version %d, stored %d): %w", what, expected, res[1], store.ErrConflict)
	case resLeaseLost:
		return 0, fmt.Errorf("%s: the lease expired or was taken by another process; nothing saved: %w", what, store.ErrLeaseHeld)
	case resFenceStale:
		return 0, fmt.Errorf("%s: a save under a newer lease (fencing token %d > %d) is stored; nothing saved: %w", what, res[1], fence, store.ErrLeaseHeld)
	}
	return 0, fmt.Errorf("%s: unexpected reply %v of the save script", what, res)
}

// History returns the newest limit entries of userID's history, oldest first.
func (s *Store) History(ctx context.Context, userID string, limit int) ([]store.HistoryEntry, error) {
	what := fmt.Sprintf("reading history of user %q", userID)
	if s.closed.Load() {
		return nil, fmt.Errorf("%s: %w", what, errClosed)
	}
	raw, err := s.conn().LRange(ctx, s.keys(userID)[1], s.historyStart(limit), -1).Result()
	s.sent()
	if err != nil {
		return nil, s.fail(ctx, what, err)
	}
	return decodeHistory(what, raw)
}

// historyStart is the LRANGE start of the newest limit entries (all kept
// when limit <= 0): the list may hold up to an eighth of the store's limit
// more, trimmed in one go by the save script.
func (s *Store) historyStart(limit int) int64 {
	if s.limit > 0 && (limit <= 0 || limit > s.limit) {
		limit = s.limit
	}
	if limit <= 0 {
		return 0
	}
	return -int64(limit)
}

func decodeHistory(what string, raw []string) ([]store.HistoryEntry, error) {
	if len(raw) == 0 {
		return nil, nil
	}
	h := make([]store.HistoryEntry, len(raw))
	for i, r := range raw {
		if err := json.Unmarshal([]byte(r), &h[i]); err != nil {
			return nil, fmt.Errorf("%s: decoding entry %d: %w", what, i, err)
		}
	}
	return h, nil
}

// Delete forgets userID: state, history and fencing counter. Under a lease
// (ctx from Lease) it is refused with store.ErrLeaseHeld if the lease was
// lost, and it releases the lease as Save does.
func (s *Store) Delete(ctx context.Context, userID string) error {
	what := fmt.Sprintf("deleting state of user %q", userID)
	if s.closed.Load() {
		return fmt.Errorf("%s: %w", what, errClosed)
	}
	token := ""
	l := s.leaseOf(ctx, userID)
	if l != nil {
		token = l.token
		l.prefetched.Store(false)
	}
	k := s.keys(userID)
	res, err := s.run(ctx, deleteScript, k[:], token).Int64Slice()
	if err != nil {
		return s.fail(ctx, what, err)
	}
	if len(res) != 1 || res[0] != resOK {
		return fmt.Errorf("%s: the lease expired or was taken by another process; nothing deleted: %w", what, store.ErrLeaseHeld)
	}
	if l != nil {
		l.releasedInRedis()
	}
	return nil
}

// Close closes the connections; every later call fails.
func (s *Store) Close() error {
	if s.closed.Swap(true) {
		return nil
	}
	apErr := s.cmds.Close() // waits for the commands in flight
	if err := errors.Join(apErr, s.client.Close()); err != nil {
		return fmt.Errorf("closing store %s: %w", s.redacted, err)
	}
	return nil
}

var (
	_ store.Store  = (*Store)(nil)
	_ store.Leaser = (*Store)(nil)
	_ store.Porter = (*Store)(nil)
	_ store.Pinger = (*Store)(nil)
)
