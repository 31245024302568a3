package syncer

import (
	"context"
	"fmt"
	"strings"

	"github.com/syncd-dev/syncd/internal/diff"
	"github.com/syncd-dev/syncd/internal/identity"
	"github.com/syncd-dev/syncd/internal/sink"
	"github.com/syncd-dev/syncd/internal/source"
	"github.com/syncd-dev/syncd/internal/state"
)

// GroupSource reads the directory's groups; a Source that is one syncs them.
type GroupSource interface {
	GroupsEnabled() bool
	ReadGroups(ctx context.Context) (*source.GroupResult, error)
}

// GroupSink writes Omni groups; a Sink that is one takes group writes.
type GroupSink interface {
	CreateGroup(ctx context.Context, name string, members []string) (sink.Group, error)
	PatchGroup(ctx context.Context, id string, p sink.GroupPatch) error
	DeleteGroup(ctx context.Context, id string) error
	ListGroups(ctx context.Context, fn func(sink.Group) error) error
}

// readGroups reads the directory's groups when group sync is on. A failed
// group read spoils only the groups: it is an incomplete read, which
// removes no member and deletes no group, and the users sync goes on.
func (r *run) readGroups(ctx context.Context) diff.GroupRead {
	gs, ok := r.source.(GroupSource)
	if !ok || !gs.GroupsEnabled() {
		return diff.GroupRead{}
	}
	res, err := gs.ReadGroups(ctx)
	if err != nil {
		r.log.Error().Err(err).Msg("read directory groups; no member is removed and no group deleted this run")
		return diff.GroupRead{Enabled: true, Incomplete: "group read failed: " + err.Error()}
	}
	r.rep.GroupEntries = res.Entries
	return diff.GroupRead{Enabled: true, Groups: res.Groups, Skipped: res.Skipped, Incomplete: res.Incomplete}
}

// planGroups plans the groups once the users' plan is known: the users it
// deprovisions leave their groups with them.
func (r *run) planGroups(ctx context.Context, read diff.GroupRead, d diff.Decision) (diff.GroupPlan, error) {
	if !read.Enabled {
		return diff.GroupPlan{}, nil
	}
	leaving := map[string]bool{}
	for _, op := range d.Plan.Deprovision {
		leaving[op.User.ID] = true
	}
	in := diff.GroupInput{
		Read:    read,
		Members: diff.NewMembers(d.Users, d.Skipped, r.known),
		Leaving: leaving,
		Now:     r.now,
		// A user read that tripped a guard says nothing about who left.
		UsersUntrusted: len(d.Trips) > 0 || r.rep.Incomplete != "",
	}
	var err error
	in.Known, in.LastGood, err = r.loadKnownGroups(ctx, &in, d)
	if err != nil {
		return diff.GroupPlan{}, err
	}
	r.knownGroups = in.Known
	s := r.opts.Policy
	p := diff.PlanGroups(in, diff.GroupPolicy{
		DeprovisionAfter:     s.DeprovisionAfter,
		DeprovisionAfterRuns: s.DeprovisionAfterRuns,
		MinSourceFraction:    s.MinSourceFraction,
		MaxDeletions:         r.opts.Groups.MaxDeletions,
		MaxRemovalPercent:    r.opts.Groups.MaxRemovalPercent,
		Delete:               r.opts.Groups.Delete,
		AllowMassDeprovision: s.AllowMassDeprovision,
	})
	for _, o := range p.Overrides {
		r.audit(ctx, state.AuditEvent{Action: "guard_override", Outcome: state.AuditAllowed, Detail: o + "; overridden by --allow-mass-deprovision"})
	}
	return p, nil
}

// loadKnownGroups loads the linked groups the run plans for, with the last
// good group read's count (-1 if none): every one, or in an incremental run
// those its changes name (see partialGroupInput, which fills the rest of
// in).
func (r *run) loadKnownGroups(ctx context.Context, in *diff.GroupInput, d diff.Decision) (map[string]identity.LinkedGroup, int, error) {
	if r.fromOmni {
		return r.groupsFromOmni(ctx, in.Read)
	}
	var (
		known map[string]identity.LinkedGroup
		err   error
	)
	if r.gsync != nil && !r.gsync.full {
		known, err = r.partialGroupInput(ctx, in, d)
	} else {
		known, err = r.store.LoadGroups(ctx)
	}
	if err != nil {
		return nil, 0, fmt.Errorf("load groups: %w", err)
	}
	n, ok, err := r.store.LastGoodGroupCount(ctx)
	if err != nil {
		return nil, 0, err
	}
	if !ok {
		n = -1
	}
	return known, n, nil
}

// groupsFromOmni is a dry run without a database: the directory's groups
// are matched to Omni's by name, and the members syncd would manage are
// those Omni already has.
func (r *run) groupsFromOmni(ctx context.Context, read diff.GroupRead) (map[string]identity.LinkedGroup, int, error) {
	byName, err := r.omniGroups(ctx)
	if err != nil {
		return nil, 0, err
	}
	byOmni := map[string]string{}
	for id, k := range r.known {
		byOmni[k.SCIMID] = id
	}
	known := map[string]identity.LinkedGroup{}
	for _, g := range read.Groups {
		og, ok := byName[strings.ToLower(g.Name)]
		if !ok {
			continue
		}
		lg := identity.LinkedGroup{ID: g.ID, SCIMID: og.ID, Name: og.DisplayName, Status: identity.GroupActive, Origin: identity.OriginAdopted}
		for _, m := range og.Members {
			if id, ok := byOmni[m]; ok {
				lg.Members = append(lg.Members, id)
			}
		}
		known[g.ID] = lg
	}
	return known, -1, nil
}

// omniGroups lists Omni's groups once per run, keyed by lower-cased name:
// for adopting a group of the same name, and for a dry run without state.
func (r *run) omniGroups(ctx context.Context) (map[string]sink.Group, error) {
	r.groupsMu.Lock()
	defer r.groupsMu.Unlock()
	if r.omniByName != nil {
		return r.omniByName, nil
	}
	byName := map[string]sink.Group{}
	if lister, ok := r.lister.(GroupSink); ok {
		if err := lister.ListGroups(ctx, func(g sink.Group) error {
			byName[strings.ToLower(g.DisplayName)] = g
			return nil
		}); err != nil {
			return nil, fmt.Errorf("list Omni groups: %w", err)
		}
	}
	r.omniByName = byName
	return byName, nil
}

// forgetOmniGroups makes the next omniGroups list Omni again.
func (r *run) forgetOmniGroups() {
	r.groupsMu.Lock()
	r.omniByName = nil
	r.groupsMu.Unlock()
}
