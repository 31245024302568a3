package syncer

import (
	"context"
	"errors"
	"fmt"
	"slices"
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

// applyGroup carries out one planned group operation: journal, send,
// record, as for users.
func (r *run) applyGroup(ctx context.Context, op diff.GroupOp) error {
	gs, ok := r.sink.(GroupSink)
	if !ok {
		return errors.New("the SCIM client cannot write groups")
	}
	kind := map[diff.Kind]state.OpKind{diff.Create: state.OpGroupCreate, diff.Update: state.OpGroupUpdate, diff.Deprovision: state.OpGroupDelete}[op.Kind]
	if op.Kind == diff.Create {
		// Known before the journal entry, so that a crash mid-adoption is
		// settled as an adoption, never as a group syncd created.
		if _, ok := r.adoptable(ctx, op.Group); ok {
			kind = state.OpGroupAdopt
		}
	}
	jop := state.Op{RunID: r.rep.RunID, Kind: kind, LDAPID: op.Group.ID, UserName: op.Group.Name}
	if op.Known != nil {
		jop.SCIMID = op.Known.SCIMID
	}
	if err := r.lock.Alive(context.WithoutCancel(ctx)); err != nil {
		return fmt.Errorf("before %s %s: %w", kind, op.Group.Name, err)
	}
	jop, err := r.store.BeginOp(context.WithoutCancel(ctx), jop)
	if err != nil {
		return fmt.Errorf("journal %s %s: %w", kind, op.Group.Name, err)
	}
	octx, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.opTimeout())
	defer cancel()
	octx = sink.WithStop(octx, ctx.Done())
	var out groupOutcome
	switch op.Kind {
	case diff.Create:
		out = r.createGroup(octx, gs, op)
	case diff.Update:
		out = r.updateGroup(octx, gs, op)
	case diff.Deprovision:
		out = r.deleteGroup(octx, gs, op)
	}
	if out.action == "" {
		out.action = kind
	}
	ev := state.AuditEvent{RunID: r.rep.RunID, At: r.clock(), Action: string(out.action), LDAPID: op.Group.ID,
		UserName: op.Group.Name, Outcome: state.AuditOK, HTTPStatus: out.status, Detail: out.detail}
	if out.link != nil {
		jop.SCIMID, ev.SCIMID = out.link.SCIMID, out.link.SCIMID
	}
	var more string
	ev.Changes, more = groupChanges(op, r.memberName)
	if more != "" {
		ev.Detail = strings.TrimPrefix(ev.Detail+"; "+more, "; ")
	}
	res := OpResult{Action: out.action, UserName: op.Group.Name, ID: op.Group.ID, SCIMID: jop.SCIMID, Outcome: state.AuditOK, Status: out.status}
	jop.Status, jop.HTTPStatus = state.OpDone, out.status
	if out.err != nil {
		jop.Status, jop.Error = state.OpFailed, out.err.Error()
		res.Outcome, res.Error, ev.Outcome, ev.Error = state.AuditFailed, out.err.Error(), state.AuditFailed, out.err.Error()
	}
	if errors.Is(out.err, sink.ErrOutcomeUnknown) {
		res.Outcome, ev.Outcome = state.AuditUnknown, state.AuditUnknown
		r.audit(ctx, ev)
	} else if err := r.store.CompleteGroupOp(context.WithoutCancel(ctx), jop, out.link, ev); err != nil {
		return fmt.Errorf("record %s %s: %w", out.action, op.Group.Name, err)
	}
	r.metrics.observeOp(string(out.action), string(res.Outcome))
	r.mu.Lock()
	r.rep.Results = append(r.rep.Results, res)
	if out.err != nil {
		r.rep.Counts.Failed++
		r.failures = append(r.failures, fmt.Sprintf("%s %s: %v", out.action, op.Group.Name, out.err))
	} else {
		r.applied = true
		r.rep.Counts.GroupOps++
		r.rep.Counts.MembersAdded += out.added
		r.rep.Counts.MembersRemoved += out.removed
	}
	r.mu.Unlock()
	l := r.log.Info()
	if out.err != nil {
		l = r.log.Error().Str("error", out.err.Error())
	}
	l.Int64("run", r.rep.RunID).Str("action", string(out.action)).Str("group", op.Group.Name).Str("scim_id", jop.SCIMID).
		Int("added", out.added).Int("removed", out.removed).Int("status", out.status).Str("outcome", string(res.Outcome)).Msg("group operation")
	switch {
	case errors.Is(out.err, sink.ErrUnauthorized):
		return &HintError{Err: fmt.Errorf("omni refused the API key; stopping the run: %w", out.err), Hint: hintUnauthorized}
	case errors.Is(out.err, sink.ErrHalt):
		return fmt.Errorf("stopping the run: %w", out.err)
	}
	return nil
}

type groupOutcome struct {
	action         state.OpKind
	link           *identity.LinkedGroup
	status         int
	err            error
	detail         string
	added, removed int
}

// omniIDs maps directory user ids to the Omni ids of users syncd manages;
// ids with no active link (a create that failed or waits) are left out.
func (r *run) omniIDs(ids []string) (omni, kept []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, id := range ids {
		if k, ok := r.known[id]; ok && k.Status == identity.StatusActive && k.SCIMID != "" {
			omni, kept = append(omni, k.SCIMID), append(kept, id)
		}
	}
	return omni, kept
}

func (r *run) createGroup(ctx context.Context, gs GroupSink, op diff.GroupOp) groupOutcome {
	omni, members := r.omniIDs(op.Add)
	link := &identity.LinkedGroup{ID: op.Group.ID, Name: op.Group.Name, Status: identity.GroupActive, Members: members}
	if existing, ok := r.adoptable(ctx, op.Group); ok {
		return r.adoptGroup(ctx, gs, op, existing, link, omni)
	}
	created, err := gs.CreateGroup(ctx, op.Group.Name, omni)
	if errors.Is(err, sink.ErrExists) {
		// Made since syncd listed, or hidden from the listing: look again.
		r.forgetOmniGroups()
		if existing, ok := r.adoptable(ctx, op.Group); ok {
			return r.adoptGroup(ctx, gs, op, existing, link, omni)
		}
	}
	if err != nil {
		return groupOutcome{status: statusOf(err), err: err}
	}
	link.SCIMID, link.Origin = created.ID, identity.OriginCreated
	return groupOutcome{status: 201, link: link, added: len(members)}
}

// adoptable finds an Omni group of the group's name that no other directory
// group is linked to.
func (r *run) adoptable(ctx context.Context, g identity.Group) (sink.Group, bool) {
	byName, err := r.omniGroups(ctx)
	if err != nil {
		return sink.Group{}, false
	}
	og, ok := byName[strings.ToLower(g.Name)]
	if !ok {
		return sink.Group{}, false
	}
	for id, k := range r.knownGroups {
		if k.SCIMID == og.ID && id != g.ID && k.Status == identity.GroupActive {
			return sink.Group{}, false
		}
	}
	if r.gsync != nil && !r.gsync.full {
		// An incremental run loaded only some linked groups: ask the
		// state. Unsure is linked: no adoption on a guess.
		if other, err := r.store.GroupLinkedTo(ctx, og.ID, g.ID); err != nil || other != "" {
			return sink.Group{}, false
		}
	}
	return og, true
}

// adoptGroup links an Omni group of the same name and adds the members syncd
// manages; members already there, added by hand, stay.
func (r *run) adoptGroup(ctx context.Context, gs GroupSink, op diff.GroupOp, og sink.Group, link *identity.LinkedGroup, omni []string) groupOutcome {
	link.SCIMID, link.Origin = og.ID, identity.OriginAdopted
	// syncd manages only the members it adds: one already in the Omni
	// group was put there by someone else, and stays theirs.
	var add, managed []string
	for i, id := range omni {
		if !slices.Contains(og.Members, id) {
			add, managed = append(add, id), append(managed, link.Members[i])
		}
	}
	link.Members = managed
	p := sink.GroupPatch{Add: add}
	if og.DisplayName != op.Group.Name {
		p.Rename = op.Group.Name
	}
	if err := gs.PatchGroup(ctx, og.ID, p); err != nil {
		return groupOutcome{action: state.OpGroupAdopt, status: statusOf(err), err: fmt.Errorf("adopted, but adding members failed: %w", err)}
	}
	return groupOutcome{action: state.OpGroupAdopt, status: 200, link: link, added: len(add), detail: "adopted the Omni group of the same name"}
}

func (r *run) updateGroup(ctx context.Context, gs GroupSink, op diff.GroupOp) groupOutcome {
	k := *op.Known
	add, added := r.omniIDs(op.Add)
	var remove []string
	r.mu.Lock()
	for _, id := range op.Remove {
		if u, ok := r.known[id]; ok && u.SCIMID != "" {
			remove = append(remove, u.SCIMID)
		}
	}
	r.mu.Unlock()
	if err := gs.PatchGroup(ctx, k.SCIMID, sink.GroupPatch{Rename: op.Rename, Add: add, Remove: remove}); err != nil {
		if errors.Is(err, sink.ErrNotFound) {
			// Someone deleted it in Omni: the next run creates it anew.
			k.Status = identity.GroupDeleted
			return groupOutcome{status: 404, err: fmt.Errorf("group no longer exists in Omni: %w", err), link: &k}
		}
		return groupOutcome{status: statusOf(err), err: err}
	}
	members := slices.Concat(minusIDs(k.Members, op.Remove), added)
	slices.Sort(members)
	k.Members, k.Name = slices.Compact(members), op.Group.Name
	return groupOutcome{status: 200, link: &k, added: len(added), removed: len(op.Remove)}
}

func (r *run) deleteGroup(ctx context.Context, gs GroupSink, op diff.GroupOp) groupOutcome {
	k := *op.Known
	err := gs.DeleteGroup(ctx, k.SCIMID)
	detail := op.Reason
	if errors.Is(err, sink.ErrNotFound) {
		err, detail = nil, op.Reason+"; already gone from Omni"
	}
	if err != nil {
		return groupOutcome{status: statusOf(err), err: err}
	}
	k.Status, k.Members = identity.GroupDeleted, nil
	return groupOutcome{status: 204, link: &k, detail: detail}
}

func minusIDs(a, b []string) []string {
	return slices.DeleteFunc(slices.Clone(a), func(x string) bool { return slices.Contains(b, x) })
}

// memberName is a user's userName for reports and audit rows.
func (r *run) memberName(id string) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	if k, ok := r.known[id]; ok {
		return k.UserName
	}
	if i, ok := slices.BinarySearchFunc(r.desired, id, func(u identity.User, id string) int { return strings.Compare(u.ID, id) }); ok {
		return r.desired[i].UserName
	}
	return id
}

// maxAuditedMembers bounds the member changes one audit row lists; the
// detail says how many more there were.
const maxAuditedMembers = 100

// groupChanges records a group update's name and member changes for its
// audit row. A create's members are counted in its detail instead: listing
// every member of a large new group would bloat the audit log.
func groupChanges(op diff.GroupOp, name func(string) string) (map[string]state.Change, string) {
	if op.Kind == diff.Create {
		return nil, fmt.Sprintf("created with %d members", len(op.Add))
	}
	ch := map[string]state.Change{}
	if op.Rename != "" && op.Known != nil {
		ch["displayName"] = state.Change{Before: op.Known.Name, After: op.Rename}
	}
	listed := 0
	list := func(ids []string, c state.Change) {
		for _, id := range ids {
			if listed == maxAuditedMembers {
				return
			}
			listed++
			ch["members."+name(id)] = c
		}
	}
	list(op.Add, state.Change{After: "member"})
	list(op.Remove, state.Change{Before: "member"})
	detail := ""
	if n := len(op.Add) + len(op.Remove); n > listed {
		detail = fmt.Sprintf("%d member changes, %d listed", n, listed)
	}
	if len(ch) == 0 {
		return nil, detail
	}
	return ch, detail
}

func isGroupOp(k state.OpKind) bool { return strings.HasPrefix(string(k), "group_") }

// settleGroup settles a group write an earlier run left pending. A create is
// looked up by listing Omni's groups once and matching the name, so that a
// group that landed is linked as syncd's own (never created twice, never
// mistaken for an adoption); any other write is closed, and the plan redoes
// it (a PATCH or DELETE repeats harmlessly).
func (r *run) settleGroup(ctx context.Context, op state.Op) error {
	ev := state.AuditEvent{RunID: r.rep.RunID, At: r.clock(), Action: "recover_" + string(op.Kind), LDAPID: op.LDAPID,
		UserName: op.UserName, Outcome: state.AuditOK, Detail: "interrupted; the plan will redo it"}
	var link *identity.LinkedGroup
	if op.Kind == state.OpGroupCreate || op.Kind == state.OpGroupAdopt {
		byName, err := r.omniGroups(ctx)
		og, found := byName[strings.ToLower(op.UserName)]
		var other string
		if err == nil && found {
			other, err = r.store.GroupLinkedTo(ctx, og.ID, op.LDAPID)
		}
		origin := identity.OriginCreated
		if op.Kind == state.OpGroupAdopt {
			origin = identity.OriginAdopted
		}
		switch {
		case err != nil:
			ev.Outcome, ev.Error = state.AuditFailed, err.Error()
		case found && other != "":
			ev.Outcome, ev.Error = state.AuditFailed, fmt.Sprintf("omni group %s of this name is linked to directory group %s; not linked", og.ID, other)
		case found:
			link = &identity.LinkedGroup{ID: op.LDAPID, SCIMID: og.ID, Name: og.DisplayName, Status: identity.GroupActive, Origin: origin}
			op.SCIMID, ev.SCIMID = og.ID, og.ID
			ev.Detail = "interrupted after it reached Omni; linked to the group found by name (its members are brought in line by the plan)"
		default:
			ev.Detail = "interrupted before it reached Omni; the plan will redo it"
		}
	}
	op.Status = state.OpDone
	if ev.Outcome == state.AuditFailed {
		op.Status, op.Error = state.OpFailed, ev.Error
	}
	r.settledGroups = append(r.settledGroups, op.LDAPID)
	if err := r.store.CompleteGroupOp(ctx, op, link, ev); err != nil {
		r.log.Error().Err(err).Int64("op", op.ID).Str("group", op.UserName).Msg("pending group operation could not be settled; set aside")
		return nil
	}
	r.log.Info().Int64("run", r.rep.RunID).Str("action", ev.Action).Str("group", op.UserName).Str("scim_id", ev.SCIMID).
		Str("outcome", string(ev.Outcome)).Msg("pending group operation settled")
	if errors.Is(ctx.Err(), context.Canceled) {
		return ctx.Err()
	}
	return nil
}
