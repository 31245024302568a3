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
	"github.com/syncd-dev/syncd/internal/state"
)

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
	if r.fromOmni {
		// A dry run without state: the groups matched by name are all.
		for id, k := range r.knownGroups {
			if k.SCIMID == og.ID && id != g.ID {
				return sink.Group{}, false
			}
		}
		return og, true
	}
	// The state knows every link, this run's included, whatever the run
	// loaded. Unsure is linked: no adoption on a guess.
	if other, err := r.store.GroupLinkedTo(ctx, og.ID, g.ID); err != nil || other != "" {
		return sink.Group{}, false
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
