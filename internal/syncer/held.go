package syncer

import (
	"context"
	"fmt"
	"time"

	"github.com/syncd-dev/syncd/internal/diff"
	"github.com/syncd-dev/syncd/internal/state"
)

// heldRetryAfter is how long an operation Omni refused for good waits before
// it is tried again with the same values: long enough not to spend the rate
// budget on a known refusal every run, short enough that a fix made in Omni
// by hand is picked up within a day.
const heldRetryAfter = 24 * time.Hour

// loadHeld reads the operations Omni refused for good. A dry run against a
// database syncd never migrated has none.
func (r *run) loadHeld(ctx context.Context) error {
	r.held = map[string]state.HeldOp{}
	if r.Store == nil || r.emptyState {
		return nil
	}
	held, err := r.Store.HeldOps(ctx)
	if err != nil {
		return err
	}
	r.held = held
	return nil
}

// blockHeld moves out of the plan the operations Omni refused for good while
// the directory still asks for the very values it refused: sending them again
// could only be refused again. They are listed as blocked, with what the
// admin must do.
func (r *run) blockHeld(p *diff.Plan) {
	if len(r.held) == 0 {
		return
	}
	keep := func(ops []diff.Op) []diff.Op {
		out := ops[:0]
		for _, op := range ops {
			h, ok := r.held[op.User.ID]
			if ok && h.Kind == string(op.Kind) && h.DesiredHash == op.User.Hash() && r.now.Sub(h.LastTriedAt) < heldRetryAfter {
				op.Reason = fmt.Sprintf("%s; %s (refused %d time(s) since %s; retried when the entry changes or after %s)",
					h.Reason, h.Action, h.Attempts, h.FirstAt.Format(time.RFC3339), heldRetryAfter)
				p.Blocked = append(p.Blocked, op)
				continue
			}
			out = append(out, op)
		}
		return out
	}
	p.Create, p.Update, p.Reactivate = keep(p.Create), keep(p.Update), keep(p.Reactivate)
}

// noteHeld records a refusal no retry can fix, or forgets one that is fixed.
func (r *run) noteHeld(ctx context.Context, op diff.Op, out outcome) {
	if r.Options.DryRun || r.Store == nil {
		return
	}
	var err error
	switch {
	case out.err != nil && out.fix != "":
		err = r.Store.HoldOp(ctx, state.HeldOp{LDAPID: op.User.ID, Kind: string(op.Kind), UserName: op.User.UserName,
			DesiredHash: op.User.Hash(), Reason: out.err.Error(), Action: out.fix, HTTPStatus: out.status, RunID: r.rep.RunID})
	case out.err == nil:
		if _, ok := r.held[op.User.ID]; ok {
			err = r.Store.ReleaseHeldOps(ctx, op.User.ID)
		}
	}
	if err != nil {
		r.Log.Error().Err(err).Str("user", op.User.UserName).Msg("record held operation")
	}
}
