package sink

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestRetryAfterLongerThanMaxElapsedHalts(t *testing.T) {
	srv := newScript(t, reply(429, map[string]string{"error": "rate_limited"}, "Retry-After", "86400"))
	c, clk := newTestClient(t, srv.URL, nil)
	_, err := c.Get(context.Background(), "u1")
	if !errors.Is(err, ErrHalt) || !IsStatus(err, 429) {
		t.Fatalf("got %v, want ErrHalt wrapping the 429", err)
	}
	want := "omni asked to wait 24h0m0s (Retry-After) before the next request, longer than scim.maxElapsed (5m0s); stopping"
	if !strings.Contains(err.Error(), want) {
		t.Errorf("error %q does not say %q", err, want)
	}
	// Later calls of the same Client fail at once while the pause holds:
	// no sleeping a day and no request (the script has no second step).
	for _, call := range []func() error{
		func() error { return c.SetActive(context.Background(), "u1", false) },
		func() error { _, err := c.Create(context.Background(), alice); return err },
	} {
		err := call()
		if !errors.Is(err, ErrHalt) || !strings.Contains(err.Error(), "longer than scim.maxElapsed (5m0s); stopping") {
			t.Errorf("later call: got %v, want ErrHalt", err)
		}
		if errors.Is(err, ErrOutcomeUnknown) {
			t.Errorf("nothing was sent, yet the outcome is unknown: %v", err)
		}
	}
	if s := clk.Sleeps(); len(s) != 0 {
		t.Errorf("slept %v, want no sleep", s)
	}
	if n := len(srv.Requests()); n != 1 {
		t.Errorf("got %d requests, want 1", n)
	}
}

func TestRetryAfterOnLastAttemptStillHalts(t *testing.T) {
	srv := newScript(t, reply(429, nil, "Retry-After", "3600"))
	c, _ := newTestClient(t, srv.URL, func(c *Config) { c.MaxAttempts = 1 })
	if _, err := c.Get(context.Background(), "u1"); !errors.Is(err, ErrHalt) {
		t.Fatalf("got %v, want ErrHalt", err)
	}
}

func TestRetryAfterWithinMaxElapsedIsHonoured(t *testing.T) {
	srv := newScript(t, reply(429, nil, "Retry-After", "240"), reply(200, userJSON("u1", "a@example.com")))
	c, clk := newTestClient(t, srv.URL, nil)
	if _, err := c.Get(context.Background(), "u1"); err != nil {
		t.Fatalf("get: %v", err)
	}
	if s := clk.Sleeps(); len(s) != 1 || s[0] != 4*time.Minute {
		t.Errorf("slept %v, want the 4m Omni asked for", s)
	}
}

func TestRetryAfterPastTheOperationsBudgetHalts(t *testing.T) {
	// A write whose first attempt may have applied (500), then a 429 whose
	// wait fits MaxElapsed but not what is left of this operation.
	srv := newScript(t, reply(500, nil), reply(429, nil, "Retry-After", "60"))
	c, clk := newTestClient(t, srv.URL, func(c *Config) { c.MaxElapsed = time.Minute })
	err := c.SetActive(context.Background(), "u1", false)
	if !errors.Is(err, ErrHalt) || !errors.Is(err, ErrOutcomeUnknown) {
		t.Fatalf("got %v, want ErrHalt and ErrOutcomeUnknown", err)
	}
	if !strings.Contains(err.Error(), "omni asked to wait 1m0s (Retry-After) before the next request, longer than the 59.5s left") {
		t.Errorf("error %q does not say what Omni asked", err)
	}
	if s := clk.Sleeps(); len(s) != 1 || s[0] != 500*time.Millisecond {
		t.Errorf("slept %v, want only the first backoff", s)
	}
}

func TestLimiterPausePastTheOperationsBudgetHalts(t *testing.T) {
	var c *Client
	var clk *fakeClock
	// The first attempt takes 30s of the operation's minute, and meanwhile
	// another caller's 429 pauses the Client for 40s.
	slow := func(w http.ResponseWriter, r *http.Request) {
		clk.Advance(30 * time.Second)
		c.lim.throttled(clk.Now(), 40*time.Second)
		reply(500, nil)(w, r)
	}
	srv := newScript(t, slow, reply(200, userJSON("u1", "a@example.com")))
	c, clk = newTestClient(t, srv.URL, func(c *Config) { c.MaxElapsed = time.Minute })
	_, err := c.Get(context.Background(), "u1")
	if !errors.Is(err, ErrHalt) || !strings.Contains(err.Error(), "omni asked to wait 39.5s (Retry-After)") ||
		!strings.Contains(err.Error(), "left of this operation") {
		t.Fatalf("got %v, want ErrHalt for a pause past the operation's budget", err)
	}
	if n := len(srv.Requests()); n != 1 {
		t.Errorf("got %d requests, want 1", n)
	}
	// A fresh operation has the whole minute and sits the pause out.
	if _, err := c.Get(context.Background(), "u1"); err != nil {
		t.Fatalf("fresh get: %v", err)
	}
	if s := clk.Sleeps(); len(s) != 2 || s[1] != 39500*time.Millisecond {
		t.Errorf("slept %v, want the 0.5s backoff then the 39.5s left of the pause", s)
	}
}
