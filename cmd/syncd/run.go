package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/mattn/go-isatty"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/rs/zerolog"

	"github.com/syncd-dev/syncd/internal/config"
	"github.com/syncd-dev/syncd/internal/state"
	"github.com/syncd-dev/syncd/internal/syncer"
)

// Exit codes.
const (
	exitOK      = 0
	exitFailed  = 1
	exitPending = 2 // dry run: something would change
	exitConfig  = 3
)

// exitError carries an exit code and a hint; a nil err only sets the code.
type exitError struct {
	code int
	err  error
	hint string
}

func (e *exitError) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit %d", e.code)
	}
	return e.err.Error()
}
func (e *exitError) Unwrap() error { return e.err }

const usage = `Usage:
  syncd [flags]            run as a daemon: sync now, then on the configured schedule
  syncd --once [flags]     run one sync and exit
  syncd migrate            apply the database migrations
  syncd check              check the directory, Omni and the database, and say what works
  syncd audit [flags]      read the audit log
  syncd version            print the version
`

// run is the whole program; main only maps its error to an exit code.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()

	cmd, rest, err := splitCommand(args)
	if err != nil {
		return &exitError{code: exitConfig, err: err, hint: "run syncd --help"}
	}
	f, err := parseFlags(cmd, rest, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return &exitError{code: exitConfig, err: err, hint: "run syncd --help"}
	}
	configPath, output := f.config, &f.output
	once, dryRun, allowMass := &f.once, &f.dryRun, &f.allowMass
	since, auditUser, auditRun, auditVerify := &f.since, &f.user, &f.run, &f.verify
	if *output != "text" && *output != "json" {
		return &exitError{code: exitConfig, err: fmt.Errorf("--output: must be text or json, not %q", *output)}
	}

	switch cmd {
	case "version":
		fmt.Fprintf(stdout, "syncd %s\n", version)
		return nil
	case "", "migrate", "check", "audit":
	default:
		return &exitError{code: exitConfig, err: fmt.Errorf("unknown command %q", cmd), hint: "run syncd --help"}
	}

	path := configPath
	if path == "" {
		path = getenv("SYNCD_CONFIG")
	}
	if path == "" {
		path = "/etc/syncd/syncd.yaml"
	}
	cfg, err := config.LoadContext(ctx, path, getenv)
	if err != nil {
		return &exitError{code: exitConfig, err: fmt.Errorf("configuration %s: %w", path, err), hint: "fix the fields named above; see configs/ for examples"}
	}
	log := newLogger(cfg.Log, stderr)

	switch cmd {
	case "migrate":
		return migrate(ctx, cfg, stdout)
	case "check":
		return check(ctx, cfg, stdout, log)
	case "audit":
		return audit(ctx, cfg, stdout, auditFilter{since: *since, user: *auditUser, run: *auditRun, json: *output == "json", verify: *auditVerify})
	}
	if *dryRun {
		*once = true
	}
	return syncCmd(ctx, cfg, log, stdout, syncFlags{once: *once, dryRun: *dryRun, json: *output == "json", allowMass: *allowMass, full: f.full, path: path, getenv: getenv})
}

// stopRequested is logged as soon as the sync command is told to stop.
const stopRequested = "stop requested; letting the request in flight finish"

type syncFlags struct {
	once, dryRun, json, allowMass, full bool
	// path and getenv reload the configuration on SIGHUP.
	path   string
	getenv func(string) string
}

func syncCmd(ctx context.Context, cfg *config.Config, log zerolog.Logger, stdout io.Writer, f syncFlags) error {
	// Say at once that a stop was asked for: the run lets the request in
	// flight finish and records it before it exits, which can take a while,
	// and whoever sent the signal should see that it was heard.
	defer context.AfterFunc(ctx, func() {
		log.Info().Str("cause", context.Cause(ctx).Error()).Msg(stopRequested)
	})()
	dbURL := cfg.State.DatabaseURL.Reveal()
	if dbURL == "" && !f.dryRun {
		return &exitError{code: exitConfig, err: errors.New("state.databaseURL: required unless --dry-run"),
			hint: "set state.databaseURL (or SYNCD_DATABASE_URL through ${...}), or plan against Omni with --dry-run"}
	}
	var reg *prometheus.Registry
	if !f.once {
		reg = prometheus.NewRegistry()
		reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	}
	w := syncer.Wiring{Log: log, DryRun: f.dryRun, AllowMassDeprovision: f.allowMass, FullRead: f.full, UserAgent: "syncd/" + version}
	if cfg.Notify.WebhookURL != "" && !f.dryRun {
		// One notifier for the process: a reload keeps what it last told,
		// and what is queued is sent before syncd exits.
		n, err := syncer.NewNotifier(cfg, log)
		if err != nil {
			return &exitError{code: exitConfig, err: err}
		}
		w.Notifier = n
		defer func() {
			cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
			defer cancel()
			if err := n.Close(cctx); err != nil {
				log.Warn().Err(err).Msg("webhook messages still queued at exit were dropped")
			}
		}()
	}
	if reg != nil {
		w.Registry, w.Trigger = reg, "schedule"
	}
	if dbURL != "" {
		store, err := state.Open(ctx, dbURL)
		if err != nil {
			return fmt.Errorf("open database: %w", err)
		}
		defer store.Close()
		if !f.dryRun {
			if _, err := store.Migrate(ctx); err != nil {
				return fmt.Errorf("migrate database: %w", err)
			}
		}
		w.Store = store
	}
	s, err := syncer.Build(cfg, w)
	if err != nil {
		return &exitError{code: exitConfig, err: err}
	}

	if !f.once {
		return runDaemon(ctx, daemonArgs{path: f.path, getenv: f.getenv, cfg: cfg, log: log, wiring: w, syncer: s, reg: reg})
	}

	rep, runErr := s.Run(ctx)
	var werr error
	if f.json {
		werr = syncer.WriteJSON(stdout, rep)
	} else {
		werr = syncer.WriteText(stdout, rep)
	}
	switch {
	case runErr != nil:
		return &exitError{code: exitFailed, err: runErr, hint: syncer.Hint(runErr)}
	case werr != nil:
		return werr
	case f.dryRun && rep.Plan.Changes():
		return &exitError{code: exitPending}
	}
	return nil
}

// serveHTTP serves /healthz, /readyz and /metrics until the returned stop is
// called.
func serveHTTP(ctx context.Context, addr string, reg *prometheus.Registry, store *state.Store, stale func() error, log zerolog.Logger) (func(), error) {
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok\n") })
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, r *http.Request) {
		if store != nil {
			pctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
			defer cancel()
			if err := store.Ping(pctx); err != nil {
				http.Error(w, "database unreachable", http.StatusServiceUnavailable)
				return
			}
		}
		if stale != nil {
			if err := stale(); err != nil {
				http.Error(w, err.Error(), http.StatusServiceUnavailable)
				return
			}
		}
		io.WriteString(w, "ready\n")
	})
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("http.listen %s: %w", addr, err)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error().Err(err).Msg("http server")
		}
	}()
	log.Info().Str("addr", ln.Addr().String()).Msg("serving /healthz, /readyz, /metrics")
	return func() {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}, nil
}

func newLogger(c config.Log, w io.Writer) zerolog.Logger {
	level, err := zerolog.ParseLevel(c.Level)
	if err != nil || c.Level == "" {
		level = zerolog.InfoLevel
	}
	out := w
	console := c.Format == "console"
	if c.Format == "auto" || c.Format == "" {
		if f, ok := w.(*os.File); ok && isatty.IsTerminal(f.Fd()) {
			console = true
		}
	}
	if console {
		out = zerolog.ConsoleWriter{Out: w, TimeFormat: time.RFC3339}
	}
	return zerolog.New(out).Level(level).With().Timestamp().Logger()
}

func migrate(ctx context.Context, cfg *config.Config, stdout io.Writer) error {
	url := cfg.State.DatabaseURL.Reveal()
	if url == "" {
		return &exitError{code: exitConfig, err: errors.New("state.databaseURL: required for migrate")}
	}
	store, err := state.Open(ctx, url)
	if err != nil {
		return fmt.Errorf("open database: %w", err)
	}
	defer store.Close()
	applied, err := store.Migrate(ctx)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	if len(applied) == 0 {
		fmt.Fprintln(stdout, "database is up to date")
	}
	for _, m := range applied {
		fmt.Fprintf(stdout, "applied %s\n", m)
	}
	return nil
}
