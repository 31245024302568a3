package sink

import (
	"context"
	"errors"
)

// ErrStopped is wrapped when an operation gave up because the process is
// stopping: the attempt in flight was let finish, and no new one was made.
var ErrStopped = errors.New("scim: stopping; no further attempt made")

type stopKey struct{}

// WithStop returns ctx carrying stop. An operation under the returned
// context lets an attempt already sent finish (ctx itself bounds it), but
// makes no new attempt and stops waiting once stop is closed, so a process
// told to stop ends within one attempt's timeout instead of walking the
// operation through its whole retry budget. ctx is usually one without
// cancellation, so that the answer to the attempt in flight is read and
// recorded.
func WithStop(ctx context.Context, stop <-chan struct{}) context.Context {
	return context.WithValue(ctx, stopKey{}, stop)
}

func stopChan(ctx context.Context) <-chan struct{} {
	ch, _ := ctx.Value(stopKey{}).(<-chan struct{})
	return ch
}

// stopping reports whether ctx's stop, if any, is closed.
func stopping(ctx context.Context) bool {
	ch := stopChan(ctx)
	if ch == nil {
		return false
	}
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// untilStop returns a context that is done when ctx is or when ctx's stop
// is closed, for waits between attempts.
func untilStop(ctx context.Context) (context.Context, context.CancelFunc) {
	ch := stopChan(ctx)
	wctx, cancel := context.WithCancel(ctx)
	if ch == nil {
		return wctx, cancel
	}
	go func() {
		select {
		case <-ch:
			cancel()
		case <-wctx.Done():
		}
	}()
	return wctx, cancel
}
