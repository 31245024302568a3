package sink

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"
)

func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// fullJitter spreads retries uniformly over [0, d), so clients that failed
// together do not retry together.
func fullJitter(d time.Duration) time.Duration {
	if d <= 0 {
		return 0
	}
	return rand.N(d)
}

func (c *Client) backoff(attempt int) time.Duration {
	d := backoffCap
	if attempt < 16 {
		d = min(backoffBase<<(attempt-1), backoffCap)
	}
	return c.jitter(d)
}

// op is the state one operation carries across its attempts.
type op struct {
	method string
	write  bool
	// unknown is set while an earlier attempt of a write may have been
	// applied and nothing since has settled it.
	unknown bool
}

// settle clears unknown when the write itself got a definite answer: a
// repeat of the same request that Omni judges (409, 400, 404) tells where
// things stand.
func (o *op) settle(err error) {
	var e *Error
	if errors.As(err, &e) && !e.retryable() {
		o.unknown = false
	}
}

// unsettledError marks a write that Omni accepted but whose answer could not
// be read: it is retried, and a create is looked up first.
type unsettledError struct{ err error }

func (e *unsettledError) Error() string { return e.err.Error() }
func (e *unsettledError) Unwrap() error { return e.err }

// classify says whether an attempt's error is worth retrying, whether a
// write may have been applied by it, and how long the server asked us to
// wait.
func classify(err error) (retry, mayHaveApplied bool, after time.Duration) {
	var (
		te *transportError
		e  *Error
		ue *unsettledError
	)
	switch {
	case errors.Is(err, ErrHalt):
		// Nothing was sent, or only a request Omni refused (429).
		return false, false, 0
	case errors.As(err, &ue):
		return true, true, 0
	case errors.As(err, &te):
		return !te.Final, te.Sent, 0
	case errors.As(err, &e):
		return e.retryable(), e.Status >= 500, e.RetryAfter
	default:
		return false, false, 0
	}
}

// retry runs fn until it succeeds, fails for good, or the attempts, the
// MaxElapsed budget or ctx run out.
func (c *Client) retry(ctx context.Context, o *op, fn func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, c.maxElapsed)
	defer cancel()
	deadline := c.now().Add(c.maxElapsed)
	ctx = withBudget(ctx, deadline)
	for attempt := 1; ; attempt++ {
		err := fn(ctx)
		if err == nil {
			return nil
		}
		retry, applied, after := classify(err)
		if o.write && applied {
			o.unknown = true
		}
		if cerr := ctx.Err(); cerr != nil {
			if !errors.Is(err, cerr) {
				err = fmt.Errorf("%w: %w", cerr, err)
			}
			return o.giveUp(attempt, err)
		}
		if !retry {
			return o.fail(err)
		}
		if after > 0 {
			// Retry-After is honoured up to the budget; beyond it, no
			// operation of this run could wait it out.
			if herr := c.checkWait(ctx, after, err); herr != nil {
				return o.fail(herr)
			}
		}
		if attempt >= c.maxAttempts {
			return o.giveUp(attempt, err)
		}
		delay := after
		if delay <= 0 {
			delay = c.backoff(attempt)
		}
		if c.now().Add(delay).After(deadline) {
			return o.giveUp(attempt, fmt.Errorf("next retry would pass the %s budget: %w", c.maxElapsed, err))
		}
		if stopping(ctx) {
			return o.giveUp(attempt, fmt.Errorf("%w: %w", ErrStopped, err))
		}
		c.log.Warn().Str("method", o.method).Int("attempt", attempt).
			Dur("retry_in", delay).Str("error", err.Error()).Msg("scim request failed; retrying")
		wctx, cancel := untilStop(ctx)
		serr := c.sleep(wctx, delay)
		cancel()
		if stopping(ctx) {
			return o.giveUp(attempt, fmt.Errorf("%w: %w", ErrStopped, err))
		}
		if serr != nil {
			return o.giveUp(attempt, fmt.Errorf("%w: %w", serr, err))
		}
	}
}

// fail returns an error the server gave for good.
func (o *op) fail(err error) error {
	if o.unknown {
		return fmt.Errorf("%w: %w", ErrOutcomeUnknown, err)
	}
	return err
}

func (o *op) giveUp(attempts int, err error) error {
	return o.fail(fmt.Errorf("gave up after %d attempts: %w", attempts, err))
}
