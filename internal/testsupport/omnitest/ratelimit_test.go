package omnitest

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestRateLimit(t *testing.T) {
	clock := newFakeClock()
	srv, base := Start(t, Options{RequestsPerMinute: 3, RetryAfter: true, Now: clock.Now})
	c := newClient(t, base)
	anon := newClient(t, base)
	anon.token = ""

	type step struct {
		advance    time.Duration
		method     string
		client     *client
		want       int
		retryAfter string
	}
	post := func(name string) map[string]any { return map[string]any{"userName": name, "displayName": "X"} }
	steps := []step{
		{0, "GET", c, 200, ""},                                      // t=0
		{10 * time.Second, "POST", c, 201, ""},                      // t=10
		{0, "GET", anon, 401, ""},                                   // unauthenticated: spends nothing
		{10 * time.Second, "GET", c, 200, ""},                       // t=20, budget spent
		{10 * time.Second, "GET", c, 429, "30"},                     // t=30: the t=0 slot frees at 60
		{0, "POST", c, 429, "30"},                                   // refused requests spend nothing
		{29*time.Second + 500*time.Millisecond, "GET", c, 429, "1"}, // t=59.5: rounds up
		{500 * time.Millisecond, "GET", c, 200, ""},                 // t=60: the t=0 slot left the window
		{0, "GET", c, 429, "10"},                                    // t=60: next frees at 70
		{20 * time.Second, "GET", c, 200, ""},                       // t=80: 10 and 20 left
		{0, "GET", c, 200, ""},
		{0, "GET", c, 429, "40"}, // window holds 60, 80, 80
	}
	for i, st := range steps {
		clock.Advance(st.advance)
		var r response
		if st.method == "POST" {
			r = st.client.do("POST", "/users", post("u"+strings.Repeat("x", i)+"@example.com"))
		} else {
			r = st.client.do("GET", "/users", nil)
		}
		if r.status != st.want {
			t.Fatalf("step %d (%s): status %d, want %d (body %s)", i, st.method, r.status, st.want, r.body)
		}
		if st.want == http.StatusTooManyRequests {
			r.wantOmniError(t, http.StatusTooManyRequests, "rate_limited")
		}
		if got := r.header.Get("Retry-After"); got != st.retryAfter {
			t.Fatalf("step %d: Retry-After %q, want %q", i, got, st.retryAfter)
		}
	}
	if n := len(srv.Users()); n != 1 {
		t.Errorf("users = %d, want 1: a refused POST must not apply", n)
	}
	st := srv.Stats()
	if st.TooMany != 5 || st.ByMethodStatus["GET 429"] != 4 || st.ByMethodStatus["POST 429"] != 1 || st.Total != len(steps) {
		t.Errorf("stats = %+v", st)
	}
}

func TestRateLimitWithoutRetryAfter(t *testing.T) {
	clock := newFakeClock()
	_, base := Start(t, Options{RequestsPerMinute: 1, Now: clock.Now})
	c := newClient(t, base)
	c.do("GET", "/users", nil)
	r := c.do("GET", "/users", nil)
	r.wantOmniError(t, http.StatusTooManyRequests, "rate_limited")
	if h := r.header.Get("Retry-After"); h != "" {
		t.Fatalf("Retry-After %q sent without Options.RetryAfter", h)
	}
}

func TestRateLimitPerToken(t *testing.T) {
	clock := newFakeClock()
	srv, base := Start(t, Options{Token: "key-1", RequestsPerMinute: 1, Now: clock.Now})
	c := newClient(t, base)
	c.token = "key-1"
	if r := c.do("GET", "/users", nil); r.status != http.StatusOK {
		t.Fatalf("first request: %d", r.status)
	}
	if r := c.do("GET", "/users", nil); r.status != http.StatusTooManyRequests {
		t.Fatalf("second request: %d, want 429", r.status)
	}
	// A new key has its own budget, as Omni's advice to use several keys
	// implies.
	srv.SetToken("key-2")
	c.token = "key-2"
	if r := c.do("GET", "/users", nil); r.status != http.StatusOK {
		t.Fatalf("first request with a new key: %d, want 200", r.status)
	}
}

func TestUnlimitedByDefault(t *testing.T) {
	srv, base := Start(t, Options{})
	c := newClient(t, base)
	for range 200 {
		if r := c.do("GET", "/users?count=0", nil); r.status != http.StatusOK {
			t.Fatalf("status %d", r.status)
		}
	}
	if st := srv.Stats(); st.TooMany != 0 || st.Total != 200 {
		t.Fatalf("stats = %+v", st)
	}
}
