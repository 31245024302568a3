package notify

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/syncd-dev/syncd/internal/testsupport/testenv"
)

// hookPath stands for the secret a real webhook URL carries in its path.
const hookPath = "/services/T0SECRET/B0SECRET/xoxb-webhook-path-secret"

// hook is a webhook stand-in: it answers with the statuses given in turn
// (200 once they run out) and hands every body it reads to got.
type hook struct {
	srv *httptest.Server
	got chan Message
	// gate, when set, holds each request until it is closed.
	gate chan struct{}

	mu       sync.Mutex
	statuses []int
	calls    int
}

func newHook(t *testing.T, statuses ...int) *hook {
	t.Helper()
	h := &hook{got: make(chan Message, 64), statuses: statuses}
	h.srv = httptest.NewServer(http.HandlerFunc(h.serve))
	t.Cleanup(h.srv.Close)
	return h
}

func (h *hook) serve(w http.ResponseWriter, r *http.Request) {
	data, _ := io.ReadAll(r.Body)
	var m Message
	if err := json.Unmarshal(data, &m); err != nil || r.Method != http.MethodPost || r.URL.Path != hookPath {
		w.WriteHeader(http.StatusTeapot)
		return
	}
	h.mu.Lock()
	status := http.StatusOK
	if h.calls < len(h.statuses) {
		status = h.statuses[h.calls]
	}
	h.calls++
	gate := h.gate
	h.mu.Unlock()
	h.got <- m
	if gate != nil {
		select {
		case <-gate:
		case <-r.Context().Done():
		}
	}
	w.WriteHeader(status)
}

func (h *hook) url() string { return h.srv.URL + hookPath }

func (h *hook) attempts() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.calls
}

// drain returns what the hook has received so far without waiting; call it
// after Close, which waits for the deliveries.
func (h *hook) drain() []Message {
	var out []Message
	for {
		select {
		case m := <-h.got:
			out = append(out, m)
		default:
			return out
		}
	}
}

// logBuf is the test support package's concurrency-safe buffer.
type logBuf = testenv.Buffer

// sleeps records the waits between attempts and returns at once.
type sleeps struct {
	mu sync.Mutex
	d  []time.Duration
}

func (s *sleeps) sleep(_ context.Context, d time.Duration) error {
	s.mu.Lock()
	s.d = append(s.d, d)
	s.mu.Unlock()
	return nil
}

// start starts a notifier posting to h, logging to log when it is set,
// and waiting not at all between attempts.
func start(t *testing.T, h *hook, log *logBuf, tune func(*Config)) *Notifier {
	t.Helper()
	var s sleeps
	cfg := Config{URL: h.url(), Sleep: s.sleep, Log: zerolog.Nop()}
	if log != nil {
		cfg.Log = zerolog.New(log)
	}
	if tune != nil {
		tune(&cfg)
	}
	n, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = n.Close(context.Background()) })
	return n
}

// closeAndDrain flushes n and returns what h received.
func closeAndDrain(t *testing.T, n *Notifier, h *hook) []Message {
	t.Helper()
	if err := n.Close(context.Background()); err != nil {
		t.Fatalf("Close: %v", err)
	}
	return h.drain()
}

func events(ms []Message) []Event {
	out := make([]Event, len(ms))
	for i, m := range ms {
		out[i] = m.Event
	}
	return out
}

var (
	good    = Run{RunID: 1, Outcome: "success"}
	failed  = Run{RunID: 2, Outcome: "failed", Failed: true, Error: "ldap: connection refused"}
	guarded = Run{RunID: 3, Outcome: "partial", Failed: true, GuardTrips: []string{"source has 40 users, under 90% of the last good run's 100"},
		Error: "safety guard tripped, no user deprovisioned"}
	refused = Run{RunID: 4, Outcome: "partial", Failed: true, KeysRefused: []int{2}, Error: "omni refused an API key: key 2"}
	denied  = Run{RunID: 5, Outcome: "failed", Failed: true, Unauthorized: true, Error: "scim: unauthorized"}
)
