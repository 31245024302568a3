package sink

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

	"github.com/syncd-dev/syncd/internal/identity"
	"github.com/syncd-dev/syncd/internal/testsupport/omnitest"
)

// Keys with the characters a redactor must escape, so that a leak in any
// form shows.
var testKeys = []string{"key/one+&<first-secret>", "key/two+&<second-secret>", "key/three+&<third-secret>"}

// keyOf names the key a request carried, by position, or 0 for none of
// testKeys.
func keyOf(r seen) int {
	return slices.Index(testKeys, strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")) + 1
}

// noKeyIn fails the test when text shows any part of any test key.
func noKeyIn(t *testing.T, where, text string) {
	t.Helper()
	for _, k := range testKeys {
		for _, form := range newRedactor(k).forms {
			if strings.Contains(text, form) {
				t.Errorf("%s shows a key: %s", where, text)
			}
		}
	}
	if strings.Contains(text, "-secret") {
		t.Errorf("%s shows the core of a key: %s", where, text)
	}
}

// refusals records OnKeyRefused calls.
type refusals struct {
	mu   sync.Mutex
	pos  []int
	errs []error
}

func (r *refusals) record(pos int, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.pos = append(r.pos, pos)
	r.errs = append(r.errs, err)
}

func (r *refusals) positions() []int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.pos)
}

// concurrently runs call from workers goroutines, each times each, with
// the call's number (0 up), and stops a goroutine at its first error.
func concurrently(t *testing.T, workers, each int, call func(i int) error) {
	t.Helper()
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				if err := call(w*each + i); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
}

func TestNewKeys(t *testing.T) {
	base := "https://acme.omniapp.co/api/scim/v2"
	for _, tt := range []struct {
		name    string
		token   string
		tokens  []string
		want    string
		keys    int
		leakers []string
	}{
		{"token alone", testKeys[0], nil, "", 1, nil},
		{"tokens alone", "", testKeys[:2], "", 2, nil},
		{"both", testKeys[0], testKeys[1:], "", 3, nil},
		{"none", "", []string{}, "no API token", 0, nil},
		{"empty in tokens", testKeys[0], []string{""}, "API key 2 is empty", 0, nil},
		{"token repeated", testKeys[0], []string{testKeys[1], testKeys[0]}, "API key 3 repeats key 1", 0, testKeys[:1]},
		{"tokens repeated", "", []string{testKeys[1], testKeys[1]}, "API key 2 repeats key 1", 0, testKeys[1:2]},
		{"newline", testKeys[0], []string{"sec\nret-secret"}, "API key 2 has characters not allowed", 0, []string{"sec\nret-secret"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c, err := New(Config{BaseURL: base, Token: tt.token, Tokens: tt.tokens})
			if tt.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				if total, live := c.Keys(); total != tt.keys || live != tt.keys {
					t.Errorf("Keys() = %d, %d; want %d, %d", total, live, tt.keys, tt.keys)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want an error saying %q", err, tt.want)
			}
			for _, k := range tt.leakers {
				if strings.Contains(err.Error(), k) || strings.Contains(err.Error(), "secret") {
					t.Errorf("the error shows the key: %v", err)
				}
			}
		})
	}
}

func TestTokenIsTheFirstKey(t *testing.T) {
	srv := newScript(t, reply(200, userJSON("u1", "a@example.com")))
	c, _ := newTestClient(t, srv.URL, func(c *Config) {
		c.Token, c.Tokens, c.RequestsPerMinute = testKeys[1], []string{testKeys[0]}, 60
	})
	if _, err := c.Get(context.Background(), "u1"); err != nil {
		t.Fatal(err)
	}
	if got := keyOf(srv.Requests()[0]); got != 2 {
		t.Errorf("the first request carried test key %d, want Config.Token (test key 2)", got)
	}
}

// Two callers at once on two keys: every request goes with the key that can
// send soonest, so the keys take turns, and each key's requests are paced
// by its own bucket at the full rate, within its budget.
func TestKeysShareTheWorkOfConcurrentCallers(t *testing.T) {
	const workers, each, perMinute = 2, 65, 60
	srv := newScript(t, repeat(workers*each, reply(200, userJSON("u1", "a@example.com")))...)
	c, _ := newTestClient(t, srv.URL, func(c *Config) {
		c.Token, c.Tokens, c.RequestsPerMinute = "", testKeys[:2], perMinute
	})
	// A clock that stands still: each wait is then exactly the offset of
	// that request's slot in its key's bucket.
	clk := newFakeClock(false)
	clk.install(c)
	concurrently(t, workers, each, func(int) error {
		_, err := c.Get(context.Background(), "u1")
		return err
	})

	perKey := map[int]int{}
	for _, r := range srv.Requests() {
		perKey[keyOf(r)]++
	}
	if perKey[1] != each || perKey[2] != each {
		t.Fatalf("requests per key %v, want %d on each of keys 1 and 2", perKey, each)
	}
	// Each key's first request goes at once; then each key's i-th request
	// waits i slots of its own bucket, so the waits come in pairs.
	got := clk.Sleeps()
	slices.Sort(got)
	if len(got) != workers*each-2 {
		t.Fatalf("got %d waits, want %d", len(got), workers*each-2)
	}
	minute := float64(time.Minute)
	slot := time.Duration(minute / perMinute / pace)
	offsets := []time.Duration{0}
	for i, d := range got {
		want := time.Duration(i/2+1) * slot
		if d < want-time.Millisecond || d > want+time.Millisecond {
			t.Fatalf("wait %d is %v, want %v: the keys do not take turns", i, d, want)
		}
		if i%2 == 0 {
			offsets = append(offsets, d)
		}
	}
	// One key's requests, by their offsets: no minute holds more than the
	// key's budget.
	for i := range offsets {
		n := 0
		for _, o := range offsets[i:] {
			if o-offsets[i] < time.Minute {
				n++
			}
		}
		if n > perMinute {
			t.Fatalf("%d requests in the minute from %v, over the key's budget of %d", n, offsets[i], perMinute)
		}
	}
}

// A 429 slows and pauses only the key it answered: Omni counts per key.
func TestThrottlingIsPerKey(t *testing.T) {
	c, clk := newTestClient(t, "http://omni.invalid/api/scim/v2", func(c *Config) {
		c.Token, c.Tokens, c.RequestsPerMinute = "", testKeys[:2], 60
	})
	k1, k2 := c.keys.keys[0], c.keys.keys[1]
	k1.lim.throttled(clk.Now(), 5*time.Second)
	if !near(k1.lim.perMinute(), 30) || !near(k2.lim.perMinute(), 60) {
		t.Errorf("rates %v and %v per minute, want 30 (halved) and 60", k1.lim.perMinute(), k2.lim.perMinute())
	}
	// Key 2 has slots at 0s, 1.01s, … 4.04s before key 1's pause ends.
	for i := range 5 {
		k, s, err := c.keys.take(clk.Now())
		if err != nil {
			t.Fatal(err)
		}
		if k != k2 || s.pause > 0 {
			t.Fatalf("take %d chose key %d (pause %v), want key 2: key 1 sits out its Retry-After", i+1, k.pos, s.pause)
		}
	}
	// Key 2's next slot, at 5.05s, is past key 1's pause.
	if k, _, _ := c.keys.take(clk.Now()); k != k1 {
		t.Errorf("chose key %d, want key 1 once it can send sooner than key 2", k.pos)
	}
}

// startKeyedOmni starts the stand-in accepting testKeys[:n] at perMinute
// each, on clk, and a Client with those keys on the same clock.
func startKeyedOmni(t *testing.T, n, perMinute int, clk *fakeClock, mod func(*Config)) (*omnitest.Server, *Client) {
	t.Helper()
	srv, base := omnitest.Start(t, omnitest.Options{Tokens: testKeys[:n], RequestsPerMinute: perMinute, Now: clk.Now})
	c, _ := newTestClient(t, base, func(c *Config) {
		c.Token, c.Tokens, c.RequestsPerMinute = "", testKeys[:n], perMinute
		if mod != nil {
			mod(c)
		}
	})
	clk.install(c)
	return srv, c
}

func keyedUser(i int) identity.User {
	return identity.User{UserName: fmt.Sprintf("u%d@example.com", i), DisplayName: "U", Active: true}
}

// A key revoked in Omni is dropped at its first refusal: the refused request
// goes again at once with the other key, the refusal is reported once, and
// every later request goes with the key left.
func TestRevokedKeyIsDropped(t *testing.T) {
	clk := newFakeClock(true)
	var refused refusals
	log, buf := logBuffer()
	srv, c := startKeyedOmni(t, 2, 60, clk, func(c *Config) {
		c.OnKeyRefused = refused.record
		c.Logger = log
	})
	ctx := context.Background()
	if _, err := c.Create(ctx, keyedUser(0)); err != nil {
		t.Fatal(err)
	}
	srv.SetToken(testKeys[0]) // key 2 is revoked
	for i := 1; i <= 5; i++ {
		if _, err := c.Create(ctx, keyedUser(i)); err != nil {
			t.Fatalf("create %d: %v", i, err)
		}
	}
	if got := refused.positions(); !slices.Equal(got, []int{2}) {
		t.Fatalf("OnKeyRefused called for %v, want once for key 2", got)
	}
	if err := refused.errs[0]; !errors.Is(err, ErrUnauthorized) || !IsStatus(err, http.StatusUnauthorized) {
		t.Errorf("OnKeyRefused got %v, want the 401", err)
	} else {
		noKeyIn(t, "the refusal", err.Error())
	}
	if total, live := c.Keys(); total != 2 || live != 1 {
		t.Errorf("Keys() = %d, %d; want 2, 1", total, live)
	}
	st := srv.Stats()
	if st.ByMethodStatus["POST 401"] != 1 || st.ByMethodStatus["POST 201"] != 6 || st.TooMany != 0 || len(srv.Users()) != 6 {
		t.Errorf("stats %v, %d users: want one 401, six creates, no 429", st.ByMethodStatus, len(srv.Users()))
	}
	// The refused create was sent again on key 1 as soon as its bucket let
	// it, with no backoff; so was every create after it.
	second := float64(time.Second)
	slot := time.Duration(second / pace)
	for _, d := range clk.Sleeps() {
		if d < slot-time.Millisecond || d > slot+time.Millisecond {
			t.Errorf("slept %v, want only key 1's slots of %v: a refused key is no failure to back off from", clk.Sleeps(), slot)
			break
		}
	}
	if !strings.Contains(buf.String(), `"key":2`) || !strings.Contains(buf.String(), "no longer uses it") {
		t.Errorf("the log does not name the dropped key by position:\n%s", buf.String())
	}
	noKeyIn(t, "the log", buf.String())
}

// Callers with requests in flight on a key as it is revoked all move on to
// the key left, and the key is reported once.
func TestRevokedKeysUnderConcurrentCallers(t *testing.T) {
	const workers, each = 4, 5
	var refused refusals
	srv, c := startKeyedOmni(t, 3, 60, newFakeClock(false), func(c *Config) { c.OnKeyRefused = refused.record })
	srv.SetToken(testKeys[1]) // keys 1 and 3 are revoked
	concurrently(t, workers, each, func(i int) error {
		_, err := c.Create(context.Background(), keyedUser(i))
		return err
	})
	got := refused.positions()
	slices.Sort(got)
	if !slices.Equal(got, []int{1, 3}) {
		t.Errorf("OnKeyRefused called for %v, want once each for keys 1 and 3", got)
	}
	if total, live := c.Keys(); total != 3 || live != 1 {
		t.Errorf("Keys() = %d, %d; want 3, 1", total, live)
	}
	if n := len(srv.Users()); n != workers*each {
		t.Errorf("%d users, want %d", n, workers*each)
	}
}

// With every key refused the operation fails with ErrUnauthorized, and so
// does every later one, without sending anything. No error shows a key,
// though the server echoes each back.
func TestAllKeysRevoked(t *testing.T) {
	echo := func(w http.ResponseWriter, r *http.Request) {
		h := r.Header.Get("Authorization")
		reply(401, map[string]string{"error": "unauthorized", "message": "bad key " + h})(w, r)
	}
	srv := newScript(t, echo, echo)
	var refused refusals
	log, buf := logBuffer()
	c, clk := newTestClient(t, srv.URL, func(c *Config) {
		c.Token, c.Tokens = "", testKeys[:2]
		c.OnKeyRefused = refused.record
		c.Logger = log
	})
	err := c.Check(context.Background())
	if !errors.Is(err, ErrUnauthorized) || !IsStatus(err, http.StatusUnauthorized) {
		t.Fatalf("got %v, want the 401 as ErrUnauthorized", err)
	}
	if got := refused.positions(); !slices.Equal(got, []int{1, 2}) {
		t.Errorf("OnKeyRefused called for %v, want keys 1 then 2", got)
	}
	var keys []int
	for _, r := range srv.Requests() {
		keys = append(keys, keyOf(r))
	}
	if !slices.Equal(keys, []int{1, 2}) {
		t.Errorf("requests went with keys %v, want 1 then 2", keys)
	}
	if s := clk.Sleeps(); len(s) != 0 {
		t.Errorf("slept %v: a refusal is not retried", s)
	}
	if total, live := c.Keys(); total != 2 || live != 0 {
		t.Errorf("Keys() = %d, %d; want 2, 0", total, live)
	}

	later := c.Delete(context.Background(), "u1")
	if !errors.Is(later, ErrUnauthorized) || !strings.Contains(later.Error(), "all 2 API keys were refused") {
		t.Errorf("later operation: got %v, want ErrUnauthorized naming the refused keys", later)
	}
	if n := len(srv.Requests()); n != 2 {
		t.Errorf("%d requests, want none after every key was refused", n-2)
	}

	texts := map[string]string{"the error": err.Error(), "the later error": later.Error(), "the log": buf.String()}
	for i, e := range refused.errs {
		texts[fmt.Sprintf("refusal %d", i+1)] = e.Error()
	}
	var e *Error
	if errors.As(err, &e) {
		if !strings.Contains(e.Body, redacted) {
			t.Errorf("body %q shows no redaction; did the server echo?", e.Body)
		}
		texts["the body"] = e.Body
	}
	for where, text := range texts {
		noKeyIn(t, where, text)
	}
}

// A lone key Omni refused is out for good: the Client sends nothing more.
func TestSingleRevokedKey(t *testing.T) {
	srv := newScript(t, reply(403, map[string]string{"error": "forbidden"}))
	c, _ := newTestClient(t, srv.URL, nil)
	if err := c.Check(context.Background()); !IsStatus(err, http.StatusForbidden) {
		t.Fatalf("got %v, want the 403", err)
	}
	_, err := c.Get(context.Background(), "u1")
	if !errors.Is(err, ErrUnauthorized) || !strings.Contains(err.Error(), "the API key was refused") {
		t.Errorf("got %v, want ErrUnauthorized for the refused key", err)
	}
	if total, live := c.Keys(); total != 1 || live != 0 {
		t.Errorf("Keys() = %d, %d; want 1, 0", total, live)
	}
}
