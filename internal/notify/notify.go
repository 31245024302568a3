// Package notify tells a person, through an incoming webhook (Slack,
// Teams, or anything that takes a JSON POST), of the sync runs that need
// one: a run that failed, a guard that held deprovisions back, an API key
// Omni refused, and the first good run after any of these.
//
// A problem is told when it begins or changes kind (a failure after a
// guard trip, another key refused); the same problem run after run is told
// once, so that a daemon running every few minutes against a broken
// directory does not post a message every few minutes. The first good run
// after a problem is told once as "recovered"; later good runs, and dry
// runs, are not told at all. What was last told is kept in the process.
//
// Sending never holds a run up: messages go through a bounded queue to one
// goroutine that posts them, retrying a few times with backoff, and a
// message that finds the queue full is dropped with a log line. A failed
// delivery is logged and never fails a run. Neither logs nor errors name
// the webhook URL, and every text field is scrubbed of the secrets the
// notifier is given before it leaves the process.
package notify

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/rs/zerolog"
)

// Event is what a message tells of.
type Event string

// Events.
const (
	EventRunFailed    Event = "run_failed"
	EventGuardTripped Event = "guard_tripped"
	EventKeyRefused   Event = "key_refused"
	EventRecovered    Event = "recovered"
)

// Run is what the notifier needs to know of one run. The syncer's report
// translates to it; this package knows nothing of the syncer.
type Run struct {
	RunID   int64
	DryRun  bool
	Outcome string
	// Counts is sent as it is: any value encoding/json marshals.
	Counts     any
	GuardTrips []string
	// KeysRefused are the positions of the API keys Omni refused.
	KeysRefused []int
	// Unauthorized says Omni refused the (only) key: the run stopped.
	Unauthorized bool
	// Failed says the run did not do its job completely.
	Failed bool
	// Inconclusive says the run tells nothing either way (another replica
	// held the lock, or the run was interrupted): it is not told and does
	// not count as a recovery.
	Inconclusive bool
	Error        string
}

// Message is the JSON body posted. Text alone is what a Slack- or
// Teams-compatible webhook shows; the other fields are for a receiver that
// reads them.
type Message struct {
	Text        string   `json:"text"`
	Event       Event    `json:"event"`
	RunID       int64    `json:"runId"`
	Outcome     string   `json:"outcome"`
	Counts      any      `json:"counts,omitempty"`
	GuardTrips  []string `json:"guardTrips,omitempty"`
	Error       string   `json:"error,omitempty"`
	KeysRefused []int    `json:"keysRefused,omitempty"`
}

// Notifier decides which runs to tell of and posts them. Its methods are
// safe for concurrent use.
type Notifier struct {
	log    zerolog.Logger
	post   *poster
	scrub  *scrubber
	queue  chan Message
	cancel context.CancelFunc
	done   chan struct{}

	mu     sync.Mutex
	closed bool
	// last is the problem last told ("" after a recovery or before any).
	last string
	// lastEvent is the kind of the problem last told, for the recovery
	// message.
	lastEvent Event
}

// New starts a notifier posting to cfg.URL; Close stops it.
func New(cfg Config) (*Notifier, error) {
	cfg = cfg.withDefaults()
	if cfg.URL == "" {
		return nil, errors.New("notify: no webhook URL")
	}
	scrub := newScrubber(append(webhookSecrets(cfg.URL), cfg.Secrets...))
	ctx, cancel := context.WithCancel(context.Background())
	n := &Notifier{
		log:    cfg.Log,
		post:   newPoster(cfg, scrub),
		scrub:  scrub,
		queue:  make(chan Message, cfg.QueueSize),
		cancel: cancel,
		done:   make(chan struct{}),
	}
	go n.loop(ctx)
	return n, nil
}

// Observe decides whether r is worth telling and queues its message. It
// never blocks. A message dropped for a full queue still counts as told.
func (n *Notifier) Observe(r Run) {
	m, ok := n.decide(r)
	if !ok {
		return
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		n.log.Warn().Str("event", string(m.Event)).Msg("webhook: notifier closed; notification dropped")
		return
	}
	select {
	case n.queue <- m:
	default:
		n.log.Warn().Str("event", string(m.Event)).Int64("run", m.RunID).
			Msg("webhook: queue full; notification dropped")
	}
}

// decide returns the message r calls for, if any, and moves the notifier's
// memory of what it last told on.
func (n *Notifier) decide(r Run) (Message, bool) {
	if r.DryRun || r.Inconclusive {
		return Message{}, false
	}
	ev, key := classify(r)
	n.mu.Lock()
	defer n.mu.Unlock()
	switch {
	case ev == "" && n.last == "":
		return Message{}, false
	case ev == "":
		prev := n.lastEvent
		n.last, n.lastEvent = "", ""
		return n.message(EventRecovered, r, prev), true
	case key == n.last:
		return Message{}, false
	default:
		n.last, n.lastEvent = key, ev
		return n.message(ev, r, ""), true
	}
}

// classify names the problem in r, most pressing first, and a key that
// tells one problem from another of the same kind; "" for a good run.
func classify(r Run) (Event, string) {
	switch {
	case r.Unauthorized || len(r.KeysRefused) > 0:
		return EventKeyRefused, fmt.Sprintf("%s %v", EventKeyRefused, r.KeysRefused)
	case len(r.GuardTrips) > 0:
		return EventGuardTripped, string(EventGuardTripped)
	case r.Failed:
		return EventRunFailed, string(EventRunFailed)
	}
	return "", ""
}

// maxError bounds the error sent, and each guard trip.
const maxError = 1000

// message builds the scrubbed message for ev; prev is the problem a
// recovery follows.
func (n *Notifier) message(ev Event, r Run, prev Event) Message {
	m := Message{Event: ev, RunID: r.RunID, Outcome: r.Outcome, Counts: r.Counts,
		KeysRefused: r.KeysRefused, Error: n.scrub.clip(r.Error, maxError)}
	for _, t := range r.GuardTrips {
		m.GuardTrips = append(m.GuardTrips, n.scrub.clip(t, maxError))
	}
	var b strings.Builder
	if r.RunID != 0 {
		fmt.Fprintf(&b, "syncd run %d", r.RunID)
	} else {
		// The run failed before it was recorded, so it has no id.
		b.WriteString("a syncd run")
	}
	switch ev {
	case EventKeyRefused:
		b.WriteString(": Omni refused ")
		if len(r.KeysRefused) > 0 {
			fmt.Fprintf(&b, "API key %s (by position in the configuration); replace it", positions(r.KeysRefused))
		} else {
			b.WriteString("the API key; the run stopped. Check scim.token")
		}
	case EventGuardTripped:
		fmt.Fprintf(&b, ": a safety guard held deprovisions back: %s", strings.Join(m.GuardTrips, "; "))
	case EventRunFailed:
		if r.Outcome == "failed" || r.Outcome == "" {
			b.WriteString(" failed")
		} else {
			fmt.Fprintf(&b, " ended %s", r.Outcome)
		}
	case EventRecovered:
		fmt.Fprintf(&b, " succeeded again after %s", strings.ReplaceAll(string(prev), "_", " "))
	}
	if ev != EventRecovered && m.Error != "" {
		fmt.Fprintf(&b, " (error: %s)", m.Error)
	}
	m.Text = n.scrub.clip(b.String(), 3*maxError)
	return m
}

func positions(ps []int) string {
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = fmt.Sprint(p)
	}
	return strings.Join(s, ", ")
}

// loop posts the queued messages in order until the queue is closed.
func (n *Notifier) loop(ctx context.Context) {
	defer close(n.done)
	for m := range n.queue {
		n.post.deliver(ctx, m)
	}
}

// Close stops taking messages and waits until those queued are delivered
// or ctx is done, when the delivery in progress is abandoned and the rest
// dropped. It returns ctx.Err() in that case.
func (n *Notifier) Close(ctx context.Context) error {
	n.mu.Lock()
	if !n.closed {
		n.closed = true
		close(n.queue)
	}
	n.mu.Unlock()
	select {
	case <-n.done:
		n.cancel()
		return nil
	case <-ctx.Done():
		n.cancel()
		<-n.done
		return ctx.Err()
	}
}
