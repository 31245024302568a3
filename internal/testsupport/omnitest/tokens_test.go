package omnitest

import (
	"net/http"
	"testing"
	"time"
)

// Several accepted tokens model an organisation with several API keys: each
// is accepted, each has a budget of its own, and SetToken revokes the rest.
func TestSeveralTokens(t *testing.T) {
	clock := newFakeClock()
	srv, base := Start(t, Options{Token: "key-1", Tokens: []string{"key-2", "key-3"}, RequestsPerMinute: 2, Now: clock.Now})
	c := newClient(t, base)
	for _, tok := range []string{"key-1", "key-2", "key-3"} {
		c.token = tok
		for i, want := range []int{http.StatusOK, http.StatusOK, http.StatusTooManyRequests} {
			if r := c.do("GET", "/users", nil); r.status != want {
				t.Fatalf("%s request %d: status %d, want %d", tok, i+1, r.status, want)
			}
		}
	}
	c.token = DefaultToken
	if r := c.do("GET", "/users", nil); r.status != http.StatusUnauthorized {
		t.Errorf("the default token with Tokens given: status %d, want 401", r.status)
	}

	srv.SetToken("key-2")
	clock.Advance(61 * time.Second)
	for tok, want := range map[string]int{"key-1": http.StatusUnauthorized, "key-2": http.StatusOK, "key-3": http.StatusUnauthorized} {
		c.token = tok
		if r := c.do("GET", "/users", nil); r.status != want {
			t.Errorf("%s after SetToken: status %d, want %d", tok, r.status, want)
		}
	}
}

func TestTokensAloneReplaceTheDefault(t *testing.T) {
	_, base := Start(t, Options{Tokens: []string{"only"}})
	c := newClient(t, base)
	if r := c.do("GET", "/users", nil); r.status != http.StatusUnauthorized {
		t.Errorf("default token: status %d, want 401", r.status)
	}
	c.token = "only"
	if r := c.do("GET", "/users", nil); r.status != http.StatusOK {
		t.Errorf("the one token of Tokens: status %d, want 200", r.status)
	}
}
