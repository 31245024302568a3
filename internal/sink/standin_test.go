package sink

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/syncd-dev/syncd/internal/identity"
	"github.com/syncd-dev/syncd/internal/testsupport/omnitest"
)

// startOmni starts the stand-in and a client for it, limiter off and retries
// instant, with the given users path.
func startOmni(t *testing.T, opts omnitest.Options, usersPath string, mod func(*Config)) (*omnitest.Server, *Client, *fakeClock) {
	t.Helper()
	opts.Token = testToken
	srv, base := omnitest.Start(t, opts)
	c, clk := newTestClient(t, base, func(c *Config) {
		c.UsersPath = usersPath
		if mod != nil {
			mod(c)
		}
	})
	return srv, c, clk
}

func TestStandinUserLifecycle(t *testing.T) {
	for _, path := range []string{"users", "Users"} {
		t.Run(path, func(t *testing.T) {
			srv, c, _ := startOmni(t, omnitest.Options{}, path, nil)
			ctx := context.Background()

			created, err := c.Create(ctx, alice)
			if err != nil {
				t.Fatalf("create: %v", err)
			}
			if created.ID == "" || created.UserName != alice.UserName || created.DisplayName != "Alice" || !created.Active {
				t.Errorf("created %+v", created)
			}
			if _, err := c.Create(ctx, alice); !IsStatus(err, http.StatusConflict) {
				t.Errorf("second create: got %v, want 409 for adoption", err)
			}

			got, err := c.Get(ctx, created.ID)
			if err != nil || got.ID != created.ID {
				t.Fatalf("get: %+v %v", got, err)
			}
			found, ok, err := c.FindByUserName(ctx, alice.UserName)
			if err != nil || !ok || found.ID != created.ID {
				t.Fatalf("find: %+v %t %v", found, ok, err)
			}
			if _, ok, err := c.FindByUserName(ctx, "nobody@example.com"); err != nil || ok {
				t.Fatalf("find missing: %t %v", ok, err)
			}

			renamed := alice
			renamed.UserName, renamed.DisplayName = "alice.l@example.com", "Alice L."
			if err := c.Patch(ctx, created.ID, []Change{{Field: "userName", Value: renamed.UserName}, {Field: "displayName", Value: "Alice L."}}); err != nil {
				t.Fatalf("patch: %v", err)
			}
			if got, err := c.Get(ctx, created.ID); err != nil || got.UserName != renamed.UserName || got.DisplayName != "Alice L." {
				t.Fatalf("after patch: %+v %v", got, err)
			}

			if err := c.SetActive(ctx, created.ID, false); err != nil {
				t.Fatalf("deactivate: %v", err)
			}
			if u, _ := srv.User(created.ID); u.Active {
				t.Error("user still active after SetActive(false)")
			}
			// Omni cannot reactivate; the refusal is final, not retried.
			before := srv.Stats().Total
			if err := c.SetActive(ctx, created.ID, true); !IsStatus(err, http.StatusBadRequest) {
				t.Errorf("reactivate: got %v, want 400", err)
			}
			if n := srv.Stats().Total - before; n != 1 {
				t.Errorf("reactivation took %d requests, want 1", n)
			}

			if err := c.Delete(ctx, created.ID); err != nil {
				t.Fatalf("delete: %v", err)
			}
			if err := c.Delete(ctx, created.ID); !IsStatus(err, http.StatusNotFound) {
				t.Errorf("second delete: got %v, want 404", err)
			}
			if _, err := c.Get(ctx, created.ID); !IsStatus(err, http.StatusNotFound) {
				t.Errorf("get deleted: got %v, want 404", err)
			}
		})
	}
}

func TestStandinFindEscapesUserName(t *testing.T) {
	srv, c, _ := startOmni(t, omnitest.Options{}, "", nil)
	for _, name := range []string{"o'brien+tag@example.com", "o'brien tag@example.com"} {
		srv.AddUser(omnitest.User{UserName: name, DisplayName: "x", Active: true})
	}
	u, ok, err := c.FindByUserName(context.Background(), "o'brien+tag@example.com")
	if err != nil || !ok || u.UserName != "o'brien+tag@example.com" {
		t.Fatalf("got %+v %t %v; a + must reach the server as a plus, not a space", u, ok, err)
	}
	u, ok, err = c.FindByUserName(context.Background(), "O'Brien+Tag@Example.com")
	if err != nil || !ok || u.UserName != "o'brien+tag@example.com" {
		t.Errorf("case-insensitive match: got %+v %t %v", u, ok, err)
	}
}

func TestStandinAttributesRoundTrip(t *testing.T) {
	srv, c, _ := startOmni(t, omnitest.Options{}, "", nil)
	ctx := context.Background()
	u := alice
	u.Attributes = map[string]string{"department": "Engineering", "costCenter": "4711", "empty": ""}
	created, err := c.Create(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	if !maps.Equal(created.Attributes, u.Attributes) {
		t.Errorf("create answered attributes %v, want %v", created.Attributes, u.Attributes)
	}
	got, err := c.Get(ctx, created.ID)
	if err != nil || !maps.Equal(got.Attributes, u.Attributes) {
		t.Errorf("get: attributes %v (%v), want %v", got.Attributes, err, u.Attributes)
	}
	// A PATCH removing one attribute leaves the others.
	if err := c.Patch(ctx, created.ID, []Change{{Attribute: "department", Remove: true}}); err != nil {
		t.Fatal(err)
	}
	after, err := c.Get(ctx, created.ID)
	if _, gone := after.Attributes["department"]; err != nil || gone || len(after.Attributes) != len(u.Attributes)-1 {
		t.Errorf("after removing department: %v (%v), want the others kept", after.Attributes, err)
	}

	// Omni may hold integers and lists, set by an admin or another IdP.
	seeded := srv.AddUser(omnitest.User{UserName: "bob@example.com", DisplayName: "Bob", Active: true,
		Attributes: map[string]any{"level": int64(3), "regions": []any{"us", "eu"}, "team": "core"}})
	got, err = c.Get(ctx, seeded.ID)
	want := map[string]string{"level": "3", "regions": "eu,us", "team": "core"}
	if err != nil || !maps.Equal(got.Attributes, want) {
		t.Errorf("lenient read: %v (%v), want %v", got.Attributes, err, want)
	}
}

func TestStandinListPages(t *testing.T) {
	srv, c, _ := startOmni(t, omnitest.Options{}, "", nil)
	for i := range 250 {
		srv.AddUser(omnitest.User{UserName: fmt.Sprintf("u%03d@example.com", i), DisplayName: "U", Active: i%2 == 0})
	}
	srv.ResetStats()
	var names []string
	if err := c.List(context.Background(), func(u User) error { names = append(names, u.UserName); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(names) != 250 || names[0] != "u000@example.com" || names[249] != "u249@example.com" {
		t.Fatalf("listed %d users (%v … %v), want 250 in creation order", len(names), first(names), last(names))
	}
	st := srv.Stats()
	if st.Total != 3 || st.ByMethodStatus["GET 200"] != 3 {
		t.Errorf("listing took %v, want 3 pages", st.ByMethodStatus)
	}
}

func TestStandinListFollowsAGrowingTotal(t *testing.T) {
	srv, c, _ := startOmni(t, omnitest.Options{}, "", nil)
	for i := range 150 {
		srv.AddUser(omnitest.User{UserName: fmt.Sprintf("u%03d@example.com", i), DisplayName: "U", Active: true})
	}
	seen := map[string]int{}
	n := 0
	err := c.List(context.Background(), func(u User) error {
		seen[u.ID]++
		n++
		if n == 1 {
			// Created while the listing runs: sorted last, still listed.
			for i := range 60 {
				srv.AddUser(omnitest.User{UserName: fmt.Sprintf("new%03d@example.com", i), DisplayName: "N", Active: true})
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(seen) != 210 || n != 210 {
		t.Errorf("listed %d distinct users in %d calls, want 210 each", len(seen), n)
	}
}

func TestStandinListEmpty(t *testing.T) {
	srv, c, _ := startOmni(t, omnitest.Options{}, "Users", nil)
	if err := c.List(context.Background(), func(User) error { t.Error("called for no user"); return nil }); err != nil {
		t.Fatal(err)
	}
	if n := srv.Stats().Total; n != 1 {
		t.Errorf("an empty listing took %d requests, want 1", n)
	}
}

func TestStandinCheck(t *testing.T) {
	srv, c, _ := startOmni(t, omnitest.Options{}, "", nil)
	if err := c.Check(context.Background()); err != nil {
		t.Fatalf("check: %v", err)
	}
	srv.SetToken("rotated")
	err := c.Check(context.Background())
	if !errors.Is(err, ErrUnauthorized) {
		t.Fatalf("revoked key: got %v, want ErrUnauthorized", err)
	}
	if strings.Contains(err.Error(), testToken) {
		t.Errorf("error shows the token: %v", err)
	}
	if n := srv.Stats().Total; n != 2 {
		t.Errorf("took %d requests, want 2: a 401 is not retried", n)
	}

	_, base := omnitest.Start(t, omnitest.Options{Token: testToken})
	wrong, _ := newTestClient(t, strings.TrimSuffix(base, "/scim/v2"), nil)
	if err := wrong.Check(context.Background()); !IsStatus(err, http.StatusNotFound) || !strings.Contains(err.Error(), "base url") {
		t.Errorf("wrong base url: got %v, want a 404 with a hint", err)
	}
}

func TestStandinLostReplyCreateIsResolvedByLookup(t *testing.T) {
	srv, c, _ := startOmni(t, omnitest.Options{}, "", nil)
	srv.SetFaults(omnitest.Faults{Seed: 1, Methods: []string{"POST"}, LostReplyRate: 1})
	u, err := c.Create(context.Background(), alice)
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	users := srv.Users()
	if len(users) != 1 || users[0].ID != u.ID {
		t.Fatalf("stand-in holds %+v, want exactly the one user returned (%s)", users, u.ID)
	}
	st := srv.Stats()
	if st.ByMethodStatus["POST lost"] != 1 || st.ByMethodStatus["GET 200"] != 1 || st.Total != 2 {
		t.Errorf("requests %v, want one lost POST and one lookup", st.ByMethodStatus)
	}
}

func TestStandinHungCreateIsResolvedByLookup(t *testing.T) {
	srv, c, _ := startOmni(t, omnitest.Options{}, "", func(c *Config) { c.Timeout = 100 * time.Millisecond })
	srv.SetFaults(omnitest.Faults{Seed: 1, Methods: []string{"POST"}, HangRate: 1, HangApplied: true})
	u, err := c.Create(context.Background(), alice)
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	if users := srv.Users(); len(users) != 1 || users[0].ID != u.ID {
		t.Fatalf("stand-in holds %+v, want exactly the one user returned", users)
	}
}

func TestStandinRateLimit(t *testing.T) {
	// One fake clock for both sides: the client's waits move the stand-in's
	// sliding window.
	clk := newFakeClock(true)
	srv, c, _ := startOmni(t, omnitest.Options{RequestsPerMinute: 3, RetryAfter: true, Now: clk.Now}, "", func(c *Config) {
		c.RequestsPerMinute = 600
	})
	clk.install(c)
	for i := range 4 {
		u := identity.User{UserName: fmt.Sprintf("u%d@example.com", i), DisplayName: "U", Active: true}
		if _, err := c.Create(context.Background(), u); err != nil {
			t.Fatalf("create %d: %v", i, err)
		}
	}
	st := srv.Stats()
	if st.TooMany != 1 || len(srv.Users()) != 4 {
		t.Errorf("got %d 429s and %d users, want 1 and 4", st.TooMany, len(srv.Users()))
	}
	// The fourth create came 0.3s into the window and was told to wait
	// for its first slot to free, rounded up to a minute.
	var waited bool
	for _, d := range clk.Sleeps() {
		waited = waited || d == time.Minute
	}
	if !waited {
		t.Errorf("sleeps %v, want one of 1m as Retry-After said", clk.Sleeps())
	}
	if got := c.lim.perMinute(); got >= 600 {
		t.Errorf("rate %v/min: a 429 must lower it", got)
	}
}

// TestStandinCreatesSurviveFaults sends 1,000 creates through every kind of
// fault the stand-in has, on 30% of all requests, lookups included.
// Every create must come back with the one user Omni holds for it, and no
// create may be repeated once it has landed (that would answer 409).
func TestStandinCreatesSurviveFaults(t *testing.T) {
	const total, workers = 1000, 16
	srv, c, _ := startOmni(t, omnitest.Options{}, "", func(c *Config) {
		c.Timeout = time.Second
		c.MaxAttempts = 20
		// A quarter of requests failing at random is a flaky Omni, not a
		// down one, yet 16 workers meet eight failures in a row now and
		// then; and on this still clock an open breaker never half-opens.
		// This test is about settling creates, so the breaker is off.
		c.BreakerThreshold = -1
	})
	// Several goroutines share the clock: keep it still so that their
	// sleeps do not spend each other's MaxElapsed.
	newFakeClock(false).install(c)
	srv.SetFaults(omnitest.Faults{Seed: 42, ErrorRate: 0.10, RateLimitRate: 0.04, DropRate: 0.06,
		LostReplyRate: 0.06, HangRate: 0.04, HangApplied: true})

	ids := make([]string, total)
	jobs := make(chan int)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for i := range jobs {
				u := identity.User{UserName: fmt.Sprintf("user%04d@example.com", i), DisplayName: fmt.Sprint("User ", i), Active: true}
				got, err := c.Create(context.Background(), u)
				if err != nil {
					t.Errorf("create %s: %v", u.UserName, err)
					continue
				}
				ids[i] = got.ID
			}
		})
	}
	for i := range total {
		jobs <- i
	}
	close(jobs)
	wg.Wait()

	byName := map[string][]omnitest.User{}
	for _, u := range srv.Users() {
		byName[u.UserName] = append(byName[u.UserName], u)
	}
	for i := range total {
		name := fmt.Sprintf("user%04d@example.com", i)
		if got := byName[name]; len(got) != 1 || got[0].ID != ids[i] {
			t.Errorf("%s: stand-in holds %d users, create returned %q", name, len(got), ids[i])
		}
	}
	st := srv.Stats()
	if n := st.ByMethodStatus["POST 409"]; n != 0 {
		t.Errorf("%d creates were repeated after they had landed", n)
	}
	for _, kind := range []string{"POST 500", "POST 503", "POST 429", "POST dropped", "POST lost", "POST hung", "GET 503"} {
		if st.ByMethodStatus[kind] == 0 {
			t.Errorf("no %q happened; the test did not exercise it", kind)
		}
	}
	t.Logf("%d requests for %d creates: %v", st.Total, total, st.ByMethodStatus)
}

func first(s []string) string {
	if len(s) == 0 {
		return ""
	}
	return s[0]
}

func last(s []string) string {
	if len(s) == 0 {
		return ""
	}
	return s[len(s)-1]
}
