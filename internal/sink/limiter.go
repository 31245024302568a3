package sink

import (
	"context"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// limiter is the token bucket of one API key: every request sent with that
// key passes through it. Omni counts requests per key per minute, so the
// bucket holds a single token: no burst can spend a minute's budget in a
// second. When Omni answers 429 anyway (another process shares the key, or the key's limit is lower than
// configured), the rate is halved, and it creeps back up by a twentieth of
// the configured rate per success, so a shared key settles instead of
// oscillating.
type limiter struct {
	lim        *rate.Limiter
	configured rate.Limit
	floor      rate.Limit

	mu         sync.Mutex
	pauseUntil time.Time
}

// pace is the share of the configured budget the bucket actually spends.
const pace = 0.99

func newLimiter(perMinute int) *limiter {
	if perMinute < 0 {
		return &limiter{lim: rate.NewLimiter(rate.Inf, 1), configured: rate.Inf}
	}
	// Pace 1% under the budget: Omni counts a sliding minute, and at the
	// exact rate the request that opened the window is still inside it
	// (it arrived late by its connection set-up) when the 61st comes.
	r := rate.Limit(float64(perMinute) / 60 * pace)
	return &limiter{
		lim:        rate.NewLimiter(r, 1),
		configured: r,
		floor:      rate.Limit(1.0 / 60 * pace),
	}
}

// wait blocks until the next request may go. now and sleep are the Client's,
// so tests drive the bucket with a fake clock. When a Retry-After pause is
// in force, check (if set) judges it first: its error ends the wait at once,
// so a pause no operation may sit out freezes nothing.
func (l *limiter) wait(ctx context.Context, now func() time.Time, sleep func(context.Context, time.Duration) error, check func(pause time.Duration) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return l.reserve(now()).wait(ctx, now, sleep, check)
}

// slot is a token taken from a bucket at t that may be spent after delay
// (the bucket's) and pause (a Retry-After still in force) have passed.
type slot struct {
	r     *rate.Reservation
	t     time.Time
	delay time.Duration
	pause time.Duration
}

// reserve takes the next token at t. Taking it before waiting, rather than
// waiting and then taking, is what lets concurrent callers queue up behind
// one another instead of all waking for the same token.
func (l *limiter) reserve(t time.Time) slot {
	r := l.lim.ReserveN(t, 1)
	l.mu.Lock()
	p := l.pauseUntil.Sub(t)
	l.mu.Unlock()
	return slot{r: r, t: t, delay: r.DelayFrom(t), pause: p}
}

// readyAt is when a token taken at t could be spent, without taking it, so
// that the Client can ask each of its keys and use the soonest.
func (l *limiter) readyAt(t time.Time) time.Time {
	ready := t
	if lim := l.lim.Limit(); lim != rate.Inf {
		if tokens := l.lim.TokensAt(t); tokens < 1 {
			ready = t.Add(time.Duration((1 - tokens) / float64(lim) * float64(time.Second)))
		}
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.pauseUntil.After(ready) {
		ready = l.pauseUntil
	}
	return ready
}

// wait sits out the slot's delay and pause; see limiter.wait.
func (s slot) wait(ctx context.Context, now func() time.Time, sleep func(context.Context, time.Duration) error, check func(pause time.Duration) error) error {
	if s.pause > 0 && check != nil {
		if err := check(s.pause); err != nil {
			s.r.CancelAt(s.t)
			return err
		}
	}
	d := max(s.delay, s.pause)
	if d <= 0 {
		return nil
	}
	if err := sleep(ctx, d); err != nil {
		// Give the token back so an abandoned wait does not slow the others.
		s.r.CancelAt(now())
		return err
	}
	return nil
}

// throttled is called on a 429. retryAfter, when the server gave one, holds
// back every caller of this key, not only the one that was refused; Omni
// counts per key, so the Client's other keys go on.
func (l *limiter) throttled(t time.Time, retryAfter time.Duration) {
	if retryAfter > 0 {
		l.mu.Lock()
		if until := t.Add(retryAfter); until.After(l.pauseUntil) {
			l.pauseUntil = until
		}
		l.mu.Unlock()
	}
	if l.configured == rate.Inf {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lim.SetLimitAt(t, max(l.lim.Limit()/2, l.floor))
}

// succeeded is called on every answer that was not a 429.
func (l *limiter) succeeded(t time.Time) {
	if l.configured == rate.Inf {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if cur := l.lim.Limit(); cur < l.configured {
		l.lim.SetLimitAt(t, min(cur+l.configured/20, l.configured))
	}
}

// perMinute is the current rate as a share of the configured budget's
// terms (before pacing), for tests and logs.
func (l *limiter) perMinute() float64 {
	return float64(l.lim.Limit()) * 60 / pace
}
