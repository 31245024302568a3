package sink

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/syncd-dev/syncd/internal/identity"
)

var alice = identity.User{ID: "e1", UserName: "alice@example.com", DisplayName: "Alice", Active: true}

func TestRetriesTransientFailures(t *testing.T) {
	ok := reply(http.StatusOK, userJSON("u1", "alice@example.com"))
	tests := []struct {
		name   string
		first  http.HandlerFunc
		sleeps []time.Duration
	}{
		{"429 without Retry-After backs off", reply(429, map[string]string{"error": "rate_limited"}), []time.Duration{500 * time.Millisecond}},
		{"429 with Retry-After seconds", reply(429, nil, "Retry-After", "7"), []time.Duration{7 * time.Second}},
		{"429 with Retry-After date", reply(429, nil, "Retry-After", "Wed, 25 Nov 2026 12:00:12 GMT"), []time.Duration{12 * time.Second}},
		{"500", reply(500, map[string]string{"error": "internal_error"}), []time.Duration{500 * time.Millisecond}},
		{"503 with Retry-After", reply(503, nil, "Retry-After", "3"), []time.Duration{3 * time.Second}},
		{"dropped connection", drop, []time.Duration{500 * time.Millisecond}},
		{"garbage JSON", raw(200, "application/json", "{not json"), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newScript(t, tt.first, ok)
			c, clk := newTestClient(t, srv.URL, nil)
			u, err := c.Get(context.Background(), "u1")
			if tt.sleeps == nil {
				// A 200 with an unreadable body is not a transient failure.
				if err == nil || len(srv.Requests()) != 1 {
					t.Fatalf("got err %v after %d requests, want an error after 1", err, len(srv.Requests()))
				}
				return
			}
			if err != nil {
				t.Fatalf("get: %v", err)
			}
			if u.ID != "u1" {
				t.Errorf("got user %q, want u1", u.ID)
			}
			if n := len(srv.Requests()); n != 2 {
				t.Errorf("got %d requests, want 2", n)
			}
			if got := clk.Sleeps(); !slices.Equal(got, tt.sleeps) {
				t.Errorf("slept %v, want %v", got, tt.sleeps)
			}
		})
	}
}

func TestDoesNotRetryRefusals(t *testing.T) {
	tests := []struct {
		status       int
		unauthorized bool
	}{
		{400, false}, {401, true}, {403, true}, {404, false}, {409, false},
	}
	for _, tt := range tests {
		t.Run(http.StatusText(tt.status), func(t *testing.T) {
			srv := newScript(t, reply(tt.status, map[string]string{"error": "nope", "message": "refused"}))
			c, clk := newTestClient(t, srv.URL, nil)
			err := c.Patch(context.Background(), "u1", []Change{{Field: "displayName", Value: "Alice L."}})
			if !IsStatus(err, tt.status) {
				t.Fatalf("got %v, want status %d", err, tt.status)
			}
			if got := errors.Is(err, ErrUnauthorized); got != tt.unauthorized {
				t.Errorf("errors.Is(err, ErrUnauthorized) = %t, want %t", got, tt.unauthorized)
			}
			if errors.Is(err, ErrOutcomeUnknown) {
				t.Errorf("a refusal must not be reported as an unknown outcome: %v", err)
			}
			if n := len(srv.Requests()); n != 1 {
				t.Errorf("got %d requests, want 1", n)
			}
			if s := clk.Sleeps(); len(s) != 0 {
				t.Errorf("slept %v, want no sleep", s)
			}
		})
	}
}

func TestGivesUpAfterMaxAttempts(t *testing.T) {
	tests := []struct {
		name    string
		call    func(*Client) error
		unknown bool
	}{
		{"read", func(c *Client) error { _, err := c.Get(context.Background(), "u1"); return err }, false},
		{"idempotent write", func(c *Client) error { return c.SetActive(context.Background(), "u1", false) }, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newScript(t, repeat(4, reply(503, map[string]string{"error": "service_unavailable"}))...)
			c, clk := newTestClient(t, srv.URL, func(c *Config) { c.MaxAttempts = 4 })
			err := tt.call(c)
			if !IsStatus(err, 503) {
				t.Fatalf("got %v, want the last 503", err)
			}
			if got := errors.Is(err, ErrOutcomeUnknown); got != tt.unknown {
				t.Errorf("errors.Is(err, ErrOutcomeUnknown) = %t, want %t (%v)", got, tt.unknown, err)
			}
			if n := len(srv.Requests()); n != 4 {
				t.Errorf("got %d requests, want 4", n)
			}
			want := []time.Duration{500 * time.Millisecond, time.Second, 2 * time.Second}
			if got := clk.Sleeps(); !slices.Equal(got, want) {
				t.Errorf("slept %v, want %v", got, want)
			}
		})
	}
}

func TestBackoffIsCappedAndJittered(t *testing.T) {
	c, err := New(Config{BaseURL: "http://omni.invalid/api/scim/v2", Token: "x"})
	if err != nil {
		t.Fatal(err)
	}
	c.jitter = func(d time.Duration) time.Duration { return d }
	for attempt, want := range map[int]time.Duration{1: 500 * time.Millisecond, 2: time.Second, 6: 16 * time.Second, 7: 30 * time.Second, 40: 30 * time.Second} {
		if got := c.backoff(attempt); got != want {
			t.Errorf("backoff(%d) = %v, want %v", attempt, got, want)
		}
	}
	for range 1000 {
		if d := fullJitter(time.Second); d < 0 || d >= time.Second {
			t.Fatalf("fullJitter(1s) = %v, outside [0, 1s)", d)
		}
	}
}

func TestConfigSleepReplacesWaits(t *testing.T) {
	srv := newScript(t, reply(503, nil), reply(200, userJSON("u1", "a@example.com")))
	var slept []time.Duration
	c, err := New(Config{BaseURL: srv.URL, Token: testToken, RequestsPerMinute: 1,
		Sleep: func(ctx context.Context, d time.Duration) error { slept = append(slept, d); return ctx.Err() }})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Get(context.Background(), "u1"); err != nil {
		t.Fatal(err)
	}
	// One backoff within [0, 500ms), then a rate-limit wait of about a
	// minute: at 1/min the first attempt spent the bucket's only token.
	if len(slept) != 2 || slept[0] < 0 || slept[0] >= 500*time.Millisecond || slept[1] < time.Minute/2 {
		t.Errorf("slept %v", slept)
	}
}

func TestMaxElapsedBoundsRetries(t *testing.T) {
	srv := newScript(t, repeat(10, reply(500, nil))...)
	c, _ := newTestClient(t, srv.URL, func(c *Config) { c.MaxAttempts = 10; c.MaxElapsed = 3 * time.Second })
	_, err := c.Get(context.Background(), "u1")
	if !IsStatus(err, 500) {
		t.Fatalf("got %v, want the last 500", err)
	}
	// Waits of 0.5s and 1s fit in 3s; the next, 2s, would end at 3.5s.
	if n := len(srv.Requests()); n != 3 {
		t.Errorf("got %d requests, want 3", n)
	}
}

func TestRetryAfterBeyondBudgetGivesUp(t *testing.T) {
	srv := newScript(t, reply(429, nil, "Retry-After", "600"))
	c, clk := newTestClient(t, srv.URL, func(c *Config) { c.MaxElapsed = time.Minute })
	_, err := c.Get(context.Background(), "u1")
	if !IsStatus(err, 429) {
		t.Fatalf("got %v, want the 429", err)
	}
	if s := clk.Sleeps(); len(s) != 0 {
		t.Errorf("slept %v; waiting past the budget is pointless", s)
	}
}

func TestCanceledContextStopsRetries(t *testing.T) {
	srv := newScript(t, reply(503, nil), reply(200, userJSON("u1", "a@example.com")))
	c, _ := newTestClient(t, srv.URL, nil)
	ctx, cancel := context.WithCancel(context.Background())
	c.sleep = func(ctx context.Context, _ time.Duration) error { cancel(); return ctx.Err() }
	_, err := c.Get(ctx, "u1")
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v, want context.Canceled", err)
	}
	if n := len(srv.Requests()); n != 1 {
		t.Errorf("got %d requests, want 1", n)
	}
}

func TestPerAttemptTimeout(t *testing.T) {
	release := make(chan struct{})
	hang := func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}
	srv := newScript(t, hang, reply(204, nil))
	t.Cleanup(func() { close(release) })
	c, _ := newTestClient(t, srv.URL, func(c *Config) { c.Timeout = 50 * time.Millisecond })
	if err := c.SetActive(context.Background(), "u1", false); err != nil {
		t.Fatalf("set active: %v", err)
	}
	if n := len(srv.Requests()); n != 2 {
		t.Errorf("got %d requests, want 2", n)
	}
}

func TestCreateSettlesUnknownOutcomeByLookup(t *testing.T) {
	created := userJSON("u1", "alice@example.com")
	tests := []struct {
		name     string
		steps    []http.HandlerFunc
		wantID   string
		wantReqs []string
	}{
		{
			name:     "500 that landed",
			steps:    []http.HandlerFunc{reply(500, nil), reply(200, listJSON(1, created))},
			wantID:   "u1",
			wantReqs: []string{"POST", "GET"},
		},
		{
			name:     "dropped before applying",
			steps:    []http.HandlerFunc{drop, reply(200, listJSON(0)), reply(201, created)},
			wantID:   "u1",
			wantReqs: []string{"POST", "GET", "POST"},
		},
		{
			name:     "201 with garbage body",
			steps:    []http.HandlerFunc{raw(201, "application/scim+json", "<html>"), reply(200, listJSON(1, created))},
			wantID:   "u1",
			wantReqs: []string{"POST", "GET"},
		},
		{
			name:     "201 without id",
			steps:    []http.HandlerFunc{reply(201, map[string]any{"userName": "alice@example.com"}), reply(200, listJSON(1, created))},
			wantID:   "u1",
			wantReqs: []string{"POST", "GET"},
		},
		{
			name:     "201 with wrong content type",
			steps:    []http.HandlerFunc{raw(201, "text/html", `{"id":"u1"}`), reply(200, listJSON(1, created))},
			wantID:   "u1",
			wantReqs: []string{"POST", "GET"},
		},
		{
			name:     "lookup ignoring the filter does not adopt another user",
			steps:    []http.HandlerFunc{reply(502, nil), reply(200, listJSON(1, userJSON("u9", "bob@example.com"))), reply(201, created)},
			wantID:   "u1",
			wantReqs: []string{"POST", "GET", "POST"},
		},
		{
			name:     "429 is known not applied and needs no lookup",
			steps:    []http.HandlerFunc{reply(429, nil), reply(201, created)},
			wantID:   "u1",
			wantReqs: []string{"POST", "POST"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newScript(t, tt.steps...)
			c, _ := newTestClient(t, srv.URL, nil)
			u, err := c.Create(context.Background(), alice)
			if err != nil {
				t.Fatalf("create: %v", err)
			}
			if u.ID != tt.wantID {
				t.Errorf("got id %q, want %q", u.ID, tt.wantID)
			}
			var methods []string
			for _, r := range srv.Requests() {
				methods = append(methods, r.Method)
				if r.Method == "GET" && r.Query != "filter=userName%20eq%20%22alice%40example.com%22" {
					t.Errorf("lookup query %q", r.Query)
				}
			}
			if !slices.Equal(methods, tt.wantReqs) {
				t.Errorf("requests %v, want %v", methods, tt.wantReqs)
			}
		})
	}
}

func TestCreateOutcomeUnknownWhenRetriesRunOut(t *testing.T) {
	srv := newScript(t, reply(500, nil), reply(503, nil))
	c, _ := newTestClient(t, srv.URL, func(c *Config) { c.MaxAttempts = 2 })
	_, err := c.Create(context.Background(), alice)
	if !errors.Is(err, ErrOutcomeUnknown) {
		t.Fatalf("got %v, want ErrOutcomeUnknown", err)
	}
	if got := srv.Requests(); len(got) != 2 || got[1].Method != "GET" {
		t.Errorf("want POST then the lookup, got %d requests", len(got))
	}
}

func TestCreateConflictIsReturnedForAdoption(t *testing.T) {
	srv := newScript(t, reply(409, map[string]string{"error": "conflict", "message": "User with this email already exists"}))
	c, _ := newTestClient(t, srv.URL, nil)
	_, err := c.Create(context.Background(), alice)
	var e *Error
	if !errors.As(err, &e) || e.Status != 409 {
		t.Fatalf("got %v, want *Error 409", err)
	}
	if e.Message != "User with this email already exists" || e.Code != "conflict" {
		t.Errorf("got code %q message %q", e.Code, e.Message)
	}
}

func TestConflictAfterLostCreateIsNotUnknown(t *testing.T) {
	// The first POST landed but its answer was lost; the lookup raced it
	// and missed; the second POST is refused as a duplicate. The caller
	// adopts on 409, so the outcome is known.
	srv := newScript(t, drop, reply(200, listJSON(0)), reply(409, map[string]string{"error": "conflict"}))
	c, _ := newTestClient(t, srv.URL, nil)
	_, err := c.Create(context.Background(), alice)
	if !IsStatus(err, 409) || errors.Is(err, ErrOutcomeUnknown) {
		t.Fatalf("got %v, want a plain 409", err)
	}
}

func TestDeleteAfterLostReplyReportsNotFound(t *testing.T) {
	srv := newScript(t, drop, reply(404, map[string]string{"error": "not_found", "message": "User not found"}))
	c, _ := newTestClient(t, srv.URL, nil)
	err := c.Delete(context.Background(), "u1")
	if !IsStatus(err, 404) || errors.Is(err, ErrOutcomeUnknown) {
		t.Fatalf("got %v, want a plain 404 that the caller counts as done", err)
	}
}

func TestRequestsCarryAuthAndSCIMHeaders(t *testing.T) {
	srv := newScript(t, reply(200, userJSON("u1", "a@example.com")), reply(204, nil))
	c, _ := newTestClient(t, srv.URL, func(c *Config) { c.UserAgent = "syncd/test"; c.UsersPath = "Users" })
	if err := c.Patch(context.Background(), "a b/c", []Change{{Field: "displayName", Value: "Alice L."}}); err != nil {
		t.Fatal(err)
	}
	if err := c.SetActive(context.Background(), "u1", false); err != nil {
		t.Fatal(err)
	}
	reqs := srv.Requests()
	update, patch := reqs[0], reqs[1]
	if update.Method != "PATCH" || update.Path != "/api/scim/v2/Users/a b/c" {
		t.Errorf("got %s %s", update.Method, update.Path)
	}
	var ub patchBody
	if err := json.Unmarshal(update.Body, &ub); err != nil || len(ub.Operations) != 1 || ub.Operations[0].Path != "displayName" ||
		ub.Operations[0].Op != "replace" || ub.Operations[0].Value != "Alice L." {
		t.Errorf("update body %s (%v)", update.Body, err)
	}
	for _, r := range reqs {
		if got := r.Header.Get("Authorization"); got != "Bearer "+testToken {
			t.Errorf("%s: wrong Authorization header", r.Method)
		}
		if got := r.Header.Get("Content-Type"); got != "application/scim+json" {
			t.Errorf("%s: Content-Type %q", r.Method, got)
		}
		if got := r.Header.Get("User-Agent"); got != "syncd/test" {
			t.Errorf("%s: User-Agent %q", r.Method, got)
		}
	}
	var body patchBody
	if err := json.Unmarshal(patch.Body, &body); err != nil {
		t.Fatal(err)
	}
	if len(body.Operations) != 1 || body.Operations[0].Path != "active" || body.Operations[0].Value != false {
		t.Errorf("patch body %s", patch.Body)
	}
}

func TestTokenNeverLoggedOrInErrors(t *testing.T) {
	// The server echoes the Authorization header in its error body, raw
	// and in the escaped forms JSON encoders produce.
	echo := func(status int) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			h := r.Header.Get("Authorization")
			escaped, _ := json.Marshal(map[string]string{"error": "bad", "message": "got " + h})
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(status)
			body := string(escaped) + " raw=" + h + " slashed=" + strings.ReplaceAll(h, "/", `\/`)
			_, _ = w.Write([]byte(body))
		}
	}
	tests := []struct {
		name  string
		steps []http.HandlerFunc
		call  func(*Client) error
	}{
		{"401", []http.HandlerFunc{echo(401)}, func(c *Client) error { return c.Check(context.Background()) }},
		{"retried 500", []http.HandlerFunc{echo(500), echo(500)}, func(c *Client) error {
			_, err := c.Create(context.Background(), alice)
			return err
		}},
		{"400", []http.HandlerFunc{echo(400)}, func(c *Client) error { return c.Delete(context.Background(), "u1") }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newScript(t, tt.steps...)
			log, buf := logBuffer()
			c, _ := newTestClient(t, srv.URL, func(c *Config) { c.Logger = log; c.MaxAttempts = 2 })
			err := tt.call(c)
			if err == nil {
				t.Fatal("want an error")
			}
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("got %T %v, want an *Error in the chain", err, err)
			}
			if !strings.Contains(e.Body, redacted) {
				t.Errorf("body %q shows no redaction; did the server echo at all?", e.Body)
			}
			for _, form := range newRedactor(testToken).forms {
				for where, text := range map[string]string{"error": err.Error(), "body": e.Body, "message": e.Message, "log": buf.String()} {
					if strings.Contains(text, form) {
						t.Errorf("token form %q appears in the %s: %s", form, where, text)
					}
				}
			}
			// The secret's core, in any form, must be gone too.
			if strings.Contains(buf.String()+err.Error()+e.Body, "very-secret") {
				t.Error("the token leaked")
			}
			if strings.Contains(buf.String(), "alice") {
				t.Errorf("the log names the user; paths are logged without their query: %s", buf.String())
			}
			if !strings.Contains(buf.String(), `"message":"scim request"`) {
				t.Errorf("want one debug line per attempt, got log %s", buf.String())
			}
		})
	}
}

func TestObserveSeesEveryAttempt(t *testing.T) {
	srv := newScript(t, drop, reply(503, nil), reply(200, userJSON("u1", "a@example.com")))
	var got []string
	c, _ := newTestClient(t, srv.URL, func(c *Config) {
		c.Observe = func(method string, status int, d time.Duration) {
			if d < 0 {
				t.Errorf("negative duration %v", d)
			}
			got = append(got, fmt.Sprint(method, " ", status))
		}
	})
	if _, err := c.Get(context.Background(), "u1"); err != nil {
		t.Fatal(err)
	}
	if want := []string{"GET 0", "GET 503", "GET 200"}; !slices.Equal(got, want) {
		t.Errorf("observed %v, want %v", got, want)
	}
}

func TestUnauthorizedErrorCarriesHint(t *testing.T) {
	e := &Error{Method: "GET", Path: "/api/scim/v2/users", Status: 403, Code: "forbidden"}
	if got := e.Error(); !strings.Contains(got, "organisation API key is required") || !strings.HasPrefix(got, "scim GET /api/scim/v2/users: status 403: forbidden") {
		t.Errorf("Error() = %q", got)
	}
	if e := (&Error{Status: 404}); strings.Contains(e.Error(), "API key") {
		t.Errorf("a 404 blames the key: %q", e.Error())
	}
}

func TestLimiterIsSharedByConcurrentCallers(t *testing.T) {
	const workers, each = 10, 6
	srv := newScript(t, repeat(workers*each, reply(200, userJSON("u1", "a@example.com")))...)
	c, _ := newTestClient(t, srv.URL, func(c *Config) { c.RequestsPerMinute = 60 })
	// A clock that stands still: every wait the bucket hands out is then
	// exactly the offset of that request's slot from now.
	clk := newFakeClock(false)
	clk.install(c)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for range each {
				if _, err := c.Get(context.Background(), "u1"); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	got := clk.Sleeps()
	slices.Sort(got)
	// 60 requests at 60/min (paced 1% under) and burst 1: one goes at
	// once, the others one slot each later, whoever asked.
	if len(got) != workers*each-1 {
		t.Fatalf("got %d waits, want %d", len(got), workers*each-1)
	}
	for i, d := range got {
		if want := time.Duration(float64(i+1) * float64(time.Second) / pace); d < want-time.Millisecond || d > want+time.Millisecond {
			t.Fatalf("wait %d is %v, want %v: the bucket is not shared", i, d, want)
		}
	}
}

func TestLimiterAdaptsTo429(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	l := newLimiter(60)
	if got := l.perMinute(); got != 60 {
		t.Fatalf("configured %v/min, want 60", got)
	}
	if b := l.lim.Burst(); b != 1 {
		t.Errorf("burst %d, want 1", b)
	}
	for _, want := range []float64{30, 15, 7.5} {
		l.throttled(t0, 0)
		if got := l.perMinute(); !near(got, want) {
			t.Errorf("after 429: %v/min, want %v", got, want)
		}
	}
	for range 20 {
		l.throttled(t0, 0)
	}
	if got := l.perMinute(); !near(got, 1) {
		t.Errorf("floor: %v/min, want 1", got)
	}
	l.succeeded(t0)
	if got := l.perMinute(); !near(got, 4) {
		t.Errorf("after one success: %v/min, want 4 (floor + 1/20 of 60)", got)
	}
	for range 30 {
		l.succeeded(t0)
	}
	if got := l.perMinute(); !near(got, 60) {
		t.Errorf("after many successes: %v/min, want back at 60", got)
	}
}

func TestRetryAfterHoldsBackOtherCallers(t *testing.T) {
	clk := newFakeClock(false)
	l := newLimiter(-1)
	l.throttled(clk.Now(), 5*time.Second)
	if err := l.wait(context.Background(), clk.Now, clk.Sleep, nil); err != nil {
		t.Fatal(err)
	}
	if got := clk.Sleeps(); !slices.Equal(got, []time.Duration{5 * time.Second}) {
		t.Errorf("waited %v, want 5s", got)
	}
}

func TestClient429LowersRate(t *testing.T) {
	srv := newScript(t, reply(429, nil), reply(200, userJSON("u1", "a@example.com")))
	c, _ := newTestClient(t, srv.URL, func(c *Config) { c.RequestsPerMinute = 60 })
	if _, err := c.Get(context.Background(), "u1"); err != nil {
		t.Fatal(err)
	}
	// Halved by the 429, then one success's worth of recovery.
	if got := c.lim.perMinute(); !near(got, 33) {
		t.Errorf("rate %v/min, want 33", got)
	}
}

func TestListStopsWhenServerIgnoresPaging(t *testing.T) {
	page := listJSON(300, userJSON("u1", "a@example.com"), userJSON("u2", "b@example.com"))
	srv := newScript(t, reply(200, page), reply(200, page))
	c, _ := newTestClient(t, srv.URL, nil)
	n := 0
	err := c.List(context.Background(), func(User) error { n++; return nil })
	if err == nil || !strings.Contains(err.Error(), "ignores paging") {
		t.Fatalf("got %v, want a paging error", err)
	}
	if n != 2 {
		t.Errorf("listed %d users, want 2 (no duplicates)", n)
	}
}

func TestListStopsOnCallbackError(t *testing.T) {
	srv := newScript(t, reply(200, listJSON(2, userJSON("u1", "a@example.com"), userJSON("u2", "b@example.com"))))
	c, _ := newTestClient(t, srv.URL, nil)
	stop := errors.New("stop")
	n := 0
	err := c.List(context.Background(), func(User) error { n++; return stop })
	if !errors.Is(err, stop) || n != 1 {
		t.Fatalf("got %v after %d users, want stop after 1", err, n)
	}
}

func TestNew(t *testing.T) {
	tests := []struct {
		name    string
		cfg     Config
		wantErr string
	}{
		{"ok", Config{BaseURL: "https://acme.omniapp.co/api/scim/v2/", Token: "k"}, ""},
		{"relative url", Config{BaseURL: "/api/scim/v2", Token: "k"}, "absolute"},
		{"ftp", Config{BaseURL: "ftp://acme/api", Token: "k"}, "absolute"},
		{"query", Config{BaseURL: "https://acme/api?x=1", Token: "k"}, "no query"},
		{"credentials", Config{BaseURL: "https://u:p@acme/api", Token: "k"}, "credentials"},
		{"no token", Config{BaseURL: "https://acme/api"}, "no API token"},
		{"token with newline", Config{BaseURL: "https://acme/api", Token: "sec\nret"}, "not allowed"},
		{"users path", Config{BaseURL: "https://acme/api", Token: "k", UsersPath: "people"}, "users or Users"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := New(tt.cfg)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				if c.base != "https://acme.omniapp.co/api/scim/v2" || c.usersPath != "users" || c.maxAttempts != 6 ||
					c.timeout != 30*time.Second || c.maxElapsed != 5*time.Minute || c.lim.perMinute() != 60 {
					t.Errorf("defaults not applied: %+v", c)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("got %v, want an error containing %q", err, tt.wantErr)
			}
			if tt.cfg.Token != "" && strings.Contains(err.Error(), tt.cfg.Token) {
				t.Errorf("error shows the token: %v", err)
			}
		})
	}
}

func near(a, b float64) bool { return a-b < 1e-9 && b-a < 1e-9 }
