package syncer

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/syncd-dev/syncd/internal/config"
	"github.com/syncd-dev/syncd/internal/diff"
	"github.com/syncd-dev/syncd/internal/notify"
	"github.com/syncd-dev/syncd/internal/sink"
	"github.com/syncd-dev/syncd/internal/source"
	"github.com/syncd-dev/syncd/internal/state"
)

// Wiring is what Build needs beside the configuration.
type Wiring struct {
	Log zerolog.Logger
	// Registry, when set, receives the run and SCIM request metrics.
	Registry prometheus.Registerer
	// Metrics, when set, are the run metrics to reuse (a reload builds a
	// new syncer over the same series).
	Metrics *Metrics
	// Store is the state database; nil only for a dry run, which then plans
	// against a listing of Omni users.
	Store *state.Store
	// DryRun sends nothing and writes nothing.
	DryRun bool
	// AllowMassDeprovision lets the runs go over the deprovision caps.
	AllowMassDeprovision bool
	// Trigger is recorded with each run: "once" or "schedule".
	Trigger string
	// UserAgent is sent with every SCIM request.
	UserAgent string
	// RequestsPerMinute, when not zero, replaces scim.requestsPerMinute
	// (negative: no limit), for benchmarks against a local stand-in.
	RequestsPerMinute int
	// Sleep replaces the SCIM client's waits, for tests that retry at once.
	Sleep func(ctx context.Context, d time.Duration) error
	// OnKeyRefused is told when Omni refuses one of the API keys.
	OnKeyRefused func(position int, err error)
	// FullRead reads the directory in full this run (--full).
	FullRead bool
	// OnRun, when set, is told of every run; Build chains the notifier
	// after it.
	OnRun func(rep *Report, err error)
	// Notifier, when set, tells of the runs instead of one Build would
	// start from notify.webhookURL, so that the caller can Close it (and
	// flush what is queued) on exit. A notifier Build starts lives as long
	// as the process.
	Notifier *notify.Notifier
}

// Build wires a ready Syncer from the configuration: the directory source,
// the SCIM client with its metrics, the state store and the run's policy.
// cmd/syncd, the tests and the benchmarks all build their syncers here, so
// that none of them can drift from what production runs.
func Build(cfg *config.Config, w Wiring) (*Syncer, error) {
	src, err := source.New(cfg.LDAP.Source(), w.Log)
	if err != nil {
		return nil, fmt.Errorf("ldap: %w", err)
	}
	// The client tells the syncer of refused keys; the syncer exists first.
	s := &Syncer{Log: w.Log}
	w.OnKeyRefused = s.keyRefused
	client, err := NewSink(cfg, w)
	if err != nil {
		return nil, fmt.Errorf("scim: %w", err)
	}
	metrics := w.Metrics
	if metrics == nil && w.Registry != nil {
		metrics = NewMetrics(w.Registry)
	}
	trigger := w.Trigger
	if trigger == "" {
		trigger = "once"
	}
	s.Source, s.Sink, s.Lister, s.Log, s.Metrics = src, client, client, w.Log, metrics
	s.Options = Options{
		Deprovision:   cfg.SCIM.Deprovision,
		Policy:        PolicyFrom(cfg, w.AllowMassDeprovision),
		DryRun:        w.DryRun,
		Trigger:       trigger,
		OpTimeout:     cfg.SCIM.MaxElapsed.D() + cfg.SCIM.Timeout.D(),
		FullRead:      w.FullRead,
		FullReadEvery: fullReadEvery(cfg),
		Groups: GroupOptions{
			Delete:            cfg.SCIM.GroupDeprovision != "none",
			MaxDeletions:      cfg.Safety.MaxGroupDeletionsPerRun,
			MaxRemovalPercent: cfg.Safety.MaxMemberRemovalPercent,
		},
	}
	s.OnRun = w.OnRun
	n := w.Notifier
	if n == nil && cfg.Notify.WebhookURL != "" {
		if n, err = NewNotifier(cfg, w.Log); err != nil {
			return nil, err
		}
	}
	if n != nil {
		s.OnRun = chainOnRun(s.OnRun, func(rep *Report, err error) { n.Observe(NotifyRun(rep, err)) })
	}
	if w.Store != nil {
		// Only a real store: a nil *state.Store would make a non-nil Store.
		s.Store = w.Store
	}
	return s, nil
}

// NewNotifier starts the notifier of notify.webhookURL, which must be set.
// It is given every secret of the configuration to scrub from its messages.
func NewNotifier(cfg *config.Config, log zerolog.Logger) (*notify.Notifier, error) {
	n, err := notify.New(notify.Config{
		URL:     cfg.Notify.WebhookURL.Reveal(),
		Secrets: cfg.SecretValues(),
		Timeout: cfg.Notify.Timeout.D(),
		Log:     log.With().Str("component", "notify").Logger(),
	})
	if err != nil {
		return nil, fmt.Errorf("notify: %w", err)
	}
	return n, nil
}

// NotifyRun is what the notifier needs to know of a run: a refused key
// (errors.Is sink.ErrUnauthorized, or a key taken out during the run), the
// guard trips, whether it failed. A run skipped for the lock, or
// interrupted, tells nothing either way.
func NotifyRun(rep *Report, err error) notify.Run {
	r := notify.Run{
		RunID:        rep.RunID,
		DryRun:       rep.DryRun,
		Outcome:      string(rep.Outcome),
		Counts:       rep.Counts,
		GuardTrips:   rep.GuardTrips,
		Unauthorized: errors.Is(err, sink.ErrUnauthorized),
		Failed:       err != nil,
		Inconclusive: errors.Is(err, ErrLocked) || rep.Outcome == OutcomeSkipped || rep.Outcome == OutcomeInterrupted,
		Error:        rep.Error,
	}
	for _, k := range rep.KeysRefused {
		r.KeysRefused = append(r.KeysRefused, k.Position)
	}
	if r.Error == "" && err != nil {
		r.Error = err.Error()
	}
	return r
}

// chainOnRun calls first (when set), then next.
func chainOnRun(first, next func(*Report, error)) func(*Report, error) {
	if first == nil {
		return next
	}
	return func(rep *Report, err error) {
		first(rep, err)
		next(rep, err)
	}
}

// PolicyFrom translates the safety settings and the attribute mapping into
// the run's policy.
func PolicyFrom(cfg *config.Config, allowMass bool) diff.Policy {
	s := cfg.Safety
	owned := make([]string, 0, len(cfg.LDAP.OmniAttributes))
	for k := range cfg.LDAP.OmniAttributes {
		owned = append(owned, k)
	}
	slices.Sort(owned)
	protected := make([]string, 0, len(s.ProtectedUsers))
	for _, u := range s.ProtectedUsers {
		protected = append(protected, strings.ToLower(strings.TrimSpace(u)))
	}
	return diff.Policy{
		Protected:             protected,
		OwnedAttributes:       owned,
		DeprovisionAfter:      s.DeprovisionAfter.D(),
		DeprovisionAfterRuns:  s.DeprovisionAfterRuns,
		MinSourceFraction:     s.MinSourceFraction,
		CanaryDNs:             s.CanaryDNs,
		MaxDeprovisionsPerRun: s.MaxDeprovisionsPerRun,
		MaxDeprovisionPercent: s.MaxDeprovisionPercent,
		AllowMassDeprovision:  allowMass,
	}
}

// NewSink builds the SCIM client from the configuration, counting its
// requests in w.Registry when that is set.
func NewSink(cfg *config.Config, w Wiring) (*sink.Client, error) {
	keys := cfg.SCIM.Keys()
	if len(keys) == 0 {
		return nil, errors.New("no API key (scim.token or scim.tokens)")
	}
	sc := sink.Config{
		BaseURL:           cfg.SCIM.URL,
		Token:             keys[0],
		Tokens:            keys[1:],
		OnKeyRefused:      w.OnKeyRefused,
		UsersPath:         cfg.SCIM.UsersPath,
		GroupsPath:        cfg.SCIM.GroupsPath,
		RequestsPerMinute: cfg.SCIM.RequestsPerMinute,
		Timeout:           cfg.SCIM.Timeout.D(),
		MaxAttempts:       cfg.SCIM.MaxAttempts,
		MaxElapsed:        cfg.SCIM.MaxElapsed.D(),
		RootCAFile:        cfg.SCIM.RootCAFile,
		Logger:            w.Log.With().Str("component", "scim").Logger(),
		UserAgent:         w.UserAgent,
		Sleep:             w.Sleep,
	}
	if w.RequestsPerMinute != 0 {
		sc.RequestsPerMinute = w.RequestsPerMinute
	}
	if w.Registry != nil {
		requests := prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "syncd_scim_requests_total", Help: "SCIM requests by method and HTTP status (0: network error).",
		}, []string{"method", "status"})
		latency := prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "syncd_scim_request_duration_seconds", Help: "SCIM request latency.",
		}, []string{"method"})
		requests, latency = register(w.Registry, requests), register(w.Registry, latency)
		sc.Observe = func(method string, status int, d time.Duration) {
			requests.WithLabelValues(method, fmt.Sprint(status)).Inc()
			latency.WithLabelValues(method).Observe(d.Seconds())
		}
	}
	return sink.New(sc)
}

// fullReadEvery is ldap.fullReadEvery, or its default.
func fullReadEvery(cfg *config.Config) time.Duration {
	if d := cfg.LDAP.FullReadEvery.D(); d > 0 {
		return d
	}
	return source.DefaultFullReadEvery
}

// register registers c with reg, or returns the collector already
// registered in its place: a reloaded configuration builds a new client
// over the same series.
func register[T prometheus.Collector](reg prometheus.Registerer, c T) T {
	err := reg.Register(c)
	if err == nil {
		return c
	}
	var are prometheus.AlreadyRegisteredError
	if errors.As(err, &are) {
		if existing, ok := are.ExistingCollector.(T); ok {
			return existing
		}
	}
	panic(err)
}

// DefaultGCPercent is the garbage collector's target (GOGC) syncd runs with
// unless GOGC is set: a full run holds the directory's users twice (as read
// and as stored) until it has planned, and the runtime's default of 100 lets
// the heap grow to twice that before collecting. 75 keeps a full run's peak
// lower for a few percent more CPU, as Prometheus does for the same reason.
const DefaultGCPercent = 75

// SetDefaultGC applies DefaultGCPercent when the environment has no GOGC.
// The binary calls it first thing, and so does the benchmark's child, so
// that both measure what runs.
func SetDefaultGC(getenv func(string) string) {
	if getenv("GOGC") == "" {
		debug.SetGCPercent(DefaultGCPercent)
	}
}
