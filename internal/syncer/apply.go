package syncer

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/syncd-dev/syncd/internal/diff"
	"github.com/syncd-dev/syncd/internal/identity"
	"github.com/syncd-dev/syncd/internal/sink"
	"github.com/syncd-dev/syncd/internal/state"
)

// Journal operation kinds, which are also the audit actions of the writes.
const (
	actCreate     = state.OpCreate
	actAdopt      = state.OpAdopt
	actUpdate     = state.OpUpdate
	actReactivate = state.OpReactivate
	actDeactivate = state.OpDeactivate
	actDelete     = state.OpDelete
)

// outcome of one operation, as the journal and audit record it.
type outcome struct {
	action state.OpKind
	link   *identity.Linked // the state to store; nil leaves state as it was
	status int
	err    error
	detail string
	// fix, set with err, says what an admin must do: no retry can succeed
	// while the directory and Omni stay as they are, so the operation is
	// held rather than sent again every run.
	fix string
}

// apply carries out one planned operation: journal it, send it, then commit
// the state change, the journal completion and the audit row together. It
// returns an error only when the run must stop (the API key was refused, or
// state cannot be written); a failed operation is recorded and the run goes
// on.
func (r *run) apply(ctx context.Context, op diff.Op) error {
	kind := state.OpKind(op.Kind)
	if op.Kind == diff.Deprovision {
		kind = actDeactivate
		if deprovisionMode(r.opts) == DeprovisionDelete {
			kind = actDelete
		}
	}
	jop := state.Op{RunID: r.rep.RunID, Kind: kind, LDAPID: op.User.ID, UserName: op.User.UserName}
	if op.Known != nil {
		jop.SCIMID = op.Known.SCIMID
	}
	// From here the operation is carried through even if the run is being
	// stopped: journal, request and record, so that nothing is left half
	// done.
	if err := r.lock.Alive(context.WithoutCancel(ctx)); err != nil {
		return fmt.Errorf("before %s %s: %w", kind, op.User.UserName, err)
	}
	jop, err := r.store.BeginOp(context.WithoutCancel(ctx), jop)
	if err != nil {
		return fmt.Errorf("journal %s %s: %w", kind, op.User.UserName, err)
	}

	// The request in flight finishes even when the run is being stopped, so
	// that its outcome is known and recorded; it is still bounded.
	octx, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.opTimeout())
	defer cancel()
	// A stop signal lets the attempt in flight finish, but no new attempt
	// is made: the operation ends within one attempt's timeout.
	octx = sink.WithStop(octx, ctx.Done())
	var out outcome
	switch op.Kind {
	case diff.Create:
		out = r.createOrAdopt(octx, op.User, "")
	case diff.Update:
		out = r.update(octx, op)
	case diff.Reactivate:
		out = r.reactivate(octx, op)
	case diff.Deprovision:
		out = r.deprovision(octx, op, kind)
	}
	if out.action == "" {
		out.action = kind
	}

	res := OpResult{Action: out.action, UserName: op.User.UserName, ID: op.User.ID, Outcome: state.AuditOK, Status: out.status}
	jop.Status, jop.HTTPStatus = state.OpDone, out.status
	if out.link != nil {
		jop.SCIMID, res.SCIMID = out.link.SCIMID, out.link.SCIMID
	} else if op.Known != nil {
		res.SCIMID = op.Known.SCIMID
	}
	ev := state.AuditEvent{RunID: r.rep.RunID, At: r.clock(), Action: string(out.action), LDAPID: op.User.ID,
		SCIMID: jop.SCIMID, UserName: op.User.UserName, Outcome: state.AuditOK, HTTPStatus: out.status, Detail: out.detail}
	if len(op.Changes) > 0 {
		ev.Changes = make(map[string]state.Change, len(op.Changes))
		for _, c := range op.Changes {
			ev.Changes[c.Field] = state.Change{Before: c.Before, After: c.After}
		}
	}
	if op.Reason != "" {
		// Why a user is deprovisioned, or that a rename takes a temporary
		// name first.
		ev.Detail = strings.TrimPrefix(ev.Detail+"; "+op.Reason, "; ")
	}
	if out.err != nil {
		jop.Status, jop.Error = state.OpFailed, out.err.Error()
		res.Outcome, res.Error = state.AuditFailed, out.err.Error()
		ev.Outcome, ev.Error = state.AuditFailed, out.err.Error()
		if out.fix != "" {
			res.Error = out.err.Error() + "; to fix: " + out.fix
			ev.Detail = strings.TrimPrefix(ev.Detail+"; to fix: "+out.fix, "; ")
		}
	}
	if errors.Is(out.err, sink.ErrOutcomeUnknown) {
		// Omni may or may not have applied it: the journal entry stays
		// pending, and the next run settles it (a create by looking the
		// user up) before planning anything for this user.
		res.Outcome = state.AuditUnknown
		ev.Outcome = state.AuditUnknown
		ev.Detail = strings.TrimPrefix(ev.Detail+"; outcome unknown, left pending for the next run to settle", "; ")
		r.audit(ctx, ev)
	} else if fell, err := r.completeOrFall(ctx, jop, out.link, ev); err != nil {
		return fmt.Errorf("record %s %s: %w", out.action, op.User.UserName, err)
	} else if fell {
		out.err, out.link = errors.New("done in Omni, but its state could not be stored; the next run settles it"), nil
		res.Outcome, res.Error = state.AuditFailed, out.err.Error()
	}
	r.noteHeld(ctx, op, out)
	r.metrics.observeOp(string(out.action), string(res.Outcome))
	log := r.log.Info()
	// Operations run in parallel: the report and the known users are
	// shared; groups read the links users' operations made.
	r.mu.Lock()
	if out.link != nil && res.Outcome == state.AuditOK {
		r.known[out.link.ID] = *out.link
	}
	r.rep.Results = append(r.rep.Results, res)
	if out.err != nil {
		log = r.log.Error().Str("error", out.err.Error())
		if out.fix != "" {
			log.Str("fix", out.fix)
			r.metrics.observeUnfixable()
		}
		r.rep.Counts.Failed++
		r.failures = append(r.failures, fmt.Sprintf("%s %s: %v", out.action, op.User.UserName, out.err))
	} else {
		switch out.action {
		case actCreate:
			r.rep.Counts.Created++
		case actAdopt:
			r.rep.Counts.Adopted++
		case actUpdate:
			r.rep.Counts.Updated++
		case actReactivate:
			r.rep.Counts.Reactivated++
		case actDeactivate, actDelete:
			r.rep.Counts.Deprovisioned++
		}
		r.applied = true
	}
	r.mu.Unlock()
	log.Int64("run", r.rep.RunID).Bool("dry_run", r.opts.DryRun).Str("action", string(out.action)).
		Str("user", op.User.UserName).Str("id", op.User.ID).Str("scim_id", res.SCIMID).
		Int("status", out.status).Str("outcome", string(res.Outcome)).Msg("operation")
	if errors.Is(out.err, sink.ErrUnauthorized) {
		return &HintError{Err: fmt.Errorf("omni refused the API key; stopping the run: %w", out.err), Hint: hintUnauthorized}
	}
	if errors.Is(out.err, sink.ErrHalt) {
		return fmt.Errorf("stopping the run: %w", out.err)
	}
	return nil
}

// complete records an operation's answer with its state change and audit
// row. When the state change cannot be stored (a constraint the directory
// and Omni together broke), the answer is recorded without it, as failed
// with why, so that no journal entry is left to wedge later runs.
func (r *run) complete(ctx context.Context, jop state.Op, link *identity.Linked, ev state.AuditEvent) error {
	_, err := r.completeOrFall(ctx, jop, link, ev)
	return err
}

// completeOrFall is complete, also saying whether the state change had to be
// left out (the operation is then a failure).
func (r *run) completeOrFall(ctx context.Context, jop state.Op, link *identity.Linked, ev state.AuditEvent) (fellBack bool, err error) {
	ctx = context.WithoutCancel(ctx)
	if err := r.lock.Alive(ctx); err != nil {
		return false, err
	}
	err = r.store.CompleteOp(ctx, jop, link, ev)
	if err == nil || link == nil {
		return false, err
	}
	msg := "the answer could not be stored: " + err.Error()
	jop.Status, jop.Error = state.OpFailed, msg
	ev.Outcome, ev.Error = state.AuditFailed, msg
	if err2 := r.store.CompleteOp(ctx, jop, nil, ev); err2 != nil {
		return false, errors.Join(err, err2)
	}
	r.log.Error().Str("user", jop.UserName).Str("error", msg).Msg("operation recorded without its state change")
	return true, nil
}

func (r *run) opTimeout() time.Duration {
	if r.opts.OpTimeout > 0 {
		return r.opts.OpTimeout
	}
	return 10 * time.Minute
}

// createOrAdopt creates u in Omni. When Omni already has a user with that
// email (409), syncd adopts it: links it and brings its values in line, but
// only when no other directory entry is linked to that Omni user, so that one
// person's account, documents and schedules never pass to another.
func (r *run) createOrAdopt(ctx context.Context, u identity.User, detail string) outcome {
	created, err := r.sink.Create(ctx, u)
	if err == nil {
		return outcome{action: actCreate, status: 201, detail: detail, link: linkOf(u, created.ID, identity.OriginCreated)}
	}
	if !errors.Is(err, sink.ErrExists) {
		out := outcome{action: actCreate, status: statusOf(err), err: err, detail: detail}
		if errors.Is(err, sink.ErrInvalid) {
			out.fix = "Omni refused the values; correct the directory entry"
		}
		return out
	}
	existing, found, ferr := r.sink.FindByUserName(ctx, u.UserName)
	switch {
	case ferr != nil:
		return outcome{action: actAdopt, status: statusOf(ferr), err: fmt.Errorf("omni has a user with this email, but looking it up failed: %w", ferr)}
	case !found:
		return outcome{action: actAdopt, status: 409, err: errors.New("omni answered 409 (email exists) but no user with this userName is listed"),
			fix: "find the Omni user holding " + u.UserName + " (it may differ in case or be hidden from SCIM) and remove or rename it"}
	case !existing.Active:
		return outcome{action: actAdopt, status: 409, err: fmt.Errorf("omni has an inactive user %s with this email; it cannot be reactivated by syncd", existing.ID),
			fix: "delete the deactivated Omni user " + existing.ID + " in Omni, or give the directory entry another email"}
	}
	if other, ok := r.linkedTo(ctx, existing.ID, u.ID); ok {
		return outcome{action: actAdopt, status: 409,
			err: fmt.Errorf("omni user %s with this email is linked to directory entry %s; not adopted", existing.ID, other),
			fix: "this entry shares an email with another person's Omni account; give it its own email"}
	}
	detail = strings.TrimPrefix(detail+"; adopted existing Omni user", "; ")
	// Only the fields syncd owns are brought in line: attributes someone
	// else set on the adopted user stay as they are.
	had := linkFromOmni(u.ID, existing, identity.OriginAdopted)
	had.User.Attributes = diff.Owned(had.User.Attributes, r.opts.Policy.OwnedAttributes)
	had.Hash = had.User.Hash()
	if had.Hash == u.Hash() {
		return outcome{action: actAdopt, status: 409, detail: detail, link: linkOf(u, existing.ID, identity.OriginAdopted)}
	}
	if err := r.sink.Patch(ctx, existing.ID, patchOf(diff.FieldChanges(had.User, u))); err != nil {
		// Linked even so: the user is syncd's now, and the next run retries
		// the update from the values Omni holds.
		return outcome{action: actAdopt, status: statusOf(err), err: fmt.Errorf("adopted, but update failed: %w", err), link: &had}
	}
	return outcome{action: actAdopt, status: 200, detail: detail, link: linkOf(u, existing.ID, identity.OriginAdopted)}
}

// indexLinks indexes the known users by Omni id, before operations run (in
// parallel) and read it.
func (r *run) indexLinks() {
	r.bySCIM = make(map[string]string, len(r.known))
	for id, k := range r.known {
		r.bySCIM[k.SCIMID] = id
	}
}

// linkedTo reports the directory entry other than self that is linked to the
// Omni user scimID, if any, whether active or deprovisioned.
func (r *run) linkedTo(ctx context.Context, scimID, self string) (string, bool) {
	if other, ok := r.bySCIM[scimID]; ok {
		return other, other != self
	}
	// Not among the users this run loaded (an incremental run loads few):
	// ask the state. Unsure is linked: no adoption on a guess.
	if r.store == nil {
		return "", false
	}
	other, ok, err := r.store.LinkedTo(ctx, scimID)
	if err != nil {
		return "(unknown: " + err.Error() + ")", true
	}
	return other, ok && other != self
}

func (r *run) update(ctx context.Context, op diff.Op) outcome {
	k := *op.Known
	if err := r.sink.Patch(ctx, k.SCIMID, patchOf(op.Changes)); err != nil {
		switch {
		case errors.Is(err, sink.ErrNotFound):
			// Someone removed the user in Omni. Record it as deprovisioned so
			// that the next run recreates it if it should exist.
			k.Status = identity.StatusDeprovisioned
			return outcome{status: 404, err: fmt.Errorf("user no longer exists in Omni: %w", err), link: &k}
		case errors.Is(err, sink.ErrExists) && op.Sequenced:
			// A step of a rename chain: the address may only still be
			// held by the step before; the next run orders it again.
			return outcome{status: 409, err: err}
		case errors.Is(err, sink.ErrExists):
			return outcome{status: 409, err: err,
				fix: "another Omni user already holds " + op.User.UserName + "; remove or rename that user in Omni, or correct the directory entry"}
		case errors.Is(err, sink.ErrInvalid):
			return outcome{status: 400, err: err, fix: "Omni refused the values; correct the directory entry"}
		}
		return outcome{status: statusOf(err), err: err}
	}
	l := linkOf(op.User, k.SCIMID, k.Origin)
	return outcome{status: 200, link: l}
}

// reactivate asks Omni to reactivate a user syncd deprovisioned. Omni
// documents deactivation as irreversible, so when it refuses, the user is
// created anew (a new Omni user without the old history) and that is recorded.
func (r *run) reactivate(ctx context.Context, op diff.Op) outcome {
	k := *op.Known
	err := r.sink.SetActive(ctx, k.SCIMID, true)
	if errors.Is(err, sink.ErrUnauthorized) {
		return outcome{status: statusOf(err), err: err}
	}
	if err != nil {
		out := r.createOrAdopt(ctx, op.User, fmt.Sprintf("reactivation refused (%v); created anew, the old Omni user %s keeps its history", err, k.SCIMID))
		if out.err == nil {
			out.action = actReactivate
		}
		return out
	}
	if len(op.Changes) > 0 {
		if err := r.sink.Patch(ctx, k.SCIMID, patchOf(op.Changes)); err != nil {
			k.Status = identity.StatusActive
			return outcome{status: statusOf(err), err: fmt.Errorf("reactivated, but update failed: %w", err), link: &k}
		}
	}
	return outcome{status: 200, link: linkOf(op.User, k.SCIMID, k.Origin)}
}

func (r *run) deprovision(ctx context.Context, op diff.Op, kind state.OpKind) outcome {
	k := *op.Known
	var err error
	status := 200
	if kind == actDelete {
		err, status = r.sink.Delete(ctx, k.SCIMID), 204
	} else {
		err = r.sink.SetActive(ctx, k.SCIMID, false)
	}
	detail := ""
	if errors.Is(err, sink.ErrNotFound) {
		err, status, detail = nil, 404, "already gone from Omni"
	}
	if err != nil {
		return outcome{status: statusOf(err), err: err}
	}
	k.Status = identity.StatusDeprovisioned
	return outcome{status: status, link: &k, detail: detail}
}

// patchOf turns the planned field changes into the PATCH that makes them:
// an attribute whose value is gone is removed, any other field is set.
func patchOf(cs []diff.FieldChange) []sink.Change {
	out := make([]sink.Change, 0, len(cs))
	for _, c := range cs {
		if key, ok := strings.CutPrefix(c.Field, diff.AttributePrefix); ok {
			out = append(out, sink.Change{Attribute: key, Value: c.After, Remove: c.After == ""})
			continue
		}
		out = append(out, sink.Change{Field: c.Field, Value: c.After})
	}
	return out
}

func linkOf(u identity.User, scimID string, origin identity.Origin) *identity.Linked {
	u.Active = true
	return &identity.Linked{User: u, SCIMID: scimID, Hash: u.Hash(), Status: identity.StatusActive, Origin: origin}
}

func statusOf(err error) int {
	var e *sink.Error
	if errors.As(err, &e) {
		return e.Status
	}
	return 0
}

func sortUsers(us []sink.User) {
	sort.Slice(us, func(i, j int) bool { return us[i].UserName < us[j].UserName })
}
