package syncer

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/syncd-dev/syncd/internal/identity"
	"github.com/syncd-dev/syncd/internal/sink"
	"github.com/syncd-dev/syncd/internal/state"
)

// recoverPending settles journal entries an earlier run left pending (it
// crashed or was killed between sending a request and recording it), before
// anything is planned: a create is looked up by userName, so it is linked
// rather than sent twice; a deprovision is checked against Omni, so a user
// deactivated there is never believed active. Other operations are simply
// closed: the plan recomputes them from state, and PUT and PATCH repeat
// harmlessly.
// known is the loaded state; settled links are written into it, so the plan
// sees them without loading state again.
func (r *run) recoverPending(ctx context.Context, users []identity.User, known map[string]identity.Linked) error {
	pending, err := r.store.PendingOps(ctx)
	if err != nil {
		return fmt.Errorf("load pending operations: %w", err)
	}
	byID := make(map[string]identity.User, len(users))
	for _, u := range users {
		byID[u.ID] = u
	}
	for _, op := range pending {
		if isGroupOp(op.Kind) {
			if err := r.settleGroup(ctx, op); err != nil {
				return err
			}
			continue
		}
		out := r.settle(ctx, op, known, byID)
		op.Status, op.HTTPStatus = state.OpDone, out.status
		ev := state.AuditEvent{RunID: r.rep.RunID, At: r.clock(), Action: "recover_" + string(op.Kind), LDAPID: op.LDAPID,
			SCIMID: op.SCIMID, UserName: op.UserName, Outcome: state.AuditOK, HTTPStatus: out.status, Detail: out.detail}
		if out.link != nil {
			op.SCIMID, ev.SCIMID = out.link.SCIMID, out.link.SCIMID
		}
		if out.err != nil {
			op.Status, op.Error, ev.Outcome, ev.Error = state.OpFailed, out.err.Error(), state.AuditFailed, out.err.Error()
		}
		if err := r.complete(ctx, op, out.link, ev); err != nil {
			// Set aside: the entry stays pending and is tried again next
			// run; this run goes on without it.
			r.log.Error().Err(err).Int64("op", op.ID).Str("user", op.UserName).Msg("pending operation could not be settled; set aside")
			continue
		}
		if out.link != nil && ev.Outcome == state.AuditOK {
			known[out.link.ID] = *out.link
		}
		r.log.Info().Int64("run", r.rep.RunID).Str("action", ev.Action).Str("user", op.UserName).
			Str("scim_id", ev.SCIMID).Str("outcome", string(ev.Outcome)).Str("detail", out.detail).Msg("pending operation settled")
		if errors.Is(out.err, sink.ErrUnauthorized) {
			return &HintError{Err: fmt.Errorf("omni refused the API key; stopping the run: %w", out.err), Hint: hintUnauthorized}
		}
		if errors.Is(out.err, sink.ErrHalt) {
			return fmt.Errorf("stopping the run: %w", out.err)
		}
	}
	return nil
}

func (r *run) settle(ctx context.Context, op state.Op, known map[string]identity.Linked, users map[string]identity.User) outcome {
	switch op.Kind {
	case actCreate, actAdopt, actReactivate:
		ou, found, err := r.sink.FindByUserName(ctx, op.UserName)
		if err != nil {
			return outcome{err: fmt.Errorf("look up interrupted %s: %w", op.Kind, err), status: statusOf(err)}
		}
		if !found || !ou.Active {
			return outcome{status: 200, detail: "interrupted before it reached Omni; the plan will redo it"}
		}
		if k, ok := known[op.LDAPID]; ok && k.Status == identity.StatusActive && k.SCIMID == ou.ID {
			return outcome{status: 200, detail: "already recorded"}
		}
		for id, k := range known {
			if k.SCIMID == ou.ID && id != op.LDAPID {
				return outcome{status: 200, err: fmt.Errorf("omni user %s with this userName is linked to directory entry %s; not linked to %s", ou.ID, id, op.LDAPID)}
			}
		}
		if other, ok, err := r.store.LinkedTo(ctx, ou.ID); err != nil || (ok && other != op.LDAPID) {
			return outcome{status: 200, err: fmt.Errorf("omni user %s with this userName is linked to directory entry %s; not linked to %s (%v)", ou.ID, other, op.LDAPID, err)}
		}
		origin := identity.OriginCreated
		if op.Kind == actAdopt {
			origin = identity.OriginAdopted
		}
		l := linkFromOmni(op.LDAPID, ou, origin)
		if u, ok := users[op.LDAPID]; ok {
			l.User.DN, l.User.GivenName, l.User.FamilyName = u.DN, u.GivenName, u.FamilyName
		}
		return outcome{status: 200, link: &l, detail: "interrupted after it reached Omni; linked to the user found by userName"}
	case actDeactivate, actDelete:
		k, ok := known[op.LDAPID]
		if !ok || k.Status != identity.StatusActive {
			return outcome{status: 200, detail: "already recorded"}
		}
		ou, err := r.sink.Get(ctx, k.SCIMID)
		if errors.Is(err, sink.ErrNotFound) || (err == nil && !ou.Active) {
			k.Status = identity.StatusDeprovisioned
			return outcome{status: 200, link: &k, detail: "interrupted after it reached Omni; recorded as deprovisioned"}
		}
		if err != nil {
			return outcome{err: fmt.Errorf("look up interrupted %s: %w", op.Kind, err), status: statusOf(err)}
		}
		return outcome{status: 200, detail: "interrupted before it reached Omni; the plan will redo it"}
	default:
		return outcome{detail: "interrupted; the plan will redo it"}
	}
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
