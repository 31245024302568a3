package syncer

import (
	"context"

	"github.com/syncd-dev/syncd/internal/diff"
	"github.com/syncd-dev/syncd/internal/state"
)

// loadRefused reads the operations Omni refused for good. A dry run against
// a database syncd never migrated has none.
func (r *run) loadRefused(ctx context.Context) (map[string]diff.Refusal, error) {
	held, err := r.store.HeldOps(ctx)
	if err != nil {
		return nil, err
	}
	r.held = held
	refused := make(map[string]diff.Refusal, len(held))
	for id, h := range held {
		refused[id] = diff.Refusal{Kind: diff.Kind(h.Kind), DesiredHash: h.DesiredHash, Reason: h.Reason, Action: h.Action,
			Attempts: h.Attempts, FirstAt: h.FirstAt, LastTriedAt: h.LastTriedAt}
	}
	return refused, nil
}

// noteHeld records a refusal no retry can fix, or forgets one that is fixed.
func (r *run) noteHeld(ctx context.Context, op diff.Op, out outcome) {
	var err error
	switch {
	case out.err != nil && out.fix != "":
		err = r.store.HoldOp(ctx, state.HeldOp{LDAPID: op.User.ID, Kind: string(op.Kind), UserName: op.User.UserName,
			DesiredHash: op.User.Hash(), Reason: out.err.Error(), Action: out.fix, HTTPStatus: out.status, RunID: r.rep.RunID})
	case out.err == nil:
		if _, ok := r.held[op.User.ID]; ok {
			err = r.store.ReleaseHeldOps(ctx, op.User.ID)
		}
	}
	if err != nil {
		r.log.Error().Err(err).Str("user", op.User.UserName).Msg("record held operation")
	}
}
