package deploy_test

import (
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/syncd-dev/syncd/internal/config"
)

type ruleFile struct {
	Groups []struct {
		Name  string `yaml:"name"`
		Rules []rule `yaml:"rules"`
	} `yaml:"groups"`
}

type rule struct {
	Alert       string            `yaml:"alert"`
	Record      string            `yaml:"record"`
	Expr        string            `yaml:"expr"`
	For         string            `yaml:"for"`
	Labels      map[string]string `yaml:"labels"`
	Annotations map[string]string `yaml:"annotations"`
}

// wantAlerts are the alerts the rules must have, each with a metric its
// expression must use.
var wantAlerts = map[string]string{
	"SyncdNoRecentSuccess":     "syncd_last_success_timestamp_seconds",
	"SyncdGuardTripped":        "syncd_guard_trips_total",
	"SyncdAPIKeyRefused":       "syncd_scim_requests_total",
	"SyncdRateLimited":         "syncd_scim_requests_total",
	"SyncdUnfixableOperations": "syncd_unfixable_operations_total",
	"SyncdConfigReloadFailed":  "syncd_config_reloads_total",
}

// noSuccessThreshold is the no-success alert's "> a * b * c" in seconds.
var noSuccessThreshold = regexp.MustCompile(`>\s*([0-9 *]+)$`)

func TestPrometheusRules(t *testing.T) {
	var rf ruleFile
	dec := yaml.NewDecoder(strings.NewReader(string(repoFile(t, "deploy/prometheus/syncd-rules.yaml"))))
	dec.KnownFields(true)
	if err := dec.Decode(&rf); err != nil {
		t.Fatalf("syncd-rules.yaml: %v", err)
	}
	alerts := map[string]rule{}
	for _, g := range rf.Groups {
		for _, r := range g.Rules {
			where := g.Name + "/" + r.Alert + r.Record
			if r.Alert == "" {
				t.Errorf("%s: only alerts belong here", where)
				continue
			}
			if _, dup := alerts[r.Alert]; dup {
				t.Errorf("%s: alert named twice", where)
			}
			alerts[r.Alert] = r
			if strings.TrimSpace(r.Expr) == "" {
				t.Errorf("%s: no expr", where)
			}
			if _, err := time.ParseDuration(r.For); err != nil {
				t.Errorf("%s: for %q: %v", where, r.For, err)
			}
			if sev := r.Labels["severity"]; !slices.Contains([]string{"critical", "warning", "info"}, sev) {
				t.Errorf("%s: labels.severity %q, want critical, warning or info", where, sev)
			}
			if r.Annotations["summary"] == "" {
				t.Errorf("%s: no annotations.summary", where)
			}
			used := checkExpr(t, where, r.Expr)
			if m, ok := wantAlerts[r.Alert]; ok && !slices.Contains(used, m) {
				t.Errorf("%s: does not use %s", where, m)
			}
		}
	}
	for name := range wantAlerts {
		if _, ok := alerts[name]; !ok {
			t.Errorf("no alert %s", name)
		}
	}

	// No success for three schedule intervals, with the interval of the
	// schedule the deployment uses.
	if r, ok := alerts["SyncdNoRecentSuccess"]; ok {
		m := noSuccessThreshold.FindStringSubmatch(strings.TrimSpace(r.Expr))
		if m == nil {
			t.Fatalf("SyncdNoRecentSuccess: no '> seconds' threshold in %q", r.Expr)
		}
		secs := 1
		for _, f := range strings.Split(m[1], "*") {
			n, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil {
				t.Fatalf("SyncdNoRecentSuccess: threshold %q: %v", m[1], err)
			}
			secs *= n
		}
		schedule := configMapConfig(t).Schedule
		if want := 3 * scheduleInterval(t, schedule); time.Duration(secs)*time.Second != want {
			t.Errorf("SyncdNoRecentSuccess: threshold %ds, want 3 intervals of %q = %s", secs, schedule, want)
		}
		if d := scheduleInterval(t, config.Default().Schedule); d != scheduleInterval(t, schedule) {
			t.Errorf("the ConfigMap's schedule %q and the default schedule differ; the rules say which they assume", schedule)
		}
	}

	promtool := tool(t, "promtool")
	if promtool == "" {
		return
	}
	dir, _ := filepath.Abs(filepath.Join("prometheus"))
	runTool(t, dir, false, promtool, "check", "rules", "syncd-rules.yaml")
	runTool(t, dir, false, promtool, "test", "rules", "syncd-rules.test.yaml")
}
