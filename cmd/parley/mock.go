package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/parleyhq/parley/diag"
	"github.com/parleyhq/parley/mock"
)

// mockOptions are the flags of parley mock.
type mockOptions struct {
	addr        string
	allowRemote bool
	maxRequests int
	maxHold     time.Duration
}

func newMockCmd(s streams) *cobra.Command {
	o := mockOptions{}
	cmd := &cobra.Command{
		Use:   "mock [FILE|DIR]",
		Short: "Serve mock webhooks declared in CUE or YAML (default directory: mocks)",
		Long: `Serve a local mock webhook service from route declarations in a CUE or YAML
file, or every .cue/.yaml/.yml file under a directory (default: mocks).

Routes answer with static bodies or with attributes computed by expressions
over the request, after an optional delay, and can fail on purpose (timeout,
reset, bad_json, empty, or an HTTP status), always or for the first N requests.
Every request is printed and kept (the last --max-requests) at GET /_requests;
DELETE /_requests clears the list. GET /_routes lists the routes.

It is a development tool: it listens on loopback addresses only unless
--allow-remote is given. Invalid declarations are printed as
file:line:col: code: message and exit with status 1.`,
		Example: `  parley mock mocks/greeter.cue
  parley mock --addr 127.0.0.1:9000 mocks
  curl -s localhost:8081/_requests`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			target := "mocks"
			if len(args) == 1 {
				target = args[0]
			}
			return runMock(cmd.Context(), s, target, o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.addr, "addr", "127.0.0.1:8081", "address to listen on")
	f.BoolVar(&o.allowRemote, "allow-remote", false, "allow listening on a non-loopback address")
	f.IntVar(&o.maxRequests, "max-requests", mock.DefaultMaxRequests, "how many recent requests GET /_requests keeps")
	f.DurationVar(&o.maxHold, "max-hold", mock.DefaultMaxHold, "how long a timeout failure holds a request before answering 504")
	return cmd
}

// checkListenAddr refuses addresses that are not loopback unless allowed.
func checkListenAddr(addr string, allowRemote bool) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("invalid --addr %q: %w", addr, err)
	}
	if allowRemote {
		return nil
	}
	if strings.EqualFold(host, "localhost") {
		return nil
	}
	if ip, err := netip.ParseAddr(host); err == nil && ip.IsLoopback() {
		return nil
	}
	return fmt.Errorf("refusing to listen on %q: parley mock is a development tool and listens on loopback addresses (127.0.0.1, ::1, localhost) unless --allow-remote is given", addr)
}

func runMock(ctx context.Context, s streams, target string, o mockOptions) error {
	if err := checkListenAddr(o.addr, o.allowRemote); err != nil {
		return err
	}
	if o.maxRequests < 1 {
		return fmt.Errorf("--max-requests must be at least 1, got %d", o.maxRequests)
	}
	// A path that cannot be read is a usage error (exit 2), as for the other verbs.
	if _, err := os.Stat(target); err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return fmt.Errorf("%s: %w", target, err)
	}
	cfg, err := mock.LoadPath(target)
	if err != nil {
		var list diag.List
		if errors.As(err, &list) {
			for _, d := range list {
				fmt.Fprintln(s.err, d.String())
			}
			fmt.Fprintf(s.err, "parley mock: %s has %d problem(s)\n", target, len(list))
			return exitError{1}
		}
		return fmt.Errorf("loading mock routes from %s: %w", target, err)
	}
	if ctx == nil {
		ctx = context.Background()
	}
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	ln, err := net.Listen("tcp", o.addr)
	if err != nil {
		return fmt.Errorf("listening on %s: %w", o.addr, err)
	}
	srv := mock.New(cfg, mock.Options{Log: s.out, MaxRequests: o.maxRequests, MaxHold: o.maxHold})
	hs := &http.Server{Handler: srv, ReadHeaderTimeout: 10 * time.Second}

	fmt.Fprintf(s.out, "parley mock: %d route(s) from %s\n", len(cfg.Routes), target)
	for _, r := range cfg.Routes {
		extra := ""
		if r.Delay > 0 {
			extra += " delay=" + r.Delay.String()
		}
		if r.Fail != "" {
			extra += " fail=" + r.Fail
			if r.FailTimes > 0 {
				extra += fmt.Sprintf(" fail_times=%d", r.FailTimes)
			}
		}
		fmt.Fprintf(s.out, "  %-6s %s (%s)%s  %s\n", r.Method, r.Path, r.Protocol, extra, r.Pos)
	}
	fmt.Fprintf(s.out, "parley mock: listening on http://%s (requests at /_requests)\n", ln.Addr())

	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serving mock webhooks: %w", err)
	case <-ctx.Done():
	}
	// Release held requests first, so shutdown does not wait for them.
	srv.Close()
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := hs.Shutdown(sctx); err != nil {
		_ = hs.Close()
		return fmt.Errorf("shutting down the mock server: %w", err)
	}
	fmt.Fprintln(s.out, "parley mock: stopped")
	return nil
}
