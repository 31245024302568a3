package omnitest

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

func createBody(name string) map[string]any {
	return map[string]any{"userName": name, "displayName": "X"}
}

func TestErrorFaults(t *testing.T) {
	srv, base := Start(t, Options{})
	c := newClient(t, base)
	srv.SetFaults(Faults{Seed: 7, ErrorRate: 1})
	seen := map[int]int{}
	for i := range 40 {
		r := c.do("POST", "/users", createBody(fmt.Sprintf("u%d@example.com", i)))
		seen[r.status]++
		code := map[int]string{500: "internal_error", 503: "service_unavailable"}[r.status]
		r.wantOmniError(t, r.status, code)
	}
	if seen[500] == 0 || seen[503] == 0 || seen[500]+seen[503] != 40 {
		t.Fatalf("statuses = %v, want only 500 and 503, both", seen)
	}
	if n := len(srv.Users()); n != 0 {
		t.Fatalf("users = %d: a 5xx fault must not apply", n)
	}
	if st := srv.Stats(); st.Faults != 40 || st.Applied != 0 {
		t.Fatalf("stats = %+v", st)
	}
}

func TestRateLimitFaults(t *testing.T) {
	srv, base := Start(t, Options{RetryAfter: true})
	c := newClient(t, base)
	srv.SetFaults(Faults{RateLimitRate: 1})
	r := c.do("POST", "/users", createBody("a@example.com"))
	r.wantOmniError(t, http.StatusTooManyRequests, "rate_limited")
	if r.header.Get("Retry-After") != "1" {
		t.Fatalf("Retry-After %q, want 1", r.header.Get("Retry-After"))
	}
	if st := srv.Stats(); len(srv.Users()) != 0 || st.TooMany != 1 || st.Faults != 1 {
		t.Fatalf("users %d, stats %+v", len(srv.Users()), st)
	}
}

// statuses sends n POSTs (and, when withGets, a GET before each) and returns
// the POST statuses.
func statuses(t *testing.T, srv *Server, c *client, n int, withGets bool, prefix string) []int {
	t.Helper()
	var out []int
	for i := range n {
		if withGets {
			c.do("GET", "/users?count=1", nil)
		}
		out = append(out, c.do("POST", "/users", createBody(fmt.Sprintf("%s%d@example.com", prefix, i))).status)
	}
	return out
}

func TestFaultsAreDeterministic(t *testing.T) {
	f := Faults{Seed: 42, Methods: []string{"POST"}, ErrorRate: 0.3, RateLimitRate: 0.2}
	srv, base := Start(t, Options{})
	c := newClient(t, base)

	srv.SetFaults(f)
	first := statuses(t, srv, c, 60, false, "a")
	srv.SetFaults(f)
	again := statuses(t, srv, c, 60, true, "b")
	if !slices.Equal(first, again) {
		t.Fatalf("same seed, different faults:\n%v\n%v", first, again)
	}
	kinds := map[int]bool{}
	for _, s := range first {
		kinds[s] = true
	}
	if !kinds[201] || !kinds[429] || !(kinds[500] || kinds[503]) {
		t.Fatalf("statuses %v: want a mix of 201, 429 and 5xx", first)
	}
	f.Seed = 43
	srv.SetFaults(f)
	if other := statuses(t, srv, c, 60, false, "c"); slices.Equal(first, other) {
		t.Fatal("a different seed gave the same faults")
	}
	if st := srv.Stats(); st.ByMethodStatus["GET 200"] != 60 {
		t.Fatalf("GETs were faulted though Methods is POST only: %v", st.ByMethodStatus)
	}
}

func TestDropFault(t *testing.T) {
	srv, base := Start(t, Options{})
	c := newClient(t, base)
	srv.SetFaults(Faults{DropRate: 1})
	_, err := c.try(context.Background(), "POST", "/users", createBody("a@example.com"))
	if err == nil {
		t.Fatal("POST answered despite a drop")
	}
	if n := len(srv.Users()); n != 0 {
		t.Fatalf("users = %d: a dropped request must not apply", n)
	}
	if st := srv.Stats(); st.ByMethodStatus["POST dropped"] != 1 || st.Faults != 1 || st.Applied != 0 {
		t.Fatalf("stats = %+v", st)
	}
}

func TestLostReplyFault(t *testing.T) {
	srv, base := Start(t, Options{})
	c := newClient(t, base)
	srv.SetFaults(Faults{LostReplyRate: 1, Methods: []string{"POST"}})
	_, err := c.try(context.Background(), "POST", "/users", createBody("a@example.com"))
	if err == nil {
		t.Fatal("POST answered despite a lost reply")
	}
	if _, found := findUser(srv, "a@example.com"); !found {
		t.Fatal("a lost reply must still apply the request")
	}
	// The client resolves the unknown outcome with a filter, which is not
	// faulted here, and a retried create meets the conflict.
	if l := c.do("GET", `/users?filter=userName+eq+%22a@example.com%22`, nil).list(t); l.TotalResults != 1 {
		t.Fatalf("filter after a lost reply: %d results", l.TotalResults)
	}
	if st := srv.Stats(); st.ByMethodStatus["POST lost"] != 1 || st.Applied != 1 || st.Faults != 1 {
		t.Fatalf("stats = %+v", st)
	}
}

// hangOnce sends one POST that the server holds; it cancels the request once
// the server reports the hang and returns the client's error.
func hangOnce(t *testing.T, srv *Server, c *client, name string) error {
	t.Helper()
	hanging := make(chan struct{}, 1)
	setHangHook(t, srv, func() { hanging <- struct{}{} })
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	errc := make(chan error, 1)
	go func() {
		_, err := c.try(ctx, "POST", "/users", createBody(name))
		errc <- err
	}()
	select {
	case <-hanging:
	case err := <-errc:
		t.Fatalf("request ended before hanging: %v", err)
	}
	cancel()
	return <-errc
}

func setHangHook(t *testing.T, srv *Server, hook func()) {
	t.Helper()
	srv.mu.Lock()
	srv.hangHook = hook
	srv.mu.Unlock()
	t.Cleanup(func() {
		srv.mu.Lock()
		srv.hangHook = nil
		srv.mu.Unlock()
	})
}

func TestHangFault(t *testing.T) {
	for _, applied := range []bool{false, true} {
		t.Run(fmt.Sprintf("HangApplied=%v", applied), func(t *testing.T) {
			srv, base := Start(t, Options{})
			c := newClient(t, base)
			srv.SetFaults(Faults{HangRate: 1, HangApplied: applied})
			if err := hangOnce(t, srv, c, "h@example.com"); !errors.Is(err, context.Canceled) {
				t.Fatalf("client error %v, want context.Canceled", err)
			}
			if _, found := findUser(srv, "h@example.com"); found != applied {
				t.Fatalf("user stored = %v, want %v", found, applied)
			}
			if st := srv.Stats(); st.ByMethodStatus["POST hung"] != 1 || st.Faults != 1 {
				t.Fatalf("stats = %+v", st)
			}
		})
	}
}

func TestCloseReleasesHungRequests(t *testing.T) {
	srv, base := Start(t, Options{})
	c := newClient(t, base)
	srv.SetFaults(Faults{HangRate: 1})
	hanging := make(chan struct{}, 1)
	setHangHook(t, srv, func() { hanging <- struct{}{} })
	errc := make(chan error, 1)
	go func() {
		_, err := c.try(context.Background(), "GET", "/users", nil)
		errc <- err
	}()
	select {
	case <-hanging:
	case err := <-errc:
		t.Fatalf("request ended before hanging: %v", err)
	}
	srv.Close()
	if err := <-errc; err == nil {
		t.Fatal("a hung request released by Close got an answer")
	}
}

func TestLatency(t *testing.T) {
	srv, base := Start(t, Options{})
	c := newClient(t, base)
	// An hour of latency on POST only: a GET is answered, a POST outlives
	// the client's patience.
	srv.SetFaults(Faults{Latency: time.Hour, Methods: []string{"POST"}})
	if r := c.do("GET", "/users", nil); r.status != http.StatusOK {
		t.Fatalf("GET: %d", r.status)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := c.try(ctx, "POST", "/users", createBody("l@example.com")); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("POST under an hour of latency: %v, want the client's deadline", err)
	}
	if _, found := findUser(srv, "l@example.com"); found {
		t.Fatal("a request abandoned during latency was applied")
	}
}

// TestConcurrentClients runs clients in parallel against faults; under -race
// it checks the server's locking, and the counters must add up.
func TestConcurrentClients(t *testing.T) {
	srv, base := Start(t, Options{})
	// POST only: net/http retries an idempotent GET on a reused connection
	// closed without an answer, which would hide lost replies from the count.
	srv.SetFaults(Faults{Seed: 3, Methods: []string{"POST"}, ErrorRate: 0.1, RateLimitRate: 0.1, LostReplyRate: 0.1})
	const workers, each = 6, 40
	var wg sync.WaitGroup
	var mu sync.Mutex
	answered, failed := 0, 0
	for w := range workers {
		c := newClient(t, base)
		wg.Go(func() {
			for i := range each {
				name := fmt.Sprintf("w%d-%d@example.com", w, i)
				var err error
				switch i % 4 {
				case 0, 1:
					_, err = c.try(context.Background(), "POST", "/users", createBody(name))
				case 2:
					_, err = c.try(context.Background(), "GET", "/users?count=5&startIndex=3", nil)
				case 3:
					_, err = c.try(context.Background(), "GET", "/users?filter="+strings.ReplaceAll(`userName eq "`+name+`"`, " ", "+"), nil)
				}
				mu.Lock()
				if err != nil {
					failed++
				} else {
					answered++
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	st := srv.Stats()
	if st.Total != workers*each || answered+failed != workers*each {
		t.Fatalf("total %d, answered %d + failed %d, want %d", st.Total, answered, failed, workers*each)
	}
	if lost := st.ByMethodStatus["POST lost"]; lost != failed || lost == 0 {
		t.Fatalf("%d lost replies, %d client errors", lost, failed)
	}
	if created := st.ByMethodStatus["POST 201"] + st.ByMethodStatus["POST lost"]; created != len(srv.Users()) {
		t.Fatalf("201s + lost POSTs = %d, users = %d", created, len(srv.Users()))
	}
}
