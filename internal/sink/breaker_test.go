package sink

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"
)

// getOnce is a Get with its error only.
func getOnce(c *Client) error {
	_, err := c.Get(context.Background(), "u1")
	return err
}

func TestBreakerStopsRequestsToAFailingOmni(t *testing.T) {
	// A gateway in front of Omni answers every request with an HTML 502.
	// The script fails the test on any request past the threshold.
	srv := newScript(t, repeat(defaultBreakerThreshold, raw(http.StatusBadGateway, "text/html", "<html><body><h1>502 Bad Gateway</h1></body></html>"))...)
	c, _ := newTestClient(t, srv.URL, func(c *Config) { c.MaxAttempts = 6 })
	var errs []error
	for range 5 {
		_, err := c.Create(context.Background(), alice)
		errs = append(errs, err)
	}
	if n := len(srv.Requests()); n > defaultBreakerThreshold {
		t.Fatalf("%d requests reached the server, want at most %d", n, defaultBreakerThreshold)
	}
	// The first create ran out of attempts (6); the second made two more,
	// which opened the breaker; the rest sent nothing.
	if err := errs[0]; errors.Is(err, ErrHalt) || !errors.Is(err, ErrOutcomeUnknown) {
		t.Errorf("create 1: got %v, want a plain unknown outcome", err)
	}
	for i, err := range errs[1:] {
		if !errors.Is(err, ErrHalt) {
			t.Fatalf("create %d: got %v, want ErrHalt", i+2, err)
		}
		want := "omni failed 8 requests in a row (last: scim GET /api/scim/v2/users: status 502); stopping writes for this run"
		if !strings.Contains(err.Error(), want) {
			t.Errorf("create %d: error %q does not say %q", i+2, err, want)
		}
		// Only the second create had sent its POST before the breaker
		// opened; its journal entry must stay pending.
		if got := errors.Is(err, ErrOutcomeUnknown); got != (i == 0) {
			t.Errorf("create %d: errors.Is(err, ErrOutcomeUnknown) = %t (%v)", i+2, got, err)
		}
	}
}

func TestBreakerCountsOnlyFailuresInARow(t *testing.T) {
	// The drop comes first: net/http itself resends an idempotent request
	// that failed on a reused connection.
	srv := newScript(t,
		drop,
		reply(404, map[string]string{"error": "not_found"}), // Omni judged it: resets
		reply(502, nil),
		reply(429, nil), // busy, not down: neither counts nor resets
		reply(503, nil), // the second failure in a row: opens
	)
	c, _ := newTestClient(t, srv.URL, func(c *Config) { c.MaxAttempts = 1; c.BreakerThreshold = 2 })
	for i := range 5 {
		if err := getOnce(c); err == nil || errors.Is(err, ErrHalt) {
			t.Fatalf("get %d: got %v, want Omni's own failure", i+1, err)
		}
	}
	if err := getOnce(c); !errors.Is(err, ErrHalt) || !strings.Contains(err.Error(), "omni failed 2 requests in a row") {
		t.Fatalf("got %v, want the breaker open", err)
	}
	if n := len(srv.Requests()); n != 5 {
		t.Errorf("got %d requests, want 5", n)
	}
}

func TestBreakerHalfOpensAfterCooldown(t *testing.T) {
	entered, release := make(chan struct{}), make(chan struct{})
	held := func(w http.ResponseWriter, r *http.Request) {
		close(entered)
		<-release
		reply(200, userJSON("u1", "a@example.com"))(w, r)
	}
	srv := newScript(t, reply(502, nil), reply(502, nil), reply(502, nil), held, reply(200, userJSON("u1", "a@example.com")))
	c, clk := newTestClient(t, srv.URL, func(c *Config) {
		c.MaxAttempts = 1
		c.BreakerThreshold = 2
		c.BreakerCooldown = time.Minute
	})
	requests := func(want int) {
		t.Helper()
		if n := len(srv.Requests()); n != want {
			t.Fatalf("got %d requests, want %d", n, want)
		}
	}
	halted := func(what string) {
		t.Helper()
		if err := getOnce(c); !errors.Is(err, ErrHalt) {
			t.Fatalf("%s: got %v, want ErrHalt", what, err)
		}
	}
	_, _ = getOnce(c), getOnce(c)
	requests(2)
	halted("open")
	clk.Advance(59 * time.Second)
	halted("before the cooldown ends")
	requests(2)

	// Half-open: one trial goes; it fails, and the breaker opens again.
	clk.Advance(time.Second)
	if err := getOnce(c); err == nil || errors.Is(err, ErrHalt) {
		t.Fatalf("trial: got %v, want the 502", err)
	}
	requests(3)
	halted("reopened")

	// Next trial: while it is under way nothing else goes; it succeeds and
	// the breaker closes.
	clk.Advance(time.Minute)
	done := make(chan error)
	go func() { done <- getOnce(c) }()
	<-entered
	halted("during the trial")
	close(release)
	if err := <-done; err != nil {
		t.Fatalf("trial: %v", err)
	}
	if err := getOnce(c); err != nil {
		t.Fatalf("after the trial: %v", err)
	}
	requests(5)
}

func TestResetBreaker(t *testing.T) {
	srv := newScript(t, reply(500, nil), reply(200, userJSON("u1", "a@example.com")))
	c, _ := newTestClient(t, srv.URL, func(c *Config) { c.MaxAttempts = 1; c.BreakerThreshold = 1 })
	_ = getOnce(c)
	if err := getOnce(c); !errors.Is(err, ErrHalt) {
		t.Fatalf("got %v, want the breaker open", err)
	}
	c.ResetBreaker()
	if err := getOnce(c); err != nil {
		t.Fatalf("after ResetBreaker: %v", err)
	}
}

func TestBreakerDisabled(t *testing.T) {
	srv := newScript(t, repeat(12, reply(503, nil))...)
	c, _ := newTestClient(t, srv.URL, func(c *Config) { c.MaxAttempts = 1; c.BreakerThreshold = -1 })
	for range 12 {
		if err := getOnce(c); errors.Is(err, ErrHalt) {
			t.Fatalf("got %v with the breaker disabled", err)
		}
	}
	if n := len(srv.Requests()); n != 12 {
		t.Errorf("got %d requests, want 12", n)
	}
}
