package sink

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// ErrHalt is wrapped when Omni cannot usefully take more requests in this
// run: it asked, by Retry-After, to wait longer than an operation may last,
// or it failed so many requests in a row that the circuit breaker opened.
// Like ErrUnauthorized, the caller stops the run; an operation that had
// already sent a write before it was halted wraps ErrOutcomeUnknown as well.
var ErrHalt = errors.New("scim: halt: omni cannot take more requests in this run")

// haltError says why the run must stop. err, when set, is the answer that
// caused it (a 429 with its Retry-After), so errors.As still reaches it.
type haltError struct {
	reason string
	err    error
}

func (e *haltError) Error() string {
	if e.err == nil {
		return e.reason
	}
	return e.reason + ": " + e.err.Error()
}

func (e *haltError) Unwrap() []error {
	if e.err == nil {
		return []error{ErrHalt}
	}
	return []error{ErrHalt, e.err}
}

// budgetKey carries the Client-clock deadline of the current operation in
// the context its attempts get, so the wait for the rate limit can tell a
// pause that fits the operation from one that does not.
type budgetKey struct{}

func withBudget(ctx context.Context, deadline time.Time) context.Context {
	return context.WithValue(ctx, budgetKey{}, deadline)
}

// checkWait halts when Omni asked for a wait that no operation may sit out:
// one longer than MaxElapsed, or than what is left of the operation ctx
// belongs to. cause is the answer that asked, if at hand.
func (c *Client) checkWait(ctx context.Context, wait time.Duration, cause error) error {
	asked := fmt.Sprintf("omni asked to wait %s (Retry-After) before the next request", wait.Round(100*time.Millisecond))
	if wait > c.maxElapsed {
		return &haltError{reason: fmt.Sprintf("%s, longer than scim.maxElapsed (%s); stopping", asked, c.maxElapsed), err: cause}
	}
	if deadline, ok := ctx.Value(budgetKey{}).(time.Time); ok {
		if left := deadline.Sub(c.now()); wait > left {
			return &haltError{reason: fmt.Sprintf("%s, longer than the %s left of this operation's scim.maxElapsed (%s); stopping",
				asked, max(left, 0).Truncate(100*time.Millisecond), c.maxElapsed), err: cause}
		}
	}
	return nil
}
