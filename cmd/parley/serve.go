package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/netip"
	"net/url"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/parleyhq/parley/diag"
	"github.com/parleyhq/parley/engine"
	"github.com/parleyhq/parley/plugins"
	"github.com/parleyhq/parley/plugins/webhook"
	"github.com/parleyhq/parley/server"
)

// Environment variables holding keys, comma-separated; they add to the flags.
const (
	envAPIKeys   = "PARLEY_API_KEYS"
	envAdminKeys = "PARLEY_ADMIN_KEYS"
)

// serveEnvironment returns the plugins of `parley serve`; tests may replace it.
var serveEnvironment = plugins.Global

// serveOptions are the flags of parley serve.
type serveOptions struct {
	dir             string
	addr            string
	apiKeys         []string
	adminKeys       []string
	dev             bool
	watch           bool
	allowEmpty      bool
	poll            time.Duration
	maxBody         int64
	maxText         int
	rate            float64
	burst           int
	traces          int
	sessionTimeout  time.Duration
	shutdownTimeout time.Duration
	logLevel        string
	logFormat       string
	store           storeFlags
	newUserRate     string
	newUserBurst    int
	trustedProxies  []string
	corsOrigins     []string
	webchatDir      string
	webchatSettings string
}

func newServeCmd(s streams) *cobra.Command {
	o := serveOptions{}
	cmd := &cobra.Command{
		Use:   "serve [DIR]",
		Short: "Serve the scenarios of a directory over HTTP (default directory: scenarios)",
		Long: `Serve the scenarios of DIR (default: scenarios) over HTTP:

  POST /incoming/webchat          OpenDialog's webchat request and response JSON
  GET  /api/users/{id}/context    a user's contexts              (admin key)
  POST /api/users/{id}/context    {"key":"first_name","value":"John"} (admin key)
  GET  /api/users/{id}/traces     the user's last turn traces    (admin key)
  GET  /api/users/{id}/history    the turns the store keeps      (admin key)
  DELETE /api/users/{id}          erase the user's state and history (admin key)
  GET  /api/scenarios             version, scenarios, last reload (admin key)
  GET  /healthz, /readyz, /metrics
  GET  /preview                   a page to chat, set attributes and read traces
  GET, POST /webchat-config       the OpenDialog widget's settings (--webchat-settings)
  GET  /user/{id}/history         the user's recent messages, as the widget reads them
  GET  /user/{id}/history/file    the transcript the widget downloads

With --webchat-dir DIR, a built OpenDialog webchat (the public directory of a
Laravel app that published it, or its vendor/webchat directory) is served at
/web-chat-iframe and /vendor/webchat/..., so an OpenDialog widget only needs
its URL changed. --cors-origin lets pages of other origins (the host page of
the embed script) call these endpoints.

API keys (--api-key, or PARLEY_API_KEYS comma-separated) open the webchat
endpoint; admin keys (--admin-key, or PARLEY_ADMIN_KEYS) open every endpoint.
Clients send them as "Authorization: Bearer KEY". Prefer the environment:
flags are visible to other users of the machine. Without any key the server
only listens on loopback addresses (127.0.0.1, ::1, localhost).

The scenarios are reloaded when their files change (--watch=false turns this
off); a change that does not load is rejected and the previous version keeps
serving, as is a change that leaves no active scenario (unless --allow-empty).
SIGHUP rereads the files at once. SIGINT or SIGTERM stop the server after
the requests in flight have finished.

User state lives in the store named by --store (or PARLEY_STORE); the
default, file:.parley/state.db under the working directory, survives restarts
and crashes (every acknowledged turn is on disk); memory: keeps nothing
across restarts.
--retention erases users idle for longer; --new-user-rate limits how many
users one client address may create (behind a reverse proxy, name it with
--trusted-proxy so that X-Forwarded-For is believed).

--dev is development mode: webhook actions may call private and loopback
addresses (a mock on localhost), as PARLEY_DEV=1 does.`,
		Example: `  parley serve scenarios/greeter --dev
  PARLEY_ADMIN_KEYS=$(openssl rand -hex 24) parley serve --addr 0.0.0.0:8080 scenarios`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.dir = "scenarios"
			if len(args) == 1 {
				o.dir = args[0]
			}
			return runServe(cmd.Context(), s, o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.addr, "addr", "127.0.0.1:8080", "address to listen on")
	f.StringArrayVar(&o.apiKeys, "api-key", nil, "key accepted on the webchat endpoint (repeatable; also "+envAPIKeys+")")
	f.StringArrayVar(&o.adminKeys, "admin-key", nil, "key accepted on every endpoint (repeatable; also "+envAdminKeys+")")
	f.BoolVar(&o.dev, "dev", false, "development mode: webhook actions may call private and loopback addresses")
	f.BoolVar(&o.watch, "watch", true, "reload the scenarios when their files change")
	f.BoolVar(&o.allowEmpty, "allow-empty", false, "with --watch, apply a change that leaves no active scenario (rejected otherwise)")
	f.DurationVar(&o.poll, "poll", 0, "with --watch, reread the files at this interval instead of using filesystem notifications")
	f.Int64Var(&o.maxBody, "max-body", server.DefaultMaxBodyBytes, "largest request body, in bytes")
	f.IntVar(&o.maxText, "max-text", server.DefaultMaxTextLength, "longest utterance text, in characters")
	f.Float64Var(&o.rate, "rate", server.DefaultRateLimit, "turns per second a user may take (a negative value: no limit)")
	f.IntVar(&o.burst, "burst", server.DefaultRateBurst, "turns a user may take at once")
	f.IntVar(&o.traces, "traces", server.DefaultTracesPerUser, "turn traces kept per user for the preview (a negative value: none)")
	f.DurationVar(&o.sessionTimeout, "session-timeout", 0, "end a user's conversation after this much silence (0: never)")
	f.DurationVar(&o.shutdownTimeout, "shutdown-timeout", server.DefaultShutdownTimeout, "how long to wait for requests in flight when stopping")
	f.StringVar(&o.logLevel, "log-level", "info", "log level: debug, info, warn or error")
	f.StringVar(&o.logFormat, "log-format", "text", "log format: text or json")
	o.store.add(f, defaultServeStore, true)
	f.StringVar(&o.newUserRate, "new-user-rate", fmt.Sprintf("%d/s", server.DefaultNewUserRate), `new users one client address may create, as N/s, N/m or N/h ("off": no limit)`)
	f.IntVar(&o.newUserBurst, "new-user-burst", server.DefaultNewUserBurst, "new users one client address may create at once")
	f.StringArrayVar(&o.trustedProxies, "trusted-proxy", nil, "address or CIDR of a reverse proxy whose X-Forwarded-For names the client (repeatable)")
	f.StringArrayVar(&o.corsOrigins, "cors-origin", nil, "origin (scheme://host[:port], or *) of a page that may call the webchat endpoints (repeatable)")
	f.StringVar(&o.webchatDir, "webchat-dir", "", "serve a built OpenDialog webchat from DIR at /web-chat-iframe and /vendor/webchat/")
	f.StringVar(&o.webchatSettings, "webchat-settings", "", "JSON file of webchat settings served at /webchat-config, merged over OpenDialog's defaults")
	return cmd
}

// validOrigin reports whether s is a browser origin: scheme://host[:port].
func validOrigin(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != "" &&
		(u.Path == "" || u.Path == "/") && u.RawQuery == "" && u.User == nil && !strings.HasSuffix(s, "/")
}

// envKeys splits a comma-separated key list from the environment.
func envKeys(name string) []string {
	var out []string
	for _, k := range strings.Split(os.Getenv(name), ",") {
		if k = strings.TrimSpace(k); k != "" {
			out = append(out, k)
		}
	}
	return out
}

// isLoopback reports whether the host of a listen address is a loopback address.
func isLoopback(addr string) (bool, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false, fmt.Errorf("invalid --addr %q: %w", addr, err)
	}
	if strings.EqualFold(host, "localhost") {
		return true, nil
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback(), nil
}

// serveLogger returns the structured logger of the server, on standard error.
func serveLogger(s streams, level, format string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("invalid --log-level %q: want debug, info, warn or error", level)
	}
	ho := &slog.HandlerOptions{Level: lv}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(s.err, ho)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(s.err, ho)), nil
	}
	return nil, fmt.Errorf("invalid --log-format %q: want text or json", format)
}

// devEnvironment returns base with the webhook kind in development mode:
// private and loopback URLs allowed, secrets as PARLEY_SECRETS_FILE and the
// environment give them.
func devEnvironment(base *plugins.Environment) (*plugins.Environment, error) {
	env := plugins.NewEmptyEnvironment()
	for _, k := range base.ActionKinds() {
		if k.Name == webhook.Name {
			k.New = func(cfg plugins.ActionConfig) (plugins.Action, error) {
				opts, err := webhook.OptionsFromEnv()
				if err != nil {
					return nil, fmt.Errorf("configuring the webhook action %q: %w", cfg.Name, err)
				}
				opts.AllowPrivate = true
				a, err := webhook.New(opts, cfg)
				if err != nil {
					return nil, err
				}
				return a, nil
			}
		}
		if err := env.RegisterAction(k); err != nil {
			return nil, err
		}
	}
	for _, name := range base.InterpreterNames() {
		in, _ := base.Interpreter(name)
		if err := env.RegisterInterpreter(name, in); err != nil {
			return nil, err
		}
	}
	return env, nil
}

// parseRate parses a rate as N/s, N/m or N/h (a bare N is per second) and
// returns it per second; "off" is -1, no limit.
func parseRate(v string) (float64, error) {
	if v == "off" {
		return -1, nil
	}
	num, unit, ok := strings.Cut(v, "/")
	per := time.Second
	if ok {
		switch unit {
		case "s":
		case "m":
			per = time.Minute
		case "h":
			per = time.Hour
		default:
			return 0, fmt.Errorf("%q: the unit must be s, m or h (like 100/s)", v)
		}
	}
	n, err := strconv.ParseFloat(num, 64)
	if err != nil || n <= 0 || math.IsInf(n, 0) {
		return 0, fmt.Errorf("%q: want a positive rate like 100/s, or off", v)
	}
	return n / per.Seconds(), nil
}

// parseProxies parses --trusted-proxy values: CIDRs or single addresses.
func parseProxies(vals []string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, v := range vals {
		for _, part := range strings.Split(v, ",") {
			part = strings.TrimSpace(part)
			if part == "" {
				continue
			}
			if p, err := netip.ParsePrefix(part); err == nil {
				out = append(out, p.Masked())
				continue
			}
			a, err := netip.ParseAddr(part)
			if err != nil {
				return nil, fmt.Errorf("invalid --trusted-proxy %q: want an address or a CIDR such as 10.0.0.0/8", part)
			}
			out = append(out, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
		}
	}
	return out, nil
}

func runServe(ctx context.Context, s streams, o serveOptions) error {
	if ctx == nil {
		ctx = context.Background()
	}
	o.apiKeys = append(o.apiKeys, envKeys(envAPIKeys)...)
	o.adminKeys = append(o.adminKeys, envKeys(envAdminKeys)...)
	loopback, err := isLoopback(o.addr)
	if err != nil {
		return err
	}
	if !loopback && len(o.apiKeys)+len(o.adminKeys) == 0 {
		return fmt.Errorf("refusing to listen on %s without keys: set --api-key/--admin-key (or %s/%s), or listen on a loopback address such as 127.0.0.1:8080",
			o.addr, envAPIKeys, envAdminKeys)
	}
	if o.poll < 0 {
		return fmt.Errorf("--poll must not be negative, got %s", o.poll)
	}
	if o.maxBody <= 0 || o.maxText <= 0 || o.burst <= 0 || o.rate == 0 {
		return errors.New("--max-body, --max-text and --burst must be positive, and --rate not zero")
	}
	log, err := serveLogger(s, o.logLevel, o.logFormat)
	if err != nil {
		return err
	}
	if err := checkScenarioDir(o.dir); err != nil {
		return err
	}
	// Development mode comes from --dev or from PARLEY_DEV, which the
	// webhook kind reads by itself.
	devFrom := ""
	switch {
	case o.dev:
		devFrom = "--dev"
	case webhook.DevMode():
		devFrom = webhook.EnvDev + "=" + os.Getenv(webhook.EnvDev)
	}
	newUserRate, err := parseRate(o.newUserRate)
	if err != nil {
		return fmt.Errorf("invalid --new-user-rate: %w", err)
	}
	if o.newUserBurst <= 0 {
		return errors.New("--new-user-burst must be positive")
	}
	proxies, err := parseProxies(o.trustedProxies)
	if err != nil {
		return err
	}
	st, storeName, err := o.store.open(ctx, defaultServeStore)
	if err != nil {
		return err
	}
	defer st.Close() // after the engine's Close, deferred below
	log.Info("store opened", slog.String("store", storeName))
	env := serveEnvironment()
	if o.dev {
		if env, err = devEnvironment(env); err != nil {
			return fmt.Errorf("setting up development mode: %w", err)
		}
	}

	eopts := []engine.Option{engine.WithEnvironment(env), engine.WithLogger(log), engine.WithSessionTimeout(o.sessionTimeout), engine.WithStore(st)}
	if o.watch {
		eopts = append(eopts, engine.WithWatch(engine.WatchOptions{Poll: o.poll, AllowEmpty: o.allowEmpty}))
	}
	e, err := engine.Open(o.dir, eopts...)
	if err != nil {
		var list diag.List
		if errors.As(err, &list) {
			for _, d := range list {
				fmt.Fprintln(s.err, d)
			}
			fmt.Fprintf(s.err, "parley serve: %s has %d problem(s)\n", o.dir, len(list))
			return exitError{1}
		}
		return fmt.Errorf("loading %s: %w", o.dir, err)
	}
	defer e.Close()

	sopts := server.Options{
		APIKeys: o.apiKeys, AdminKeys: o.adminKeys,
		MaxBodyBytes: o.maxBody, MaxTextLength: o.maxText,
		RateLimit: o.rate, RateBurst: o.burst, TracesPerUser: o.traces,
		ShutdownTimeout: o.shutdownTimeout, Logger: log, Version: buildVersion(),
		NewUserRate: newUserRate, NewUserBurst: o.newUserBurst, TrustedProxies: proxies,
		CORSOrigins: o.corsOrigins, WebchatDir: o.webchatDir,
	}
	if o.webchatSettings != "" {
		b, err := os.ReadFile(o.webchatSettings)
		if err != nil {
			return fmt.Errorf("reading --webchat-settings: %w", err)
		}
		if err := json.Unmarshal(b, &sopts.WebchatSettings); err != nil {
			return fmt.Errorf("reading --webchat-settings %s: want a JSON object: %w", o.webchatSettings, err)
		}
	}
	for _, origin := range o.corsOrigins {
		if origin != "*" && !validOrigin(origin) {
			return fmt.Errorf("invalid --cors-origin %q: want scheme://host[:port] (no path) or *", origin)
		}
	}
	w := e.Watcher()
	if w != nil {
		sopts.ReloadStatus = w.Last
	}
	srv, err := server.New(e, sopts)
	if err != nil {
		return fmt.Errorf("configuring the server: %w", err)
	}
	if w != nil {
		events, unsubscribe := w.Subscribe() // closed when the engine closes
		defer unsubscribe()
		go func() {
			for ev := range events {
				srv.ObserveReload(ev)
			}
		}()
	}

	ctx, stop := signal.NotifyContext(ctx, syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if w != nil {
		hup := make(chan os.Signal, 1)
		signal.Notify(hup, syscall.SIGHUP)
		defer signal.Stop(hup)
		go func() {
			for {
				select {
				case <-hup:
					log.Info("SIGHUP: rereading the scenarios")
					w.Rescan()
				case <-ctx.Done():
					return
				}
			}
		}()
	}

	ln, err := net.Listen("tcp", o.addr)
	if err != nil {
		return fmt.Errorf("listening on %s: %w", o.addr, err)
	}
	cfg := e.Config()
	base := "http://" + ln.Addr().String()
	fmt.Fprintf(s.out, "parley serve: %d scenario(s) from %s, version %s", len(cfg.Scenarios), o.dir, cfg.Version)
	if w != nil {
		fmt.Fprintf(s.out, ", watching for changes (%s)", w.Mode())
	}
	fmt.Fprintln(s.out)
	fmt.Fprintf(s.out, "parley serve: state in %s\n", storeName)
	if devFrom != "" {
		fmt.Fprintf(s.out, "parley serve: development mode (%s): webhooks may call private and loopback addresses\n", devFrom)
	}
	fmt.Fprintf(s.out, "parley serve: listening on %s (webchat at %s/incoming/webchat)\n", base, base)
	if len(o.adminKeys) > 0 {
		fmt.Fprintf(s.out, "parley serve: preview at %s/preview (append #key=ADMIN_KEY, or enter the key on the page)\n", base)
	} else {
		fmt.Fprintf(s.out, "parley serve: preview at %s/preview\n", base)
	}
	log.Info("serving", slog.String("addr", ln.Addr().String()), slog.String("dir", o.dir),
		slog.Int("api_keys", len(o.apiKeys)), slog.Int("admin_keys", len(o.adminKeys)), slog.Bool("dev", devFrom != ""), slog.Bool("watch", w != nil))
	if err := srv.Serve(ctx, ln); err != nil {
		return err
	}
	fmt.Fprintln(s.out, "parley serve: stopped")
	return nil
}
