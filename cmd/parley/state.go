package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/url"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/parleyhq/parley/plugins/store"
)

// envStore names the store when --store is not given.
const envStore = "PARLEY_STORE"

// DataDir is the directory, under the working directory, where `parley
// serve` keeps its state by default. The scenario loader and watcher skip
// it (it is hidden), and `parley init` lists it in the bot's .gitignore.
const DataDir = ".parley"

// defaultServeStore is the store of `parley serve` without --store or PARLEY_STORE.
const defaultServeStore = "file:" + DataDir + "/state.db"

// storeFlags are the flags that choose and configure a store.
type storeFlags struct {
	url          string
	retention    time.Duration
	historyLimit int
	maxUsers     int
}

// add declares the flags on f; def is the store used without --store and PARLEY_STORE.
func (o *storeFlags) add(f *pflag.FlagSet, def string, limits bool) {
	f.StringVar(&o.url, "store", "", "where user state lives, a URL of scheme "+store.Schemes()+" (also "+envStore+"; default "+def+")")
	if limits {
		f.DurationVar(&o.retention, "retention", 0, "erase users idle (no turn, no context write) for longer than this (0: keep them)")
		f.IntVar(&o.historyLimit, "history-limit", store.DefaultHistoryLimit, "turns of history kept per user (0: none)")
		f.IntVar(&o.maxUsers, "max-users", store.DefaultMaxUsers, "with the memory store, the most users kept (the least recently active are dropped)")
	}
}

// resolve returns the store URL: the flag, else PARLEY_STORE, else def.
func (o *storeFlags) resolve(def string) string {
	switch {
	case o.url != "":
		return o.url
	case os.Getenv(envStore) != "":
		return os.Getenv(envStore)
	}
	return def
}

// options returns the store options the flags ask for.
func (o *storeFlags) options() (store.Options, error) {
	if o.retention < 0 {
		return store.Options{}, fmt.Errorf("--retention must not be negative, got %s", o.retention)
	}
	if o.historyLimit < 0 || o.maxUsers < 0 {
		return store.Options{}, errors.New("--history-limit and --max-users must not be negative")
	}
	opts := store.Options{HistoryLimit: o.historyLimit, Retention: o.retention, MaxUsers: o.maxUsers}
	if o.historyLimit == 0 {
		opts.HistoryLimit = -1 // store.Options: negative keeps none
	}
	if o.maxUsers == 0 {
		opts.MaxUsers = -1
	}
	return opts, nil
}

// open opens the store the flags name (def without --store or
// PARLEY_STORE). Its errors never show a password of the URL; main answers
// them with exit status 2.
func (o *storeFlags) open(ctx context.Context, def string) (store.Store, string, error) {
	opts, err := o.options()
	if err != nil {
		return nil, "", err
	}
	raw := o.resolve(def)
	s, err := store.Open(ctx, raw, opts)
	if err != nil {
		return nil, "", err
	}
	return s, redactedURL(raw), nil
}

// redactedURL is a store URL fit for logs: any password replaced.
func redactedURL(raw string) string {
	if u, err := url.Parse(raw); err == nil {
		return u.Redacted()
	}
	return "(a store URL)"
}

func newStateCmd(s streams) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "state",
		Short: "Export, import and delete the users of a store",
		Long: `Move users between stores and erase users.

  parley state export --store URL > users.jsonl
  parley state import --store URL < users.jsonl
  parley state delete --store URL USER...

Export writes one JSON line per user (a store.Record: user_id, state with its
version, history); import reads such lines and stores each user as it is, its
version and history included, replacing what the store holds for that user:
importing the same lines twice leaves the same data. Import checks every line
before it stores anything. Without --store, the commands use ` + envStore + ` or
` + defaultServeStore + `, the default of parley serve. A file store is owned
by one process: stop parley serve before using these commands on its file.`,
	}
	cmd.AddCommand(newStateExportCmd(s), newStateImportCmd(s), newStateDeleteCmd(s))
	return cmd
}

// readAll is the history limit of a store opened to read or erase users:
// every entry the store keeps, whatever limit it was written with.
const readAll = math.MaxInt32

func newStateExportCmd(s streams) *cobra.Command {
	o := storeFlags{historyLimit: readAll}
	cmd := &cobra.Command{
		Use:     "export",
		Short:   "Write every user of a store as JSON lines on standard output",
		Example: `  parley state export --store file:.parley/state.db > users.jsonl`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmdContext(cmd)
			st, name, err := o.open(ctx, defaultServeStore)
			if err != nil {
				return err
			}
			defer st.Close()
			p, ok := st.(store.Porter)
			if !ok {
				return fmt.Errorf("the store %s cannot export its users", name)
			}
			w := bufio.NewWriterSize(s.out, 64<<10)
			enc := json.NewEncoder(w)
			n := 0
			err = p.Export(ctx, func(r store.Record) error {
				n++
				return enc.Encode(r)
			})
			if err == nil {
				err = w.Flush()
			}
			if err != nil {
				return fmt.Errorf("exporting from %s: %w", name, err)
			}
			fmt.Fprintf(s.err, "parley state: exported %d user(s) from %s\n", n, name)
			return nil
		},
	}
	o.add(cmd.Flags(), defaultServeStore, false)
	return cmd
}

func newStateImportCmd(s streams) *cobra.Command {
	var o storeFlags
	cmd := &cobra.Command{
		Use:     "import [FILE]",
		Short:   "Store the users of JSON lines (standard input or FILE), versions and histories included",
		Example: `  parley state import --store redis://127.0.0.1:6379/0 < users.jsonl`,
		Args:    cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			in, source := s.in, "standard input"
			if len(args) == 1 {
				f, err := os.Open(args[0])
				if err != nil {
					return fmt.Errorf("importing: %w", err)
				}
				defer f.Close()
				in, source = f, args[0]
			}
			// Every line is checked before anything is stored, so a bad
			// line changes nothing.
			recs, err := readRecords(in, source)
			if err != nil {
				return err
			}
			ctx := cmdContext(cmd)
			st, name, err := o.open(ctx, defaultServeStore)
			if err != nil {
				return err
			}
			defer st.Close()
			p, ok := st.(store.Porter)
			if !ok {
				return fmt.Errorf("the store %s cannot import users", name)
			}
			if n, err := importAll(ctx, p, recs); err != nil {
				return fmt.Errorf("importing into %s: %d of %d user(s) imported: %w", name, n, len(recs), err)
			}
			fmt.Fprintf(s.err, "parley state: imported %d user(s) into %s\n", len(recs), name)
			return nil
		},
	}
	o.add(cmd.Flags(), defaultServeStore, false)
	cmd.Flags().IntVar(&o.historyLimit, "history-limit", store.DefaultHistoryLimit, "turns of history kept per user (older imported turns are dropped; 0: none)")
	return cmd
}

// importWorkers is how many records are imported at once: a store that
// commits concurrent writes together (the file store) then syncs once for
// many users instead of once per user.
const importWorkers = 32

// importAll imports recs (distinct users) with importWorkers at once. It
// stops at the first error and returns it with how many were imported.
func importAll(ctx context.Context, p store.Porter, recs []store.Record) (int, error) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var next, done atomic.Int64
	var wg sync.WaitGroup
	for range min(importWorkers, len(recs)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				i := next.Add(1) - 1
				if i >= int64(len(recs)) {
					return
				}
				if err := p.Import(ctx, recs[i]); err != nil {
					cancel(err)
					return
				}
				done.Add(1)
			}
		}()
	}
	wg.Wait()
	return int(done.Load()), context.Cause(ctx)
}

// readRecords reads and checks JSON lines of store.Record.
func readRecords(in io.Reader, source string) ([]store.Record, error) {
	br := bufio.NewReaderSize(in, 64<<10)
	var recs []store.Record
	seen := map[string]int{}
	for line := 1; ; line++ {
		b, err := br.ReadBytes('\n')
		if len(bytes.TrimSpace(b)) > 0 {
			dec := json.NewDecoder(bytes.NewReader(b))
			dec.DisallowUnknownFields()
			var r store.Record
			if derr := dec.Decode(&r); derr != nil {
				return nil, fmt.Errorf("%s:%d: not a user record: %w (nothing was imported)", source, line, derr)
			}
			if dec.More() {
				return nil, fmt.Errorf("%s:%d: more than one JSON value on the line (nothing was imported)", source, line)
			}
			if r.UserID == "" {
				return nil, fmt.Errorf("%s:%d: user_id is missing (nothing was imported)", source, line)
			}
			if prev, dup := seen[r.UserID]; dup {
				return nil, fmt.Errorf("%s:%d: user %q is already on line %d (nothing was imported)", source, line, r.UserID, prev)
			}
			seen[r.UserID] = line
			recs = append(recs, r)
		}
		if errors.Is(err, io.EOF) {
			return recs, nil
		}
		if err != nil {
			return nil, fmt.Errorf("reading %s: %w", source, err)
		}
	}
}

func newStateDeleteCmd(s streams) *cobra.Command {
	o := storeFlags{historyLimit: readAll}
	cmd := &cobra.Command{
		Use:     "delete USER...",
		Short:   "Erase users: their state and history",
		Example: `  parley state delete --store file:.parley/state.db user-42`,
		Args:    cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmdContext(cmd)
			st, name, err := o.open(ctx, defaultServeStore)
			if err != nil {
				return err
			}
			defer st.Close()
			for _, id := range args {
				if err := st.Delete(ctx, id); err != nil {
					return fmt.Errorf("deleting from %s: %w", name, err)
				}
				fmt.Fprintf(s.out, "deleted %s\n", id)
			}
			return nil
		},
	}
	o.add(cmd.Flags(), defaultServeStore, false)
	return cmd
}

// cmdContext returns the command's context, or a background one.
func cmdContext(cmd *cobra.Command) context.Context {
	if ctx := cmd.Context(); ctx != nil {
		return ctx
	}
	return context.Background()
}
