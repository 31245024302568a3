package deploy_test

import (
	"encoding/json"
	"regexp"
	"testing"
)

type dashPanel struct {
	ID         int    `json:"id"`
	Title      string `json:"title"`
	Type       string `json:"type"`
	Datasource *struct {
		Type string `json:"type"`
		UID  string `json:"uid"`
	} `json:"datasource"`
	Targets []struct {
		RefID string `json:"refId"`
		Expr  string `json:"expr"`
	} `json:"targets"`
	GridPos *struct{ X, Y, W, H int } `json:"gridPos"`
	Panels  []dashPanel               `json:"panels"` // a row's panels
}

// dashboardMetrics are the metrics the dashboard must show.
var dashboardMetrics = []string{
	"syncd_runs_total", "syncd_operations_total", "syncd_scim_requests_total",
	"syncd_last_success_timestamp_seconds", "syncd_directory_users", "syncd_directory_groups",
	"syncd_held_users", "syncd_blocked_operations",
}

// labelValues is a Grafana variable query over one metric.
var labelValues = regexp.MustCompile(`^label_values\((\w+),\s*\w+\)$`)

func TestGrafanaDashboard(t *testing.T) {
	var d struct {
		UID        string      `json:"uid"`
		Title      string      `json:"title"`
		Panels     []dashPanel `json:"panels"`
		Templating struct {
			List []struct {
				Name  string `json:"name"`
				Type  string `json:"type"`
				Query string `json:"query"`
			} `json:"list"`
		} `json:"templating"`
	}
	if err := json.Unmarshal(repoFile(t, "deploy/grafana/syncd-dashboard.json"), &d); err != nil {
		t.Fatalf("syncd-dashboard.json: %v", err)
	}
	if d.UID == "" || d.Title == "" {
		t.Error("dashboard without uid or title")
	}
	var hasDatasource bool
	for _, v := range d.Templating.List {
		switch v.Type {
		case "datasource":
			hasDatasource = v.Name == "datasource" && v.Query == "prometheus"
		case "query":
			m := labelValues.FindStringSubmatch(v.Query)
			if m == nil {
				t.Errorf("variable %s: query %q, want label_values(metric, label)", v.Name, v.Query)
			} else if _, ok := lookupMetric(m[1]); !ok {
				t.Errorf("variable %s: %s is not a metric syncd exports", v.Name, m[1])
			}
		}
	}
	if !hasDatasource {
		t.Error("no Prometheus datasource variable named datasource")
	}

	used := map[string]bool{}
	ids := map[int]bool{}
	var walk func([]dashPanel)
	walk = func(ps []dashPanel) {
		for _, p := range ps {
			where := p.Title
			if ids[p.ID] {
				t.Errorf("panel %q: id %d used twice", where, p.ID)
			}
			ids[p.ID] = true
			if p.GridPos == nil {
				t.Errorf("panel %q: no gridPos", where)
			}
			if p.Type == "row" || p.Type == "text" {
				walk(p.Panels)
				continue
			}
			if p.Datasource == nil || p.Datasource.UID != "${datasource}" {
				t.Errorf("panel %q: datasource is not the ${datasource} variable", where)
			}
			if len(p.Targets) == 0 {
				t.Errorf("panel %q: no query", where)
			}
			for _, tg := range p.Targets {
				for _, m := range checkExpr(t, where+"/"+tg.RefID, tg.Expr) {
					used[m] = true
				}
			}
		}
	}
	walk(d.Panels)
	for _, m := range dashboardMetrics {
		if !used[m] {
			t.Errorf("no panel shows %s", m)
		}
	}
}
