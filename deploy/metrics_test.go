package deploy_test

import (
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/syncd-dev/syncd/internal/config"
	"github.com/syncd-dev/syncd/internal/syncer"
)

// metric is one series family syncd exports.
type metric struct {
	labels    []string
	histogram bool
	// pending names the change that adds a metric syncd does not export
	// yet; the rules may refer to it ahead of that change.
	pending string
}

// syncdMetrics are the metrics syncd exports: the one list the rules and the
// dashboard are checked against, and itself checked against what the syncer
// registers (TestMetricListMatchesSyncer).
var syncdMetrics = map[string]metric{
	"syncd_runs_total":                     {labels: []string{"outcome"}},
	"syncd_operations_total":               {labels: []string{"kind", "outcome"}},
	"syncd_guard_trips_total":              {},
	"syncd_directory_users":                {},
	"syncd_directory_skipped_entries":      {},
	"syncd_last_success_timestamp_seconds": {},
	"syncd_run_duration_seconds":           {histogram: true},
	"syncd_held_users":                     {labels: []string{"reason"}},
	"syncd_blocked_operations":             {},
	"syncd_unfixable_operations_total":     {},
	"syncd_api_keys_refused_total":         {},
	"syncd_directory_groups":               {},
	"syncd_managed_groups":                 {},
	"syncd_managed_memberships":            {},
	"syncd_scim_requests_total":            {labels: []string{"method", "status"}},
	"syncd_scim_request_duration_seconds":  {labels: []string{"method"}, histogram: true},
	"syncd_config_reloads_total":           {labels: []string{"outcome"}},
	"syncd_ticks_skipped_total":            {},
}

// targetLabels are the labels Prometheus adds to every series it scrapes.
var targetLabels = []string{"job", "instance", "namespace", "pod"}

// lookupMetric finds the family of a series name, a histogram's _bucket,
// _sum and _count included, and the labels a selector on it may match.
func lookupMetric(name string) (labels []string, ok bool) {
	if m, ok := syncdMetrics[name]; ok {
		return append(slices.Clone(m.labels), targetLabels...), true
	}
	for _, suffix := range []string{"_bucket", "_sum", "_count"} {
		base, found := strings.CutSuffix(name, suffix)
		if m, ok := syncdMetrics[base]; found && ok && m.histogram {
			labels := append(slices.Clone(m.labels), targetLabels...)
			if suffix == "_bucket" {
				labels = append(labels, "le")
			}
			return labels, true
		}
	}
	return nil, false
}

// checkExpr fails t for every series in a PromQL expression that syncd does
// not export, and every label matched on it that the series does not have.
// It returns the metric families used.
func checkExpr(t *testing.T, where, expr string) []string {
	t.Helper()
	sels, err := parseSelectors(expr)
	if err != nil {
		t.Errorf("%s: %v in %q", where, err, expr)
		return nil
	}
	if len(sels) == 0 {
		t.Errorf("%s: no metric in %q", where, expr)
	}
	var used []string
	for _, s := range sels {
		labels, ok := lookupMetric(s.name)
		if !ok {
			t.Errorf("%s: %s is not a metric syncd exports (expr %q)", where, s.name, expr)
			continue
		}
		used = append(used, familyOf(s.name))
		for _, l := range s.labels {
			if !slices.Contains(labels, l) {
				t.Errorf("%s: %s has no label %q (expr %q)", where, s.name, l, expr)
			}
		}
	}
	return used
}

// familyOf strips a histogram suffix.
func familyOf(name string) string {
	if _, ok := syncdMetrics[name]; ok {
		return name
	}
	for _, suffix := range []string{"_bucket", "_sum", "_count"} {
		if base, ok := strings.CutSuffix(name, suffix); ok {
			return base
		}
	}
	return name
}

// descCapture is a Registerer that keeps the names and labels of what is
// registered with it.
type descCapture struct{ got map[string][]string }

var (
	descName   = regexp.MustCompile(`fqName: "([^"]+)"`)
	descLabels = regexp.MustCompile(`variableLabels: \{([^}]*)\}`)
)

func (c *descCapture) Register(col prometheus.Collector) error {
	ch := make(chan *prometheus.Desc)
	go func() { col.Describe(ch); close(ch) }()
	for d := range ch {
		s := d.String()
		m := descName.FindStringSubmatch(s)
		if m == nil {
			continue
		}
		var labels []string
		if l := descLabels.FindStringSubmatch(s); l != nil && l[1] != "" {
			for _, f := range strings.Split(l[1], ",") {
				labels = append(labels, strings.TrimSpace(f))
			}
		}
		slices.Sort(labels)
		c.got[m[1]] = labels
	}
	return nil
}

func (c *descCapture) MustRegister(cols ...prometheus.Collector) {
	for _, col := range cols {
		_ = c.Register(col)
	}
}

func (c *descCapture) Unregister(prometheus.Collector) bool { return true }

// TestMetricListMatchesSyncer keeps syncdMetrics in line with the metrics
// the syncer and its SCIM client register, so that a renamed metric breaks
// this test rather than an alert.
func TestMetricListMatchesSyncer(t *testing.T) {
	c := &descCapture{got: map[string][]string{}}
	syncer.NewMetrics(c)
	cfg := config.Default()
	cfg.SCIM.URL = "https://omni.example.com/api/scim/v2"
	cfg.SCIM.Token = "placeholder"
	if _, err := syncer.NewSink(&cfg, syncer.Wiring{Registry: c, Log: zerolog.Nop()}); err != nil {
		t.Fatalf("NewSink: %v", err)
	}
	if len(c.got) == 0 {
		t.Fatal("captured no metric from the syncer")
	}
	for name, labels := range c.got {
		m, ok := syncdMetrics[name]
		switch {
		case !ok:
			t.Errorf("the syncer registers %s: add it to syncdMetrics", name)
		case m.pending != "":
			t.Logf("%s is now registered: drop its pending note (%s)", name, m.pending)
		}
		if ok {
			want := slices.Sorted(slices.Values(m.labels))
			if !slices.Equal(labels, want) {
				t.Errorf("%s: labels %v, syncdMetrics says %v", name, labels, want)
			}
		}
	}
	for name, m := range syncdMetrics {
		if _, ok := c.got[name]; !ok && m.pending == "" {
			t.Errorf("syncdMetrics lists %s, which the syncer does not register", name)
		}
	}
}
