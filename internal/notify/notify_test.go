package notify

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestEachProblemSendsOneMessage(t *testing.T) {
	for _, tc := range []struct {
		name string
		run  Run
		want Event
		text string
	}{
		{"failed run", failed, EventRunFailed, "syncd run 2 failed (error: ldap: connection refused)"},
		{"guard trip", guarded, EventGuardTripped, "a safety guard held deprovisions back: source has 40 users"},
		{"one of several keys refused", refused, EventKeyRefused, "Omni refused API key 2 (by position in the configuration)"},
		{"the only key refused", denied, EventKeyRefused, "Omni refused the API key"},
		{"a partial run", Run{RunID: 6, Outcome: "partial", Failed: true, Error: "operations failed"}, EventRunFailed,
			"syncd run 6 ended partial (error: operations failed)"},
		{"a run that failed before it was recorded", Run{Outcome: "failed", Failed: true, Error: "ldap: bind"}, EventRunFailed,
			"a syncd run failed (error: ldap: bind)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHook(t)
			n := start(t, h, nil, nil)
			n.Observe(tc.run)
			got := closeAndDrain(t, n, h)
			if len(got) != 1 {
				t.Fatalf("got %d messages, want 1: %+v", len(got), got)
			}
			m := got[0]
			if m.Event != tc.want || !strings.Contains(m.Text, tc.text) {
				t.Errorf("got event %q text %q, want %q containing %q", m.Event, m.Text, tc.want, tc.text)
			}
			if m.RunID != tc.run.RunID || m.Outcome != tc.run.Outcome || m.Error != tc.run.Error {
				t.Errorf("got %+v, want the run's id, outcome and error", m)
			}
			if !slices.Equal(m.GuardTrips, tc.run.GuardTrips) || !slices.Equal(m.KeysRefused, tc.run.KeysRefused) {
				t.Errorf("got trips %v keys %v, want %v %v", m.GuardTrips, m.KeysRefused, tc.run.GuardTrips, tc.run.KeysRefused)
			}
		})
	}
}

func TestCountsAreSentAsGiven(t *testing.T) {
	h := newHook(t)
	n := start(t, h, nil, nil)
	r := failed
	r.Counts = map[string]int{"created": 3, "failed": 1}
	n.Observe(r)
	got := closeAndDrain(t, n, h)
	if len(got) != 1 {
		t.Fatalf("got %d messages, want 1", len(got))
	}
	c, ok := got[0].Counts.(map[string]any)
	if !ok || c["created"] != float64(3) || c["failed"] != float64(1) {
		t.Errorf("got counts %#v", got[0].Counts)
	}
}

func TestSameProblemIsToldOnceAndAChangeAgain(t *testing.T) {
	h := newHook(t)
	n := start(t, h, nil, nil)
	other := refused
	other.KeysRefused = []int{3}
	for _, r := range []Run{failed, failed, guarded, guarded, failed, refused, refused, other} {
		n.Observe(r)
	}
	got := events(closeAndDrain(t, n, h))
	want := []Event{EventRunFailed, EventGuardTripped, EventRunFailed, EventKeyRefused, EventKeyRefused}
	if !slices.Equal(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
}

func TestRecoveryIsToldOnce(t *testing.T) {
	h := newHook(t)
	n := start(t, h, nil, nil)
	for _, r := range []Run{good, failed, good, good, guarded, good} {
		n.Observe(r)
	}
	got := closeAndDrain(t, n, h)
	want := []Event{EventRunFailed, EventRecovered, EventGuardTripped, EventRecovered}
	if !slices.Equal(events(got), want) {
		t.Fatalf("got %v, want %v", events(got), want)
	}
	if !strings.Contains(got[1].Text, "syncd run 1 succeeded again after run failed") {
		t.Errorf("recovery text %q", got[1].Text)
	}
	if !strings.Contains(got[3].Text, "after guard tripped") {
		t.Errorf("recovery text %q", got[3].Text)
	}
}

func TestDryAndInconclusiveRunsSendNothing(t *testing.T) {
	h := newHook(t)
	n := start(t, h, nil, nil)
	dryFail := failed
	dryFail.DryRun = true
	skipped := Run{RunID: 9, Outcome: "skipped", Failed: true, Inconclusive: true}
	n.Observe(dryFail)
	n.Observe(skipped)
	n.Observe(good)
	n.Observe(failed)
	dryGood := good
	dryGood.DryRun = true
	// Neither a dry run nor a skipped one is a recovery.
	n.Observe(dryGood)
	n.Observe(skipped)
	got := events(closeAndDrain(t, n, h))
	if want := []Event{EventRunFailed}; !slices.Equal(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
}

func TestRetriesWithBackoff(t *testing.T) {
	h := newHook(t, 500, 500, 200)
	var s sleeps
	n := start(t, h, nil, func(c *Config) { c.Sleep = s.sleep; c.Backoff = time.Second })
	n.Observe(failed)
	got := closeAndDrain(t, n, h)
	if h.attempts() != 3 || len(got) != 3 {
		t.Errorf("got %d attempts, want 3", h.attempts())
	}
	if want := []time.Duration{time.Second, 2 * time.Second}; !slices.Equal(s.d, want) {
		t.Errorf("waited %v, want %v", s.d, want)
	}
}

func TestGivesUpAfterAFewAttempts(t *testing.T) {
	for _, tc := range []struct {
		name   string
		status int
		want   int
	}{
		{"server errors are retried up to the bound", 503, 3},
		{"throttling is retried", 429, 3},
		{"a refusal is not retried", 404, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHook(t, tc.status, tc.status, tc.status, tc.status)
			var log logBuf
			n := start(t, h, &log, nil)
			n.Observe(failed)
			closeAndDrain(t, n, h)
			if h.attempts() != tc.want {
				t.Errorf("got %d attempts, want %d", h.attempts(), tc.want)
			}
			if !strings.Contains(log.String(), "giving up") {
				t.Errorf("log does not tell of the failure: %s", log.String())
			}
		})
	}
}

func TestHangingWebhookDoesNotBlockObserve(t *testing.T) {
	h := newHook(t)
	h.gate = make(chan struct{})
	n := start(t, h, nil, nil)
	// Observe returns while the webhook holds the request: were it to wait
	// for the answer, the test would never get past it.
	n.Observe(failed)
	m := <-h.got
	n.Observe(good)
	close(h.gate)
	got := append([]Message{m}, closeAndDrain(t, n, h)...)
	if want := []Event{EventRunFailed, EventRecovered}; !slices.Equal(events(got), want) {
		t.Errorf("got %v, want %v", events(got), want)
	}
}

func TestFullQueueDropsWithALogLine(t *testing.T) {
	h := newHook(t)
	h.gate = make(chan struct{})
	var log logBuf
	n := start(t, h, &log, func(c *Config) { c.QueueSize = 1 })
	n.Observe(failed)
	<-h.got            // in flight, held by the webhook
	n.Observe(good)    // queued
	n.Observe(guarded) // dropped
	if !strings.Contains(log.String(), "queue full") {
		t.Errorf("no log line for the dropped message: %s", log.String())
	}
	close(h.gate)
	got := events(closeAndDrain(t, n, h))
	if want := []Event{EventRecovered}; !slices.Equal(got, want) {
		t.Errorf("got %v after the first, want %v", got, want)
	}
}

func TestCloseGivesUpWhenItsContextEnds(t *testing.T) {
	h := newHook(t)
	h.gate = make(chan struct{})
	defer close(h.gate)
	n := start(t, h, nil, nil)
	n.Observe(failed)
	<-h.got
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := n.Close(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("Close: %v, want context.Canceled", err)
	}
	// Closed: later runs are dropped, not sent and not a panic.
	n.Observe(good)
}

func TestNewWantsAURL(t *testing.T) {
	if _, err := New(Config{}); err == nil {
		t.Error("New without a URL: no error")
	}
}
