package syncer

import (
	"strings"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/syncd-dev/syncd/internal/diff"
	"github.com/syncd-dev/syncd/internal/source"
)

// Metrics are the Prometheus series a Syncer updates. A nil *Metrics is
// valid and records nothing, so tests and one-shot runs need not set it up.
type Metrics struct {
	Runs          *prometheus.CounterVec
	Operations    *prometheus.CounterVec
	GuardTrips    prometheus.Counter
	DirectorySize prometheus.Gauge
	Skipped       prometheus.Gauge
	LastSuccess   prometheus.Gauge
	RunDuration   prometheus.Histogram
	// Held counts linked users kept from deprovisioning in the last run,
	// by reason class: skipped (the entry is present but unmappable) or
	// untrusted (the read could not prove absence).
	Held *prometheus.GaugeVec
	// Blocked counts operations not sent in the last run: an email still
	// held by another linked user, or a refusal no retry can fix.
	Blocked prometheus.Gauge
	// Unfixable counts operations Omni refused in a way that needs an
	// admin, as they happen.
	Unfixable prometheus.Counter
	// KeysRefused counts API keys Omni refused (401/403).
	KeysRefused prometheus.Counter
	// TicksSkipped counts schedule ticks that passed while a run was going.
	TicksSkipped prometheus.Counter
	// Reloads counts configuration reloads (SIGHUP) by outcome.
	Reloads *prometheus.CounterVec
	// GroupsInScope, ManagedGroups and Memberships describe group sync
	// after the last run: groups read, groups syncd manages, and the
	// memberships it manages in them.
	GroupsInScope prometheus.Gauge
	ManagedGroups prometheus.Gauge
	Memberships   prometheus.Gauge
}

// NewMetrics registers syncd's run metrics with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		Runs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "syncd_runs_total", Help: "Sync runs by outcome.",
		}, []string{"outcome"}),
		Operations: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "syncd_operations_total", Help: "Operations sent to Omni by kind and outcome.",
		}, []string{"kind", "outcome"}),
		GuardTrips: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "syncd_guard_trips_total", Help: "Runs whose deprovisions a safety guard held back.",
		}),
		DirectorySize: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "syncd_directory_users", Help: "Users in scope in the last directory read.",
		}),
		Skipped: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "syncd_directory_skipped_entries", Help: "Directory entries skipped in the last read.",
		}),
		LastSuccess: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "syncd_last_success_timestamp_seconds", Help: "When the last successful run finished.",
		}),
		RunDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "syncd_run_duration_seconds", Help: "Duration of sync runs.",
			Buckets: prometheus.ExponentialBuckets(0.5, 2, 14),
		}),
	}
	m.Held = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "syncd_held_users", Help: "Linked users held from deprovisioning in the last run, by reason (skipped, guard).",
	}, []string{"reason"})
	m.Blocked = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "syncd_blocked_operations", Help: "Operations not sent in the last run because they wait on another user or on an admin.",
	})
	m.Unfixable = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "syncd_unfixable_operations_total", Help: "Operations Omni refused in a way no retry can fix; see syncd check.",
	})
	m.KeysRefused = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "syncd_api_keys_refused_total", Help: "API keys Omni refused (401/403); each is out of the process until it restarts.",
	})
	m.GroupsInScope = prometheus.NewGauge(prometheus.GaugeOpts{Name: "syncd_directory_groups", Help: "Groups in scope in the last group read."})
	m.ManagedGroups = prometheus.NewGauge(prometheus.GaugeOpts{Name: "syncd_managed_groups", Help: "Omni groups syncd manages."})
	m.Memberships = prometheus.NewGauge(prometheus.GaugeOpts{Name: "syncd_managed_memberships", Help: "Group memberships syncd manages."})
	m.TicksSkipped = prometheus.NewCounter(prometheus.CounterOpts{Name: "syncd_ticks_skipped_total", Help: "Schedule ticks skipped because a run was still going."})
	m.Reloads = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "syncd_config_reloads_total", Help: "Configuration reloads (SIGHUP) by outcome (ok, failed)."}, []string{"outcome"})
	reg.MustRegister(m.Runs, m.Operations, m.GuardTrips, m.DirectorySize, m.Skipped, m.LastSuccess, m.RunDuration,
		m.Held, m.Blocked, m.Unfixable, m.KeysRefused, m.GroupsInScope, m.ManagedGroups, m.Memberships, m.TicksSkipped, m.Reloads)
	return m
}

func (m *Metrics) observeSource(res *source.Result) {
	if m == nil {
		return
	}
	m.DirectorySize.Set(float64(len(res.Users)))
	m.Skipped.Set(float64(len(res.Skipped)))
}

func (m *Metrics) observePlan(p *diff.Plan) {
	if m == nil {
		return
	}
	skipped := 0
	for _, op := range p.Held {
		if strings.HasPrefix(op.Reason, diff.ReasonSkipped) {
			skipped++
		}
	}
	m.Held.WithLabelValues("skipped").Set(float64(skipped))
	m.Held.WithLabelValues("guard").Set(float64(len(p.Held) - skipped))
	m.Blocked.Set(float64(len(p.Blocked)))
}

// observeSkipped counts a run skipped because another replica held the
// lock: it has no report to observe.
func (m *Metrics) observeSkipped() {
	if m == nil {
		return
	}
	m.Runs.WithLabelValues(string(OutcomeSkipped)).Inc()
}

// observeGroups sets the group gauges from the groups in scope and the
// linked groups and their managed memberships after the run's writes.
func (m *Metrics) observeGroups(inScope, managed, memberships int) {
	if m == nil {
		return
	}
	m.GroupsInScope.Set(float64(inScope))
	m.ManagedGroups.Set(float64(managed))
	m.Memberships.Set(float64(memberships))
}

func (m *Metrics) observeKeyRefused() {
	if m == nil {
		return
	}
	m.KeysRefused.Inc()
}

// ObserveReload counts a configuration reload, accepted or refused.
func (m *Metrics) ObserveReload(ok bool) {
	if m == nil {
		return
	}
	outcome := "ok"
	if !ok {
		outcome = "failed"
	}
	m.Reloads.WithLabelValues(outcome).Inc()
}

func (m *Metrics) observeNotStarted() {
	if m == nil {
		return
	}
	m.Runs.WithLabelValues(OutcomeNotStarted).Inc()
}

func (m *Metrics) observeTicksSkipped(n int) {
	if m == nil {
		return
	}
	m.TicksSkipped.Add(float64(n))
}

func (m *Metrics) observeUnfixable() {
	if m == nil {
		return
	}
	m.Unfixable.Inc()
}

func (m *Metrics) observeOp(kind, outcome string) {
	if m == nil {
		return
	}
	m.Operations.WithLabelValues(kind, outcome).Inc()
}

func (m *Metrics) observeRun(rep *Report) {
	if m == nil || rep.DryRun {
		return
	}
	m.Runs.WithLabelValues(string(rep.Outcome)).Inc()
	m.RunDuration.Observe(rep.Duration.Seconds())
	if len(rep.GuardTrips) > 0 {
		m.GuardTrips.Inc()
	}
	if rep.Outcome == OutcomeSuccess {
		m.LastSuccess.Set(float64(rep.StartedAt.Add(rep.Duration).Unix()))
	}
}
