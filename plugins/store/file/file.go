// Package file is the embedded persistent store of Parley, one bbolt file
// (go.etcd.io/bbolt) owned by one process: the default of `parley serve`.
//
// Every save is durable before it returns: the write transaction that holds
// it is synced to disk (fdatasync) before Save returns. Saves that arrive
// while a transaction commits are committed together in the next one (group
// commit), so concurrent turns share one sync and durability does not
// serialise the server. Under concurrency a group also waits briefly for
// company (see commitLoop), as PostgreSQL's commit_delay does when
// commit_siblings are active: a commit costs about the same for one save as
// for a dozen. bbolt's copy-on-write pages and double meta pages
// mean a crash at any moment leaves the last committed transaction: the file
// always opens, and no acknowledged save is lost.
//
// The store registers the URL scheme "file": file:PATH (relative to the
// working directory), file:/abs/path or file:///abs/path.
//
// # Layout
//
//	users/ID          header (format, version, saved time, history sequence
//	                  and length) followed by the state as JSON
//	history/LEN ID SEQ  one history entry as JSON: the id's length (uvarint),
//	                  the id and the entry's sequence (big-endian), so that a
//	                  user's entries are adjacent and in order
//	saved/TIME ID     an index of users by the time of their last save, for
//	                  expiring idle users in order
//
// A save writes as few pages as it can, since the time of a commit grows
// with the pages it writes: the history is one bucket, so a save dirties the
// page its entry is appended to, and the oldest entries of a user are
// trimmed a few at a time (the history may exceed its limit by historySlack
// entries, which reads never return).
package file

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"

	"github.com/parleyhq/parley/plugins/store"
)

// LockTimeout is how long Open waits for the file's lock: bbolt locks the
// file for one process, so a second process fails after this long.
const LockTimeout = time.Second

// pageSize is the page size of a new file (a file keeps the size it was
// made with). bbolt writes each dirty page with a write call of its own,
// and a save dirties the history leaf it appends to and the pages above
// it: with 8 KiB pages instead of the 4 KiB default a leaf holds twice the
// entries, so a group commit writes fewer pages in fewer calls (32
// writers: 1.5 page writes per save against 2.0; BenchmarkStoreTurnPaired
// at 32 users: 0.55-0.60 of the memory store's turns/s, against 0.49-0.53
// with 4 KiB pages).
const pageSize = 8192

// maxBatch bounds how many writes one transaction commits.
const maxBatch = 1024

// historySlack returns how many entries over limit a user's history may
// hold before its oldest are trimmed, all at once.
func historySlack(limit int) int { return max(1, limit/8) }

// Group-commit linger (see commitLoop): a group waits for company only
// when four users or more saved within activeWindow, for at most twice the
// time the last commit took, clamped to [minLinger, maxLinger].
const (
	activeWindow = 20 * time.Millisecond
	minLinger    = 100 * time.Microsecond
	maxLinger    = 2 * time.Millisecond
)

// sweepChunk bounds how many expired users one transaction erases.
const sweepChunk = 1000

// exportChunk is how many users Export reads per read transaction, so that
// no long read transaction holds pages while the caller writes records out.
const exportChunk = 256

var (
	bucketUsers   = []byte("users")
	bucketHistory = []byte("history")
	bucketSaved   = []byte("saved")
)

// Header layout of a users/ID value.
const (
	formatV1  = 1
	headerLen = 1 + 8 + 8 + 8 + 4 // format, version, saved (unix ns), next history sequence, history length
)

func init() {
	store.MustRegister("file", func(ctx context.Context, u *url.URL, opts store.Options) (store.Store, error) {
		path, err := pathOf(u)
		if err != nil {
			return nil, err
		}
		return Open(path, opts)
	})
}

// pathOf returns the file path of a file: URL.
func pathOf(u *url.URL) (string, error) {
	if u.Host != "" {
		return "", fmt.Errorf("opening store %s: a file store takes a local path (file:PATH or file:///abs/path), not a host", u.Redacted())
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return "", fmt.Errorf("opening store %s: a file store takes no query or fragment", u.Redacted())
	}
	p := u.Opaque
	if p == "" {
		p = u.Path
	}
	if p == "" {
		return "", fmt.Errorf("opening store %s: the path is missing (write file:PATH, such as file:.parley/state.db)", u.Redacted())
	}
	if u.Opaque != "" {
		// file:rel%20path: the opaque part is still escaped.
		if up, err := url.PathUnescape(p); err == nil {
			p = up
		}
	}
	return p, nil
}

// Store is a store.Store in one bbolt file. It also implements store.Porter.
type Store struct {
	db           *bolt.DB
	path         string
	historyLimit int
	retention    time.Duration
	now          func() time.Time

	writersMu sync.Mutex
	writers   map[string]time.Time // users who saved within activeWindow, with the time

	closeMu sync.RWMutex // held for reading while a write is queued; Close takes it
	closed  atomic.Bool
	ops     chan *op
	stopped chan struct{} // closed when the committer has finished
	done    chan struct{} // closed by Close, stops the sweeper
	sweeper sync.WaitGroup
}

// op is one write waiting for a transaction. fn may run twice (a failed
// group is retried one write at a time), so it only sets its own results.
type op struct {
	fn   func(tx *bolt.Tx) error
	done chan error
}

// Open opens (creating it and its directory when missing) the store file
// at path. A file locked by another process fails after LockTimeout.
func Open(path string, opts store.Options) (*Store, error) {
	if dir := filepath.Dir(path); dir != "" {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("opening store file:%s: creating its directory: %w", path, err)
		}
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{
		Timeout: LockTimeout,
		// The freelist is rebuilt when the file opens instead of written by
		// every transaction: fewer pages per commit, same safety.
		NoFreelistSync: true,
		FreelistType:   bolt.FreelistMapType,
		PageSize:       pageSize,
	})
	if errors.Is(err, bolterrors.ErrTimeout) {
		return nil, fmt.Errorf("opening store file:%s: the file is in use by another process (waited %s for its lock; is another parley serve running on it?)", path, LockTimeout)
	}
	if err != nil {
		return nil, fmt.Errorf("opening store file:%s: %w", path, err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bucketUsers, bucketHistory, bucketSaved} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("opening store file:%s: creating its buckets: %w", path, err)
	}
	s := &Store{
		db: db, path: path, historyLimit: opts.Limit(), retention: max(opts.Retention, 0), now: time.Now,
		ops: make(chan *op, maxBatch), stopped: make(chan struct{}), done: make(chan struct{}),
		writers: make(map[string]time.Time),
	}
	go s.commitLoop()
	if s.retention > 0 {
		s.sweeper.Add(1)
		go s.sweepLoop(store.SweepInterval(s.retention))
	}
	return s, nil
}

// Path returns the path of the store's file.
func (s *Store) Path() string { return s.path }

// errClosed is returned by a closed store.
var errClosed = errors.New("store is closed")

// write queues fn for the next transaction and waits until that transaction
// is on disk.
func (s *Store) write(fn func(tx *bolt.Tx) error) error {
	o := &op{fn: fn, done: make(chan error, 1)}
	s.closeMu.RLock()
	if s.closed.Load() {
		s.closeMu.RUnlock()
		return errClosed
	}
	s.ops <- o
	s.closeMu.RUnlock()
	return <-o.done
}

// noteWriter records that userID saves now, for the linger of commitLoop.
func (s *Store) noteWriter(userID string, now time.Time) {
	s.writersMu.Lock()
	s.writers[userID] = now
	s.writersMu.Unlock()
}

// activeWriters returns how many users saved within activeWindow of now,
// forgetting the others.
func (s *Store) activeWriters(now time.Time) int {
	s.writersMu.Lock()
	defer s.writersMu.Unlock()
	for u, t := range s.writers {
		if now.Sub(t) > activeWindow {
			delete(s.writers, u)
		}
	}
	return len(s.writers)
}

// lingerTarget is how many writes a group waits for (see commitLoop): half
// the users who saved within activeWindow, so that half the active users'
// turns run while the other half's commit syncs. Up to three active users
// make a target of at most one write: no wait.
func (s *Store) lingerTarget(now time.Time) int {
	return min(s.activeWriters(now)/2, maxBatch)
}

// commitLoop commits queued writes: the first write waiting and every write
// queued behind it go into one transaction, synced once; writes that arrive
// while a transaction syncs queue up and form the next group.
//
// A commit costs nearly as much for one write as for a dozen (two syncs
// and the pages above the leaves), so under concurrency a group lingers
// for company: while it holds fewer than half the users who saved within
// activeWindow (lingerTarget), it waits for more, for at most twice as long
// as the last commit took (clamped to [minLinger, maxLinger]). Without it,
// 32 users' turns split into small groups that each pay a whole commit
// (BenchmarkStoreTurnPaired: groups of about 4, against 12 to 15 with it).
// Waiting up to twice the last commit measured 0.54-0.57 of the memory
// store's turns/s in four runs against 0.47-0.55 for once, and half the
// active users 0.47-0.55 against 0.48-0.50 for two thirds and 0.51-0.54
// for a third (at once, alternated, on a quiet machine).
// A lone writer never waits: with up to three active users the target is
// one write, so a quiet server commits each turn at once (bbolt's DB.Batch
// would hold it for MaxBatchDelay instead).
func (s *Store) commitLoop() {
	defer close(s.stopped)
	batch := make([]*op, 0, maxBatch)
	linger := time.NewTimer(time.Hour)
	linger.Stop()
	lastTook := minLinger
	for open := true; open; {
		first, ok := <-s.ops
		if !ok {
			break
		}
		batch = append(batch[:0], first)
		open = s.gather(&batch)
		if target := s.lingerTarget(time.Now()); open && len(batch) < target {
			linger.Reset(min(max(2*lastTook, minLinger), maxLinger))
		wait:
			for len(batch) < target {
				select {
				case o, ok := <-s.ops:
					if !ok {
						open = false
						break wait
					}
					batch = append(batch, o)
				case <-linger.C:
					break wait
				}
			}
			linger.Stop()
		}
		start := time.Now()
		s.commit(batch)
		lastTook = time.Since(start)
		clear(batch)
	}
}

// gather appends the writes queued now to batch, up to maxBatch, without
// waiting; it reports false when the queue is closed.
func (s *Store) gather(batch *[]*op) bool {
	for len(*batch) < maxBatch {
		select {
		case o, ok := <-s.ops:
			if !ok {
				return false
			}
			*batch = append(*batch, o)
		default:
			return true
		}
	}
	return true
}

// commit runs batch in one transaction; if it fails, each write runs in a
// transaction of its own, so one failing write fails alone.
func (s *Store) commit(batch []*op) {
	err := s.db.Update(func(tx *bolt.Tx) error {
		for _, o := range batch {
			if err := o.fn(tx); err != nil {
				return err
			}
		}
		return nil
	})
	if err == nil || len(batch) == 1 {
		for _, o := range batch {
			o.done <- err
		}
		return
	}
	for _, o := range batch {
		o.done <- s.db.Update(o.fn)
	}
}

// header is the fixed part of a users/ID value.
type header struct {
	version  uint64
	saved    int64 // unix nanoseconds
	histNext uint64
	histLen  uint32
}

func (h header) appendTo(b []byte) []byte {
	b = append(b, formatV1)
	b = binary.BigEndian.AppendUint64(b, h.version)
	b = binary.BigEndian.AppendUint64(b, uint64(h.saved))
	b = binary.BigEndian.AppendUint64(b, h.histNext)
	return binary.BigEndian.AppendUint32(b, h.histLen)
}

// parseRecord splits a users/ID value into its header and the state's JSON.
func parseRecord(userID string, v []byte) (header, []byte, error) {
	if len(v) < headerLen || v[0] != formatV1 {
		return header{}, nil, fmt.Errorf("reading user %q: unknown record format (a newer parley, or a damaged file)", userID)
	}
	h := header{
		version:  binary.BigEndian.Uint64(v[1:]),
		saved:    int64(binary.BigEndian.Uint64(v[9:])),
		histNext: binary.BigEndian.Uint64(v[17:]),
		histLen:  binary.BigEndian.Uint32(v[25:]),
	}
	return h, v[headerLen:], nil
}

func savedKey(saved int64, userID string) []byte {
	k := binary.BigEndian.AppendUint64(make([]byte, 0, 8+len(userID)), uint64(saved))
	return append(k, userID...)
}

// histPrefix is the prefix of userID's history keys.
func histPrefix(userID string) []byte {
	p := binary.AppendUvarint(make([]byte, 0, binary.MaxVarintLen64+len(userID)+8), uint64(len(userID)))
	return append(p, userID...)
}

// histKey is the key of userID's history entry seq, after prefix.
func histKey(prefix []byte, seq uint64) []byte {
	return binary.BigEndian.AppendUint64(slices.Clip(prefix), seq)
}

// expired reports whether a user last saved at saved (unix ns) has expired at now.
func (s *Store) expired(saved int64, now time.Time) bool {
	return s.retention > 0 && now.Sub(time.Unix(0, saved)) > s.retention
}

// lookup returns userID's header and state JSON in tx, treating an expired
// user as absent.
func (s *Store) lookup(tx *bolt.Tx, userID string, now time.Time) (header, []byte, bool, error) {
	v := tx.Bucket(bucketUsers).Get([]byte(userID))
	if v == nil {
		return header{}, nil, false, nil
	}
	h, js, err := parseRecord(userID, v)
	if err != nil {
		return header{}, nil, false, err
	}
	if s.expired(h.saved, now) {
		return header{}, nil, false, nil
	}
	return h, js, true, nil
}

// purge erases userID in tx: state, history and index entry.
func purge(tx *bolt.Tx, userID string) error {
	key := []byte(userID)
	users := tx.Bucket(bucketUsers)
	if v := users.Get(key); v != nil {
		if h, _, err := parseRecord(userID, v); err == nil {
			if err := tx.Bucket(bucketSaved).Delete(savedKey(h.saved, userID)); err != nil {
				return err
			}
		}
		if err := users.Delete(key); err != nil {
			return err
		}
	}
	prefix := histPrefix(userID)
	c := tx.Bucket(bucketHistory).Cursor()
	for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Seek(prefix) {
		if err := c.Delete(); err != nil {
			return err
		}
	}
	return nil
}

func (s *Store) checkOpen(doing string, userID string) error {
	if s.closed.Load() {
		return fmt.Errorf("%s user %q: %w", doing, userID, errClosed)
	}
	return nil
}

// Load returns the state of userID; an expired user has the zero state.
func (s *Store) Load(ctx context.Context, userID string) (store.State, error) {
	if err := s.checkOpen("loading state of", userID); err != nil {
		return store.State{}, err
	}
	var st store.State
	now := s.now()
	err := s.db.View(func(tx *bolt.Tx) error {
		h, js, ok, err := s.lookup(tx, userID, now)
		if err != nil || !ok {
			return err
		}
		if err := json.Unmarshal(js, &st); err != nil {
			return fmt.Errorf("decoding the state: %w", err)
		}
		st.Version = h.version
		return nil
	})
	if err != nil {
		return store.State{}, fmt.Errorf("loading state of user %q from %s: %w", userID, s.path, err)
	}
	return st, nil
}

// Save stores st if the stored version still equals st.Version, appending
// entry to the history in the same transaction, and returns once the
// transaction is on disk.
func (s *Store) Save(ctx context.Context, userID string, st store.State, entry *store.HistoryEntry) (uint64, error) {
	if err := s.checkOpen("saving state of", userID); err != nil {
		return 0, err
	}
	expect := st.Version
	st.Version++
	js, err := json.Marshal(&st)
	if err != nil {
		return 0, fmt.Errorf("saving state of user %q: encoding it: %w", userID, err)
	}
	var ej []byte
	if entry != nil && s.historyLimit > 0 {
		if ej, err = json.Marshal(entry); err != nil {
			return 0, fmt.Errorf("saving state of user %q: encoding its history entry: %w", userID, err)
		}
	}
	key := []byte(userID)
	var stored uint64
	conflict := false
	s.noteWriter(userID, time.Now())
	err = s.write(func(tx *bolt.Tx) error {
		conflict = false
		now := s.now()
		h, _, ok, err := s.lookup(tx, userID, now)
		if err != nil {
			return err
		}
		if !ok && tx.Bucket(bucketUsers).Get(key) != nil {
			// Expired but not swept yet: it starts afresh.
			if err := purge(tx, userID); err != nil {
				return err
			}
		}
		if h.version != expect {
			conflict, stored = true, h.version
			return nil
		}
		saved := tx.Bucket(bucketSaved)
		if ok {
			if err := saved.Delete(savedKey(h.saved, userID)); err != nil {
				return err
			}
		}
		h.version = st.Version
		h.saved = now.UnixNano()
		if ej != nil {
			hb := tx.Bucket(bucketHistory)
			prefix := histPrefix(userID)
			if err := hb.Put(histKey(prefix, h.histNext), ej); err != nil {
				return err
			}
			h.histNext++
			h.histLen++
			if int(h.histLen) > s.historyLimit+historySlack(s.historyLimit) {
				for int(h.histLen) > s.historyLimit {
					if err := hb.Delete(histKey(prefix, h.histNext-uint64(h.histLen))); err != nil {
						return err
					}
					h.histLen--
				}
			}
		}
		val := append(h.appendTo(make([]byte, 0, headerLen+len(js))), js...)
		if err := tx.Bucket(bucketUsers).Put(key, val); err != nil {
			return err
		}
		return saved.Put(savedKey(h.saved, userID), nil)
	})
	if errors.Is(err, errClosed) {
		return 0, fmt.Errorf("saving state of user %q: %w", userID, err)
	}
	if err != nil {
		return 0, fmt.Errorf("saving state of user %q to %s: %w", userID, s.path, err)
	}
	if conflict {
		return 0, fmt.Errorf("saving state of user %q (version %d, stored %d): %w", userID, expect, stored, store.ErrConflict)
	}
	return st.Version, nil
}

// History returns the newest limit entries of userID's history, oldest first.
func (s *Store) History(ctx context.Context, userID string, limit int) ([]store.HistoryEntry, error) {
	if err := s.checkOpen("reading history of", userID); err != nil {
		return nil, err
	}
	var out []store.HistoryEntry
	now := s.now()
	err := s.db.View(func(tx *bolt.Tx) error {
		h, _, ok, err := s.lookup(tx, userID, now)
		if err != nil || !ok {
			return err
		}
		out, err = s.readHistory(tx, userID, h, limit)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("reading history of user %q from %s: %w", userID, s.path, err)
	}
	return out, nil
}

// readHistory reads the newest limit (all kept when <= 0) entries of
// userID, whose header is h, oldest first.
func (s *Store) readHistory(tx *bolt.Tx, userID string, h header, limit int) ([]store.HistoryEntry, error) {
	n := min(int(h.histLen), s.historyLimit)
	if limit > 0 {
		n = min(n, limit)
	}
	if n <= 0 {
		return nil, nil
	}
	prefix := histPrefix(userID)
	out := make([]store.HistoryEntry, 0, n)
	c := tx.Bucket(bucketHistory).Cursor()
	seq := h.histNext - uint64(n)
	for k, v := c.Seek(histKey(prefix, seq)); k != nil && bytes.HasPrefix(k, prefix) && len(out) < n; k, v = c.Next() {
		var e store.HistoryEntry
		if err := json.Unmarshal(v, &e); err != nil {
			return nil, fmt.Errorf("decoding a history entry: %w", err)
		}
		out = append(out, e)
	}
	return out, nil
}

// Delete erases userID's state and history.
func (s *Store) Delete(ctx context.Context, userID string) error {
	if err := s.checkOpen("deleting", userID); err != nil {
		return err
	}
	err := s.write(func(tx *bolt.Tx) error { return purge(tx, userID) })
	if err != nil {
		return fmt.Errorf("deleting user %q from %s: %w", userID, s.path, err)
	}
	return nil
}

// Export calls fn with the record of every live user, in the order of
// their ids. Users are read in chunks, each in its own read transaction, so
// a user saved during the export is exported as it was at some moment.
func (s *Store) Export(ctx context.Context, fn func(store.Record) error) error {
	var after []byte
	for {
		if s.closed.Load() {
			return fmt.Errorf("exporting users: %w", errClosed)
		}
		var recs []store.Record
		now := s.now()
		err := s.db.View(func(tx *bolt.Tx) error {
			c := tx.Bucket(bucketUsers).Cursor()
			k, v := c.First()
			if after != nil {
				k, v = c.Seek(after)
				if k != nil && bytes.Equal(k, after) {
					k, v = c.Next()
				}
			}
			for ; k != nil && len(recs) < exportChunk; k, v = c.Next() {
				after = append(after[:0], k...)
				id := string(k)
				h, js, err := parseRecord(id, v)
				if err != nil {
					return err
				}
				if s.expired(h.saved, now) {
					continue
				}
				r := store.Record{UserID: id}
				if err := json.Unmarshal(js, &r.State); err != nil {
					return fmt.Errorf("decoding the state of user %q: %w", id, err)
				}
				r.State.Version = h.version
				if r.History, err = s.readHistory(tx, id, h, 0); err != nil {
					return fmt.Errorf("user %q: %w", id, err)
				}
				recs = append(recs, r)
			}
			if k == nil {
				after = nil
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("exporting users from %s: %w", s.path, err)
		}
		for _, r := range recs {
			if err := ctx.Err(); err != nil {
				return fmt.Errorf("exporting users: %w", err)
			}
			if err := fn(r); err != nil {
				return err
			}
		}
		if after == nil {
			return nil
		}
	}
}

// Import stores r as it is, its version and history included, replacing
// whatever is stored for the user; the import counts as the user's latest
// save for retention. The history is trimmed to the store's limit.
func (s *Store) Import(ctx context.Context, r store.Record) error {
	if r.UserID == "" {
		return errors.New("importing a user: empty user id")
	}
	if err := s.checkOpen("importing", r.UserID); err != nil {
		return err
	}
	js, err := json.Marshal(&r.State)
	if err != nil {
		return fmt.Errorf("importing user %q: encoding the state: %w", r.UserID, err)
	}
	hist := r.History
	if len(hist) > s.historyLimit {
		hist = hist[len(hist)-s.historyLimit:]
	}
	entries := make([][]byte, len(hist))
	for i := range hist {
		if entries[i], err = json.Marshal(&hist[i]); err != nil {
			return fmt.Errorf("importing user %q: encoding history entry %d: %w", r.UserID, i+1, err)
		}
	}
	key := []byte(r.UserID)
	err = s.write(func(tx *bolt.Tx) error {
		if err := purge(tx, r.UserID); err != nil {
			return err
		}
		h := header{version: r.State.Version, saved: s.now().UnixNano()}
		if len(entries) > 0 {
			hb := tx.Bucket(bucketHistory)
			prefix := histPrefix(r.UserID)
			for _, e := range entries {
				if err := hb.Put(histKey(prefix, h.histNext), e); err != nil {
					return err
				}
				h.histNext++
				h.histLen++
			}
		}
		val := append(h.appendTo(make([]byte, 0, headerLen+len(js))), js...)
		if err := tx.Bucket(bucketUsers).Put(key, val); err != nil {
			return err
		}
		return tx.Bucket(bucketSaved).Put(savedKey(h.saved, r.UserID), nil)
	})
	if err != nil {
		return fmt.Errorf("importing user %q into %s: %w", r.UserID, s.path, err)
	}
	return nil
}

// sweepLoop erases expired users every interval until the store is closed.
func (s *Store) sweepLoop(interval time.Duration) {
	defer s.sweeper.Done()
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-s.done:
			return
		case <-t.C:
		}
		for {
			n, err := s.sweep()
			if err != nil || n < sweepChunk {
				break
			}
		}
	}
}

// sweep erases up to sweepChunk expired users, oldest first, and returns how many.
func (s *Store) sweep() (int, error) {
	var n int
	err := s.write(func(tx *bolt.Tx) error {
		n = 0
		cutoff := s.now().Add(-s.retention).UnixNano()
		var ids []string
		c := tx.Bucket(bucketSaved).Cursor()
		for k, _ := c.First(); k != nil && len(ids) < sweepChunk; k, _ = c.Next() {
			if len(k) < 8 || int64(binary.BigEndian.Uint64(k)) >= cutoff {
				break
			}
			ids = append(ids, string(k[8:]))
		}
		for _, id := range ids {
			if err := purge(tx, id); err != nil {
				return err
			}
		}
		n = len(ids)
		return nil
	})
	return n, err
}

// Close waits for the writes in progress, then closes the file; every later
// call fails.
func (s *Store) Close() error {
	s.closeMu.Lock()
	if s.closed.Swap(true) {
		s.closeMu.Unlock()
		return nil
	}
	close(s.done)
	close(s.ops)
	s.closeMu.Unlock()
	s.sweeper.Wait()
	<-s.stopped
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("closing store file:%s: %w", s.path, err)
	}
	return nil
}
