package main

import (
	"context"
	"fmt"
	"slices"

	"github.com/go-ldap/ldap/v3"

	"github.com/syncd-dev/syncd/internal/testsupport/dirgen"
)

// groupSize is the users per directory group the worlds are made with.
const groupSize = 50

// groupsResult is the runs with group sync on, after the users' rows.
type groupsResult struct {
	Groups int `json:"groups"`

	ProvisionGroupOps int     `json:"provisionGroupOps"`
	ProvisionSeconds  float64 `json:"provisionSeconds"`

	FullSeconds      float64 `json:"fullNoChangeSeconds"`
	FullPeakRSSBytes int64   `json:"fullNoChangePeakRSSBytes"`
	FullRequests     int     `json:"fullNoChangeScimRequests"`

	NoChangeSeconds      float64 `json:"noChangeSeconds"`
	NoChangeRatio        float64 `json:"noChangeRatioToLdapsearch"`
	NoChangePeakRSSBytes int64   `json:"noChangePeakRSSBytes"`
	NoChangeRequests     int     `json:"noChangeScimRequests"`

	Changed         int     `json:"changedGroups"`
	ChangedRequests int     `json:"changedScimRequests"`
	ChangedSeconds  float64 `json:"changedSeconds"`
}

// groupRuns turns group sync on: a run that creates every group, no-change
// runs reading users and groups in full and reading only their changes
// (best of runs), then one run after a member was added to 1% of the groups
// (one request per group, no more).
func groupRuns(ctx context.Context, w *world, runs int, floor float64, profileDir string) (groupsResult, error) {
	gr := groupsResult{Groups: len(w.dir.Groups)}
	p, err := w.child(ctx, childArgs{Config: w.groupsCfgPath, PerMinute: -1})
	if err != nil {
		return gr, fmt.Errorf("group provisioning: %w", err)
	}
	if p.Counts.GroupOps < gr.Groups || p.Counts.Failed != 0 {
		return gr, fmt.Errorf("group provisioning: %d group writes (%d failed) for %d groups", p.Counts.GroupOps, p.Counts.Failed, gr.Groups)
	}
	gr.ProvisionGroupOps, gr.ProvisionSeconds = p.Counts.GroupOps, p.Wall.Seconds()
	progress("%d users: %d groups created in %.1fs", w.users, gr.Groups, gr.ProvisionSeconds)

	for _, full := range []bool{true, false} {
		extra := 0
		if profileDir != "" && full {
			extra = 1
		}
		for i := range runs + extra {
			a := childArgs{Config: w.groupsCfgPath, Full: full}
			if extra == 1 && i == 0 {
				a = a.profiled(profileDir, "groups-", w.users)
			}
			r, err := w.child(ctx, a)
			if err != nil {
				return gr, fmt.Errorf("no-change run with groups: %w", err)
			}
			if r.Changes || r.GroupChanges || r.Incremental == full || r.GroupsIncremental == full {
				return gr, fmt.Errorf("no-change run with groups (full %t): incremental %t, groups %t, changes %t/%t",
					full, r.Incremental, r.GroupsIncremental, r.Changes, r.GroupChanges)
			}
			if a.CPUProfile != "" {
				// A profiled run is slower; it does not count.
				continue
			}
			secs, rss, reqs := &gr.FullSeconds, &gr.FullPeakRSSBytes, &gr.FullRequests
			if !full {
				secs, rss, reqs = &gr.NoChangeSeconds, &gr.NoChangePeakRSSBytes, &gr.NoChangeRequests
			}
			*reqs, *rss = max(*reqs, r.Requests), max(*rss, r.MaxRSS)
			if s := r.Wall.Seconds(); *secs == 0 || s < *secs {
				*secs = s
			}
		}
	}
	gr.NoChangeRatio = gr.NoChangeSeconds / floor
	progress("%d users, %d groups: no-change run %.3fs in full, %.3fs incremental (%.3f× the floor), %d SCIM requests",
		w.users, gr.Groups, gr.FullSeconds, gr.NoChangeSeconds, gr.NoChangeRatio, gr.NoChangeRequests)

	conn, err := w.ldap.Conn(ctx)
	if err != nil {
		return gr, err
	}
	defer conn.Close()
	// Groups no other group holds (see dirgen: group j holds j-1 when
	// j%3 == 2, and the first two hold each other), so that each change
	// is one group's.
	n := max(gr.Groups/100, 1)
	mid := w.dir.Users[len(w.dir.Users)/2:]
	for j := 3; gr.Changed < n && j < len(w.dir.Groups); j += 3 {
		g := w.dir.Groups[j]
		i := slices.IndexFunc(mid, func(u dirgen.User) bool {
			return u.Mail != "" && !u.Disabled && u.Awkward == "" && !slices.Contains(g.Members, u.DN)
		})
		if i < 0 {
			continue
		}
		m := ldap.NewModifyRequest(g.DN, nil)
		m.Add("member", []string{mid[i].DN})
		if err := conn.Modify(m); err != nil {
			return gr, fmt.Errorf("modify %s: %w", g.DN, err)
		}
		gr.Changed++
	}
	r, err := w.child(ctx, childArgs{Config: w.groupsCfgPath, PerMinute: -1})
	if err != nil {
		return gr, fmt.Errorf("run after group changes: %w", err)
	}
	gr.ChangedRequests, gr.ChangedSeconds = r.Requests, r.Wall.Seconds()
	if !r.GroupsIncremental || r.Requests != gr.Changed || r.Counts.GroupOps != gr.Changed {
		return gr, fmt.Errorf("%d groups changed: groups incremental %t, %d group writes, %d requests", gr.Changed, r.GroupsIncremental, r.Counts.GroupOps, r.Requests)
	}
	progress("%d users: %d groups changed, incremental run %.3fs, %d SCIM requests", w.users, gr.Changed, gr.ChangedSeconds, r.Requests)
	return gr, nil
}
