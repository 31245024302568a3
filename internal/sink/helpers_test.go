package sink

import (
	"context"
	"encoding/json"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/syncd-dev/syncd/internal/testsupport/testenv"
)

const testToken = "tok/en+&<very-secret>"

// fakeClock replaces the Client's clock, sleep and jitter so retries run
// instantly and their delays can be checked exactly. With advance set, a
// sleep moves the clock on (one goroutine); without it the clock stands
// still, which keeps the token bucket's arithmetic exact when several
// goroutines share it.
type fakeClock struct {
	mu      sync.Mutex
	t       time.Time
	advance bool
	sleeps  []time.Duration
}

func newFakeClock(advance bool) *fakeClock {
	return &fakeClock{t: time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC), advance: advance}
}

func (f *fakeClock) Now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.t
}

func (f *fakeClock) Sleep(ctx context.Context, d time.Duration) error {
	f.mu.Lock()
	f.sleeps = append(f.sleeps, d)
	if f.advance {
		f.t = f.t.Add(d)
	}
	f.mu.Unlock()
	return ctx.Err()
}

// Advance moves the clock on by d, as time spent elsewhere would.
func (f *fakeClock) Advance(d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.t = f.t.Add(d)
}

func (f *fakeClock) Sleeps() []time.Duration {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]time.Duration(nil), f.sleeps...)
}

// install makes c use the fake clock, and the upper bound of every jitter
// range, so backoff is 500ms, 1s, 2s, ….
func (f *fakeClock) install(c *Client) {
	c.now = f.Now
	c.sleep = f.Sleep
	c.jitter = func(d time.Duration) time.Duration { return d }
}

// newTestClient builds a Client for baseURL on a fake clock, with the
// limiter off unless mod sets a rate.
func newTestClient(t *testing.T, baseURL string, mod func(*Config)) (*Client, *fakeClock) {
	t.Helper()
	cfg := Config{BaseURL: baseURL, Token: testToken, RequestsPerMinute: -1, Timeout: 5 * time.Second}
	if mod != nil {
		mod(&cfg)
	}
	c, err := New(cfg)
	if err != nil {
		t.Fatalf("new client: %v", err)
	}
	clk := newFakeClock(true)
	clk.install(c)
	t.Cleanup(c.hc.CloseIdleConnections)
	return c, clk
}

// seen is one request a scripted server received.
type seen struct {
	Method, Path, Query string
	Header              http.Header
	Body                []byte
}

// script is a server that answers requests with steps in order, failing the
// test if more requests arrive than steps were written. It gives the exact
// sequences of answers that client-side retry logic needs; behaviour Omni
// decides is tested against the stand-in instead.
type script struct {
	t     *testing.T
	mu    sync.Mutex
	steps []http.HandlerFunc
	reqs  []seen
	URL   string
}

func newScript(t *testing.T, steps ...http.HandlerFunc) *script {
	t.Helper()
	s, _ := startScript(t, false, steps)
	return s
}

// newTLSScript is newScript over TLS; the server is returned for its
// certificate. Handshake failures, which TLS tests cause on purpose, are not
// logged.
func newTLSScript(t *testing.T, steps ...http.HandlerFunc) (*script, *httptest.Server) {
	t.Helper()
	return startScript(t, true, steps)
}

func startScript(t *testing.T, useTLS bool, steps []http.HandlerFunc) (*script, *httptest.Server) {
	s := &script{t: t, steps: steps}
	hs := httptest.NewUnstartedServer(s)
	if useTLS {
		hs.Config.ErrorLog = log.New(io.Discard, "", 0)
		hs.StartTLS()
	} else {
		hs.Start()
	}
	t.Cleanup(hs.Close)
	s.URL = hs.URL + "/api/scim/v2"
	return s, hs
}

func (s *script) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	s.mu.Lock()
	n := len(s.reqs)
	s.reqs = append(s.reqs, seen{Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery, Header: r.Header.Clone(), Body: body})
	var step http.HandlerFunc
	if n < len(s.steps) {
		step = s.steps[n]
	}
	s.mu.Unlock()
	if step == nil {
		s.t.Errorf("unexpected request %d: %s %s", n+1, r.Method, r.URL.Path)
		http.Error(w, "unexpected", http.StatusTeapot)
		return
	}
	step(w, r)
}

func (s *script) Requests() []seen {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]seen(nil), s.reqs...)
}

// Methods lists the methods of the requests received, in order.
func (s *script) Methods() []string {
	var methods []string
	for _, r := range s.Requests() {
		methods = append(methods, r.Method)
	}
	return methods
}

// repeat is n copies of one step.
func repeat(n int, step http.HandlerFunc) []http.HandlerFunc {
	steps := make([]http.HandlerFunc, n)
	for i := range steps {
		steps[i] = step
	}
	return steps
}

// reply answers with a status and a JSON body (nil for none).
func reply(status int, body any, header ...string) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		for i := 0; i+1 < len(header); i += 2 {
			w.Header().Set(header[i], header[i+1])
		}
		if body == nil {
			w.WriteHeader(status)
			return
		}
		b, err := json.Marshal(body)
		if err != nil {
			panic(err)
		}
		if w.Header().Get("Content-Type") == "" {
			w.Header().Set("Content-Type", "application/scim+json")
		}
		w.WriteHeader(status)
		_, _ = w.Write(b)
	}
}

// raw answers with a status, content type and body as given.
func raw(status int, contentType, body string) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		if contentType != "" {
			w.Header().Set("Content-Type", contentType)
		}
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	}
}

// drop closes the connection without answering.
func drop(w http.ResponseWriter, _ *http.Request) {
	conn, _, err := w.(http.Hijacker).Hijack()
	if err != nil {
		panic(err)
	}
	_ = conn.Close()
}

func userJSON(id, userName string) map[string]any {
	return map[string]any{
		"schemas":     []string{schemaUser},
		"id":          id,
		"userName":    userName,
		"displayName": userName,
		"active":      true,
	}
}

func listJSON(total int, users ...map[string]any) map[string]any {
	if users == nil {
		users = []map[string]any{}
	}
	return map[string]any{
		"schemas":      []string{"urn:ietf:params:scim:api:messages:2.0:ListResponse"},
		"totalResults": total,
		"startIndex":   1,
		"itemsPerPage": len(users),
		"Resources":    users,
	}
}

// logBuffer returns a debug-level logger writing to a buffer the test can
// search.
func logBuffer() (zerolog.Logger, *syncBuffer) {
	b := &syncBuffer{}
	return zerolog.New(b).Level(zerolog.DebugLevel), b
}

// syncBuffer is the test support package's concurrency-safe buffer.
type syncBuffer = testenv.Buffer
