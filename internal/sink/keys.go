package sink

import (
	"errors"
	"fmt"
	"net/http"
	"sort"
	"sync"
	"time"
)

// Omni budgets requests per organisation API key, and a key dies with the
// user who created it. So a Client can hold several keys: each has its own
// token bucket, every attempt goes out with the key that can send soonest,
// and a key Omni refuses (401 or 403) is dropped for the life of the Client
// while the others carry on; once none is left, every operation fails with
// ErrUnauthorized. Keys are secrets, so they are only ever named by
// position, 1-based, in errors and logs.

// key is one API key and the bucket of the requests sent with it.
type key struct {
	pos  int    // 1-based, Token first: the key's only printable name
	auth string // the Authorization header value
	lim  *limiter
	// refused is set, under keyring.mu, once Omni refused the key.
	refused bool
}

// keyring is the Client's keys. Its lock makes choosing a key and taking
// that key's token one step, so that concurrent callers spread over the
// keys instead of all choosing the same idle one.
type keyring struct {
	mu   sync.Mutex
	keys []*key
	live int
}

// checkKeys gathers Token and Tokens into one list, Token first, and refuses
// an empty, repeated or unsendable key. Errors name keys by position only.
func checkKeys(token string, tokens []string) ([]string, error) {
	var all []string
	if token != "" {
		all = append(all, token)
	}
	all = append(all, tokens...)
	if len(all) == 0 {
		return nil, errors.New("scim client: no API token")
	}
	seen := make(map[string]int, len(all))
	for i, k := range all {
		pos := i + 1
		if k == "" {
			return nil, fmt.Errorf("scim client: API key %d is empty", pos)
		}
		if first, dup := seen[k]; dup {
			return nil, fmt.Errorf("scim client: API key %d repeats key %d; a repeated key adds no budget", pos, first)
		}
		seen[k] = pos
		for j := 0; j < len(k); j++ {
			if c := k[j]; c <= ' ' || c >= 0x7f {
				return nil, fmt.Errorf("scim client: API key %d has characters not allowed in a header", pos)
			}
		}
	}
	return all, nil
}

func newKeyring(tokens []string, perMinute int) *keyring {
	r := &keyring{keys: make([]*key, len(tokens)), live: len(tokens)}
	for i, t := range tokens {
		r.keys[i] = &key{pos: i + 1, auth: "Bearer " + t, lim: newLimiter(perMinute)}
	}
	return r
}

// take chooses the live key whose bucket can send soonest at t, the first
// in order among equals, and takes its next token. It fails, wrapping
// ErrUnauthorized, when Omni has refused every key.
func (r *keyring) take(t time.Time) (*key, slot, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var (
		best  *key
		ready time.Time
	)
	for _, k := range r.keys {
		if k.refused {
			continue
		}
		if at := k.lim.readyAt(t); best == nil || at.Before(ready) {
			best, ready = k, at
		}
	}
	if best == nil {
		return nil, slot{}, r.noneLeft()
	}
	return best, best.lim.reserve(t), nil
}

// noneLeft is the error of an attempt made after every key was refused.
// r.mu must be held.
func (r *keyring) noneLeft() error {
	if len(r.keys) == 1 {
		return fmt.Errorf("scim: the API key was refused (401 or 403) earlier in this process: %w", ErrUnauthorized)
	}
	return fmt.Errorf("scim: all %d API keys were refused (401 or 403) earlier in this process: %w", len(r.keys), ErrUnauthorized)
}

// refuse drops k after Omni refused it. It reports whether this call
// dropped it (so the refusal is reported once however many requests were in
// flight with k) and how many keys are left.
func (r *keyring) refuse(k *key) (dropped bool, live int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !k.refused {
		k.refused = true
		r.live--
		dropped = true
	}
	return dropped, r.live
}

func (r *keyring) count() (total, live int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.keys), r.live
}

// Keys reports how many API keys the Client was given and how many Omni has
// not refused since the last ResetKeys.
func (c *Client) Keys() (total, live int) { return c.keys.count() }

// ResetKeys brings every refused key back, for a new run: a key replaced or
// re-enabled in Omni works again without a restart, and one still refused is
// refused (and reported) again at its first request.
func (c *Client) ResetKeys() {
	r := c.keys
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, k := range r.keys {
		k.refused = false
	}
	r.live = len(r.keys)
}

// keyRefused handles the error of an attempt sent with k. When Omni refused
// the key (401 or 403), k is dropped and reported, and resend says whether
// another key is left to send the same request with at once: the refusal
// happened before anything was done, so sending again is no retry.
func (c *Client) keyRefused(k *key, err error) (resend bool) {
	var e *Error
	if !errors.As(err, &e) || (e.Status != http.StatusUnauthorized && e.Status != http.StatusForbidden) {
		return false
	}
	dropped, live := c.keys.refuse(k)
	if dropped {
		c.log.Warn().Int("key", k.pos).Int("keys_live", live).Int("status", e.Status).
			Msg("scim API key refused; this process no longer uses it")
		if c.onRefused != nil {
			c.onRefused(k.pos, err)
		}
	}
	return live > 0
}

// redactorFor removes every key from server text: a server may echo any of
// them, and one key's error must not show another. Longest forms go first,
// so a key that contains another is never half-replaced.
func redactorFor(tokens []string) redactor {
	var forms []string
	for _, t := range tokens {
		forms = append(forms, newRedactor(t).forms...)
	}
	sort.SliceStable(forms, func(i, j int) bool { return len(forms[i]) > len(forms[j]) })
	return redactor{forms: forms}
}
