package sink

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"
)

const (
	defaultBreakerThreshold = 8
	defaultBreakerCooldown  = time.Minute
)

// breaker stops a run from spending its requests on an Omni that is down:
// after threshold failed attempts in a row, across every operation of the
// Client, it opens and refuses every attempt without sending it. After
// cooldown it lets one trial attempt through (half-open): success closes it,
// failure opens it again for another cooldown.
type breaker struct {
	threshold int // <= 0: never opens
	cooldown  time.Duration

	mu       sync.Mutex
	fails    int
	last     string // the last failure, for the error that says why
	open     bool
	openedAt time.Time
	trial    bool // the half-open trial attempt is under way
}

// outcome is what one attempt tells the breaker.
type outcome int

const (
	// neutral: nothing learnt about Omni's health (the caller gave up, the
	// attempt was never made, or a 429, which says Omni is busy, not down).
	neutral outcome = iota
	// healthy: Omni answered and judged the request (2xx or 4xx).
	healthy
	// failed: a 5xx, or no answer at all.
	failed
)

// allow reports whether an attempt may go now, and an error wrapping ErrHalt
// when it may not.
func (b *breaker) allow(now time.Time) error {
	if b.threshold <= 0 {
		return nil
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.open {
		return nil
	}
	if !b.trial && now.Sub(b.openedAt) >= b.cooldown {
		b.trial = true
		return nil
	}
	return &haltError{reason: fmt.Sprintf("omni failed %d requests in a row (last: %s); stopping writes for this run", b.fails, b.last)}
}

// record counts the outcome of an attempt that allow let through.
func (b *breaker) record(now time.Time, o outcome, err error) {
	if b.threshold <= 0 {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	wasTrial := b.trial
	b.trial = false
	switch o {
	case healthy:
		b.fails, b.last, b.open = 0, "", false
	case failed:
		b.fails++
		b.last = err.Error()
		if wasTrial || b.fails >= b.threshold {
			b.open, b.openedAt = true, now
		}
	}
}

func (b *breaker) reset() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.fails, b.last, b.open, b.trial = 0, "", false, false
}

// ResetBreaker closes the circuit breaker and forgets the failures counted so
// far, so that a new run starts fresh.
func (c *Client) ResetBreaker() { c.brk.reset() }

// judge says what an attempt's result tells about Omni's health. ctx is the
// operation's: an attempt cut short because the caller gave up proves
// nothing.
func judge(ctx context.Context, err error) outcome {
	var (
		e  *Error
		te *transportError
		ue *unsettledError
	)
	switch {
	case err == nil, errors.As(err, &ue):
		// An unsettled answer is a 2xx too: Omni is up.
		return healthy
	case errors.As(err, &e):
		switch {
		case e.Status == http.StatusTooManyRequests:
			return neutral
		case e.Status >= 500:
			return failed
		default:
			return healthy
		}
	case errors.As(err, &te):
		if ctx.Err() != nil {
			return neutral
		}
		return failed
	default:
		return neutral
	}
}
