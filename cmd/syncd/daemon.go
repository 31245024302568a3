package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/robfig/cron/v3"
	"github.com/rs/zerolog"

	"github.com/syncd-dev/syncd/internal/config"
	"github.com/syncd-dev/syncd/internal/syncer"
)

type daemonArgs struct {
	path   string
	getenv func(string) string
	cfg    *config.Config
	log    zerolog.Logger
	wiring syncer.Wiring
	syncer *syncer.Syncer
	reg    *prometheus.Registry
}

// reloaded is logged when SIGHUP brings a valid configuration.
const reloaded = "configuration reloaded"

// runDaemon serves /healthz, /readyz and /metrics when asked, and runs the
// schedule until ctx is done. SIGHUP re-reads the configuration: a valid
// one takes effect from the next run (schedule included), an invalid one is
// logged with every bad field named and the old one stays; a run in
// progress finishes under the old one.
func runDaemon(ctx context.Context, a daemonArgs) error {
	health := &syncer.Health{}
	if a.cfg.HTTP.Listen != "" {
		staleAfter := a.cfg.HTTP.StaleAfter.D()
		if staleAfter == 0 {
			staleAfter = 3 * interval(a.cfg.Schedule)
		}
		stale := func() error {
			if since := health.FailingSince(); !since.IsZero() && time.Since(since) > staleAfter {
				return fmt.Errorf("runs have failed since %s, longer than http.staleAfter (%s)", since.UTC().Format(time.RFC3339), staleAfter)
			}
			return nil
		}
		stopHTTP, err := serveHTTP(ctx, a.cfg.HTTP.Listen, a.reg, a.wiring.Store, stale, a.log)
		if err != nil {
			return err
		}
		defer stopHTTP()
	}
	updates := make(chan syncer.Update, 1)
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				reload(ctx, a, updates)
			}
		}
	}()
	a.log.Info().Str("version", version).Str("schedule", a.cfg.Schedule).Msg("syncd started")
	return syncer.Serve(ctx, a.syncer, a.cfg.Schedule, syncer.ServeOptions{Jitter: a.cfg.ScheduleJitter.D(), Updates: updates, Health: health})
}

// reload reads the configuration again and hands a syncer built from it to
// the loop, replacing one not yet taken.
func reload(ctx context.Context, a daemonArgs, updates chan syncer.Update) {
	cfg, err := config.LoadContext(ctx, a.path, a.getenv)
	var s *syncer.Syncer
	if err == nil {
		w := a.wiring
		w.Metrics = a.syncer.Metrics
		s, err = syncer.Build(cfg, w)
	}
	if err != nil {
		a.syncer.Metrics.ObserveReload(false)
		a.log.Error().Str("error", err.Error()).Msg("configuration reload refused; the old configuration stays")
		return
	}
	a.syncer.Metrics.ObserveReload(true)
	select {
	case <-updates:
	default:
	}
	updates <- syncer.Update{Syncer: s, Schedule: cfg.Schedule}
	a.log.Info().Str("schedule", cfg.Schedule).Msg(reloaded)
}

// interval is the time between two ticks of the schedule (the next two).
func interval(schedule string) time.Duration {
	sched, err := cron.ParseStandard(schedule)
	if err != nil {
		return time.Hour
	}
	n1 := sched.Next(time.Now())
	return sched.Next(n1).Sub(n1)
}
