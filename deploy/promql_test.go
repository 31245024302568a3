package deploy_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

// selector is one series selector of a PromQL expression: the metric name
// and the label names it matches on.
type selector struct {
	name   string
	labels []string
}

// promqlKeywords are words that are not metrics, though no '(' may follow
// them: operators, and the aggregations, which may take by (…) first.
var promqlKeywords = []string{"and", "or", "unless", "bool", "offset", "inf", "nan",
	"sum", "min", "max", "avg", "group", "stddev", "stdvar", "count", "count_values", "bottomk", "topk", "quantile"}

// parseSelectors finds the series selectors of a PromQL expression, enough
// of the language for rules and dashboards: it skips strings, ranges,
// Grafana variables, numbers, functions and the label lists of by, without,
// on, ignoring and group_*. A selector without a metric name ({__name__=…})
// is an error: its metric cannot be checked.
func parseSelectors(expr string) ([]selector, error) {
	var out []selector
	s := expr
	i := 0
	skipSpace := func() {
		for i < len(s) && strings.ContainsRune(" \t\r\n", rune(s[i])) {
			i++
		}
	}
	for i < len(s) {
		c := s[i]
		switch {
		case c == '"' || c == '\'' || c == '`':
			j, err := skipString(s, i)
			if err != nil {
				return nil, err
			}
			i = j
		case c == '[':
			j := strings.IndexByte(s[i:], ']')
			if j < 0 {
				return nil, fmt.Errorf("unclosed [ at %d", i)
			}
			i += j + 1
		case c == '{':
			return nil, fmt.Errorf("selector without a metric name at %d", i)
		case c == '$':
			i++
			if i < len(s) && s[i] == '{' {
				j := strings.IndexByte(s[i:], '}')
				if j < 0 {
					return nil, fmt.Errorf("unclosed ${ at %d", i)
				}
				i += j + 1
				break
			}
			for i < len(s) && isIdent(s[i], true) {
				i++
			}
		case c >= '0' && c <= '9' || c == '.':
			for i < len(s) && (isIdent(s[i], true) || s[i] == '.') {
				i++
			}
		case isIdent(c, false):
			start := i
			for i < len(s) && isIdent(s[i], true) {
				i++
			}
			word := s[start:i]
			skipSpace()
			next := byte(0)
			if i < len(s) {
				next = s[i]
			}
			lower := strings.ToLower(word)
			switch {
			case slices.Contains([]string{"by", "without", "on", "ignoring", "group_left", "group_right"}, lower):
				if next == '(' {
					j := strings.IndexByte(s[i:], ')')
					if j < 0 {
						return nil, fmt.Errorf("unclosed %s( at %d", word, i)
					}
					i += j + 1
				}
			case slices.Contains(promqlKeywords, lower):
			case next == '(':
				// A function call: its arguments are read as the loop goes on.
			default:
				sel := selector{name: word}
				if next == '{' {
					labels, j, err := parseMatchers(s, i)
					if err != nil {
						return nil, err
					}
					sel.labels, i = labels, j
				}
				out = append(out, sel)
			}
		default:
			i++
		}
	}
	return out, nil
}

// parseMatchers reads {name op "value", …} from s[i] == '{' and returns the
// label names and the index after '}'.
func parseMatchers(s string, i int) ([]string, int, error) {
	var labels []string
	i++
	for i < len(s) {
		c := s[i]
		switch {
		case c == '}':
			return labels, i + 1, nil
		case c == '"' || c == '\'' || c == '`':
			j, err := skipString(s, i)
			if err != nil {
				return nil, 0, err
			}
			i = j
		case isIdent(c, false):
			start := i
			for i < len(s) && isIdent(s[i], true) {
				i++
			}
			labels = append(labels, s[start:i])
		default:
			i++
		}
	}
	return nil, 0, fmt.Errorf("unclosed { in %q", s)
}

func skipString(s string, i int) (int, error) {
	q := s[i]
	for j := i + 1; j < len(s); j++ {
		switch {
		case s[j] == '\\' && q != '`':
			j++
		case s[j] == q:
			return j + 1, nil
		}
	}
	return 0, fmt.Errorf("unclosed string at %d", i)
}

func isIdent(c byte, notFirst bool) bool {
	return c == '_' || c == ':' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || notFirst && c >= '0' && c <= '9'
}

func TestParseSelectors(t *testing.T) {
	for _, tc := range []struct {
		expr string
		want []selector
	}{
		{`time() - max by (job) (syncd_last_success_timestamp_seconds) > 3 * 15 * 60`,
			[]selector{{name: "syncd_last_success_timestamp_seconds"}}},
		{`sum by (status) (rate(syncd_scim_requests_total{job=~"$job", status=~"401|403"}[$__rate_interval])) or on (job) syncd_api_keys_refused_total`,
			[]selector{{name: "syncd_scim_requests_total", labels: []string{"job", "status"}}, {name: "syncd_api_keys_refused_total"}}},
		{`histogram_quantile(0.95, sum by (le) (rate(syncd_run_duration_seconds_bucket[5m] offset 1h)))`,
			[]selector{{name: "syncd_run_duration_seconds_bucket"}}},
		{`absent(up{job="a}b"}) unless vector(1e3)`,
			[]selector{{name: "up", labels: []string{"job"}}}},
	} {
		got, err := parseSelectors(tc.expr)
		if err != nil {
			t.Errorf("%q: %v", tc.expr, err)
			continue
		}
		if fmt.Sprint(got) != fmt.Sprint(tc.want) {
			t.Errorf("%q: got %v, want %v", tc.expr, got, tc.want)
		}
	}
	for _, bad := range []string{`{__name__="syncd_runs_total"}`, `syncd_runs_total{outcome="x"`, `rate(x[5m`} {
		if _, err := parseSelectors(bad); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}
