package syncer

import (
	"github.com/prometheus/client_golang/prometheus"

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
	reg.MustRegister(m.Runs, m.Operations, m.GuardTrips, m.DirectorySize, m.Skipped, m.LastSuccess, m.RunDuration)
	return m
}

func (m *Metrics) observeSource(res *source.Result) {
	if m == nil {
		return
	}
	m.DirectorySize.Set(float64(len(res.Users)))
	m.Skipped.Set(float64(len(res.Skipped)))
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
	m.Runs.WithLabelValues(rep.Outcome).Inc()
	m.RunDuration.Observe(rep.Duration.Seconds())
	if len(rep.GuardTrips) > 0 {
		m.GuardTrips.Inc()
	}
	if rep.Outcome == OutcomeSuccess {
		m.LastSuccess.Set(float64(rep.StartedAt.Add(rep.Duration).Unix()))
	}
}
