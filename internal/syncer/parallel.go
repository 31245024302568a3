package syncer

import (
	"context"
	"fmt"
	"sync"

	"github.com/syncd-dev/syncd/internal/diff"
)

// workers is how many operations may be in flight at once: one per live
// API key, so that every key's budget is spent.
func (r *run) workers() int {
	if k, ok := r.sink.(interface{ Keys() (total, live int) }); ok {
		if _, live := k.Keys(); live > 1 {
			return live
		}
	}
	return 1
}

// splitSequenced separates the operations that must go one after another,
// in their order (renames on a chain or cycle), from the others.
func splitSequenced(ops []diff.Op) (free, sequenced []diff.Op) {
	for _, op := range ops {
		if op.Sequenced {
			sequenced = append(sequenced, op)
		} else {
			free = append(free, op)
		}
	}
	return free, sequenced
}

// applyAll applies ops with up to workers in flight. An operation that must
// stop the run (a refused key, a halting answer, state that cannot be
// written) stops new ones from starting; those in flight finish and are
// recorded. A stop signal does the same.
func (r *run) applyAll(ctx context.Context, ops []diff.Op, workers int) error {
	return applyEach(ctx, ops, workers, r.apply, func(op diff.Op) string { return string(op.Kind) + " " + op.User.UserName })
}

// applyGroups applies group operations as applyAll does user operations.
func (r *run) applyGroups(ctx context.Context, ops []diff.GroupOp, workers int) error {
	return applyEach(ctx, ops, workers, r.applyGroup, func(op diff.GroupOp) string { return "group " + string(op.Kind) + " " + op.Group.Name })
}

// applyEach runs fn over ops with up to workers in flight; name says what an
// op is, for the error of a run stopped before it.
func applyEach[T any](ctx context.Context, ops []T, workers int, fn func(context.Context, T) error, name func(T) string) error {
	if workers < 1 {
		workers = 1
	}
	var (
		mu    sync.Mutex
		first error
		wg    sync.WaitGroup
	)
	stopped := func() error {
		mu.Lock()
		defer mu.Unlock()
		return first
	}
	fail := func(err error) {
		mu.Lock()
		defer mu.Unlock()
		if first == nil {
			first = err
		}
	}
	sem := make(chan struct{}, workers)
	for _, op := range ops {
		if err := stopped(); err != nil {
			break
		}
		if err := ctx.Err(); err != nil {
			fail(fmt.Errorf("stopped before %s: %w", name(op), err))
			break
		}
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			if stopped() != nil {
				return
			}
			if err := fn(ctx, op); err != nil {
				fail(err)
			}
		}()
	}
	wg.Wait()
	return first
}
