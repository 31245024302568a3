package main

import (
	"context"
	"fmt"

	"github.com/go-ldap/ldap/v3"
)

// incrementalResult is the runs that read only what changed.
type incrementalResult struct {
	NoChangeSeconds      float64 `json:"noChangeSeconds"`
	NoChangeRatio        float64 `json:"noChangeRatioToLdapsearch"`
	NoChangePeakRSSBytes int64   `json:"noChangePeakRSSBytes"`
	NoChangeRequests     int     `json:"noChangeScimRequests"`

	Changed         int     `json:"changed"`
	ChangedRequests int     `json:"changedScimRequests"`
	ChangedSeconds  float64 `json:"changedSeconds"`

	Deleted             int     `json:"deleted"`
	DeprovisionsPlanned int     `json:"deprovisionsPlanned"`
	DeletedSeconds      float64 `json:"deletedSeconds"`
}

// incrementalRuns measures, after the full runs: no-change incremental runs
// (best of runs), one run after 1% of the users changed (one request per
// change, no more), and a dry run after 1% of the others were deleted.
func incrementalRuns(ctx context.Context, w *world, runs int, floor float64, profileDir string) (incrementalResult, error) {
	var inc incrementalResult
	extra := 0
	if profileDir != "" {
		extra = 1
	}
	for i := range runs + extra {
		var a childArgs
		profiled := extra == 1 && i == 0
		if profiled {
			a = a.profiled(profileDir, "incremental-", w.users)
		}
		r, err := w.child(ctx, a)
		if err != nil {
			return inc, fmt.Errorf("incremental run: %w", err)
		}
		if !r.Incremental || r.Changes {
			return inc, fmt.Errorf("a no-change run read incrementally=%t and planned changes=%t", r.Incremental, r.Changes)
		}
		if profiled {
			// A profiled run is slower; it does not count.
			continue
		}
		inc.NoChangeRequests = max(inc.NoChangeRequests, r.Requests)
		inc.NoChangePeakRSSBytes = max(inc.NoChangePeakRSSBytes, r.MaxRSS)
		if s := r.Wall.Seconds(); inc.NoChangeSeconds == 0 || s < inc.NoChangeSeconds {
			inc.NoChangeSeconds = s
		}
	}
	inc.NoChangeRatio = inc.NoChangeSeconds / floor
	progress("%d users: no-change incremental run %.3fs (%.3f× the floor), %d SCIM requests", w.users, inc.NoChangeSeconds, inc.NoChangeRatio, inc.NoChangeRequests)

	conn, err := w.ldap.Conn(ctx)
	if err != nil {
		return inc, err
	}
	defer conn.Close()
	n := max(w.users/100, 1)
	users := w.dir.Users
	changed := 0
	for i := 0; changed < n && i < len(users); i++ {
		u := users[i]
		if u.Mail == "" || u.Disabled || u.Awkward != "" {
			continue
		}
		m := ldap.NewModifyRequest(u.DN, nil)
		m.Replace("displayName", []string{"Changed " + u.UID})
		if err := conn.Modify(m); err != nil {
			return inc, fmt.Errorf("modify %s: %w", u.DN, err)
		}
		changed++
	}
	r, err := w.child(ctx, childArgs{PerMinute: -1})
	if err != nil {
		return inc, fmt.Errorf("incremental run after changes: %w", err)
	}
	inc.Changed, inc.ChangedRequests, inc.ChangedSeconds = changed, r.Requests, r.Wall.Seconds()
	if !r.Incremental || r.Counts.Updated != changed || r.Requests != changed {
		return inc, fmt.Errorf("%d changes: incremental=%t, %d updated, %d requests", changed, r.Incremental, r.Counts.Updated, r.Requests)
	}
	progress("%d users: %d changed, incremental run %.3fs, %d SCIM requests", w.users, changed, inc.ChangedSeconds, r.Requests)

	deleted := 0
	for i := len(users) - 1; deleted < n && i >= 0; i-- {
		u := users[i]
		if u.Mail == "" || u.Disabled || u.Awkward != "" {
			continue
		}
		if err := conn.Del(ldap.NewDelRequest(u.DN, nil)); err != nil {
			return inc, fmt.Errorf("delete %s: %w", u.DN, err)
		}
		deleted++
	}
	r, err = w.child(ctx, childArgs{DryRun: true})
	if err != nil {
		return inc, fmt.Errorf("incremental dry run after deletions: %w", err)
	}
	inc.Deleted, inc.DeprovisionsPlanned, inc.DeletedSeconds = deleted, r.Deprovisions, r.Wall.Seconds()
	if !r.Incremental || r.Deprovisions != deleted {
		return inc, fmt.Errorf("%d deleted: incremental=%t, %d deprovisions planned", deleted, r.Incremental, r.Deprovisions)
	}
	progress("%d users: %d deleted, incremental dry run %.3fs, %d deprovisions planned", w.users, deleted, inc.DeletedSeconds, r.Deprovisions)
	return inc, nil
}
