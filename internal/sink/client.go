// Package sink is syncd's client for Omni's SCIM 2.0 users API. Omni allows
// about 60 requests a minute per key and deactivation there cannot be undone,
// so the client spends requests carefully and never guesses about writes:
// each API key has its own token bucket that slows down when Omni answers
// 429, and every attempt goes out on the key that can send soonest; a key
// Omni refuses is taken out and the attempt re-sent on another; an update is
// one PATCH of exactly the changed fields; 429s, 5xx answers and network
// failures are retried with
// jittered exponential backoff within a bounded number of attempts and time;
// a create whose fate is unknown is settled by looking the user up before it
// is ever sent again; and when a write's fate cannot be settled, the error
// says so (ErrOutcomeUnknown) instead of pretending it failed. The API key
// never appears in logs or errors, even when the server echoes it back.
package sink

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/syncd-dev/syncd/internal/identity"
)

// Config configures a Client. Zero values take the defaults noted.
type Config struct {
	// BaseURL is the SCIM base, e.g. https://acme.omniapp.co/api/scim/v2.
	BaseURL string
	// Token is the organisation API key; it is never logged and never
	// appears in an error.
	Token string
	// Tokens are further organisation API keys, for throughput: Omni's
	// budget is per key, so each key has its own token bucket and every
	// attempt goes out with the key that can send soonest. Token, when set,
	// is the first key. Keys are named by position, 1-based ("key 2"),
	// never by value; a repeated key is refused.
	Tokens []string
	// OnKeyRefused, when set, is called once for each key Omni refuses
	// (401 or 403), with its position and the refusal, before the request
	// goes again with another key; see keys.go. Calls for different keys
	// may come from several goroutines at once.
	OnKeyRefused func(position int, err error)
	// UsersPath is "users" (default, as Omni documents) or "Users".
	UsersPath string
	// GroupsPath is "groups" (default, as Omni documents) or "Groups".
	GroupsPath string
	// RequestsPerMinute sets each key's token bucket, shared by every
	// request sent with that key; default 60. A negative value disables the
	// buckets, for tests and benchmarks against a local server only.
	RequestsPerMinute int
	// Timeout bounds one HTTP attempt; default 30s.
	Timeout time.Duration
	// MaxAttempts bounds the attempts of one operation, the first included;
	// default 6.
	MaxAttempts int
	// MaxElapsed bounds one operation with all its retries; default 5m.
	MaxElapsed time.Duration
	// HTTPClient replaces the tuned default client.
	HTTPClient *http.Client
	// RootCAFile, when set, names a PEM file of certificates the default
	// client trusts besides the system roots, for an Omni (or a proxy in
	// front of it) with a private CA. It cannot be combined with
	// HTTPClient.
	RootCAFile string
	Logger     zerolog.Logger
	// Observe, when set, is called after every attempt, for metrics.
	// status is 0 for an attempt that got no answer.
	Observe   func(method string, status int, d time.Duration)
	UserAgent string
	// BreakerThreshold is how many failed attempts in a row (5xx answers,
	// transport failures and timeouts; not 4xx, not 429), across every
	// operation of the Client, open the circuit breaker, after which every
	// attempt fails at once with ErrHalt; default 8, negative disables.
	BreakerThreshold int
	// BreakerCooldown is how long an open breaker waits before it lets one
	// trial attempt through; default 1m.
	BreakerCooldown time.Duration
	// Sleep, when set, replaces every wait: between retries and for the
	// rate limit. Tests of other packages pass one that returns at once,
	// so that retries against a faulty stand-in cost no wall time.
	Sleep func(ctx context.Context, d time.Duration) error
}

const (
	defaultPerMinute   = 60
	defaultTimeout     = 30 * time.Second
	defaultMaxAttempts = 6
	defaultMaxElapsed  = 5 * time.Minute
	defaultUserAgent   = "syncd"

	backoffBase = 500 * time.Millisecond
	backoffCap  = 30 * time.Second

	// maxBody bounds any response read; a page of 100 users is a few tens
	// of KiB.
	maxBody = 1 << 20
	// pageSize is Omni's default and, as far as documented, its maximum.
	pageSize = 100
)

// Client talks to one Omni organisation's SCIM users endpoint. It is safe
// for concurrent use; concurrent callers share its keys' rate limits.
type Client struct {
	base        string
	usersPath   string
	groupsPath  string
	keys        *keyring
	hc          *http.Client
	timeout     time.Duration
	maxAttempts int
	maxElapsed  time.Duration
	log         zerolog.Logger
	observe     func(string, int, time.Duration)
	userAgent   string
	// lim is the first key's bucket: the only one of a Client with one
	// key, as most are.
	lim       *limiter
	brk       *breaker
	red       redactor
	onRefused func(int, error)

	// Seams for tests, so retries run instantly on a fake clock.
	now    func() time.Time
	sleep  func(context.Context, time.Duration) error
	jitter func(time.Duration) time.Duration
}

// New checks cfg and builds a Client. It sends nothing; Check does.
func New(cfg Config) (*Client, error) {
	u, err := url.Parse(strings.TrimRight(cfg.BaseURL, "/"))
	if err != nil {
		return nil, fmt.Errorf("scim client: parse base url: %w", err)
	}
	if (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, errors.New("scim client: base url must be an absolute http(s) url")
	}
	if u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return nil, errors.New("scim client: base url must have no query, fragment or credentials")
	}
	tokens, err := checkKeys(cfg.Token, cfg.Tokens)
	if err != nil {
		return nil, err
	}
	c := &Client{
		base:        u.String(),
		hc:          cfg.HTTPClient,
		timeout:     cfg.Timeout,
		maxAttempts: cfg.MaxAttempts,
		maxElapsed:  cfg.MaxElapsed,
		log:         cfg.Logger,
		observe:     cfg.Observe,
		userAgent:   cfg.UserAgent,
		red:         redactorFor(tokens),
		onRefused:   cfg.OnKeyRefused,
		now:         time.Now,
		sleep:       sleepCtx,
		jitter:      fullJitter,
	}
	if c.usersPath, err = collectionPath("users", cfg.UsersPath); err != nil {
		return nil, err
	}
	if c.groupsPath, err = collectionPath("groups", cfg.GroupsPath); err != nil {
		return nil, err
	}
	perMinute := cfg.RequestsPerMinute
	if perMinute == 0 {
		perMinute = defaultPerMinute
	}
	c.keys = newKeyring(tokens, perMinute)
	c.lim = c.keys.keys[0].lim
	c.brk = &breaker{threshold: cfg.BreakerThreshold, cooldown: cfg.BreakerCooldown}
	if c.brk.threshold == 0 {
		c.brk.threshold = defaultBreakerThreshold
	}
	if c.brk.cooldown <= 0 {
		c.brk.cooldown = defaultBreakerCooldown
	}
	if c.hc == nil {
		var roots *x509.CertPool
		if cfg.RootCAFile != "" {
			if roots, err = loadRootCAs(cfg.RootCAFile); err != nil {
				return nil, err
			}
		}
		c.hc = defaultHTTPClient(roots)
	} else if cfg.RootCAFile != "" {
		return nil, errors.New("scim client: scim.rootCAFile applies to the default HTTP client only, not to Config.HTTPClient")
	}
	if c.timeout <= 0 {
		c.timeout = defaultTimeout
	}
	if c.maxAttempts <= 0 {
		c.maxAttempts = defaultMaxAttempts
	}
	if c.maxElapsed <= 0 {
		c.maxElapsed = defaultMaxElapsed
	}
	if c.observe == nil {
		c.observe = func(string, int, time.Duration) {}
	}
	if c.userAgent == "" {
		c.userAgent = defaultUserAgent
	}
	if cfg.Sleep != nil {
		c.sleep = cfg.Sleep
	}
	return c, nil
}

// Create adds u to Omni, active, and returns the user Omni made. A 409
// (the email is taken) comes back as an *Error with Status 409 so the caller
// can adopt the existing user. When an attempt's fate is unknown, the user is
// looked up by userName before the create is sent again, so a create that
// landed is returned rather than repeated.
func (c *Client) Create(ctx context.Context, u identity.User) (User, error) {
	body, err := encodeUser(u)
	if err != nil {
		return User{}, fmt.Errorf("create user: %w", err)
	}
	o := &op{method: http.MethodPost, write: true}
	var out User
	err = c.retry(ctx, o, func(ctx context.Context) error {
		if o.unknown {
			found, ok, err := c.findOnce(ctx, u.UserName)
			if err != nil {
				return err
			}
			o.unknown = false
			if ok {
				c.log.Info().Str("scim_id", found.ID).Msg("scim create had landed; using the existing user")
				out = found
				return nil
			}
		}
		resp, err := c.send(ctx, http.MethodPost, c.usersPath, "", body)
		if err != nil {
			o.settle(err)
			return err
		}
		got, err := decodeUserResponse(resp)
		if err != nil {
			// Omni accepted the create but its answer is unreadable: look
			// the user up rather than create it twice.
			return &unsettledError{fmt.Errorf("read created user: %w", err)}
		}
		out = got
		return nil
	})
	if err != nil {
		return User{}, fmt.Errorf("create user %s: %w", u.UserName, err)
	}
	return out, nil
}

// Patch changes exactly the given fields of the user id with one PATCH, and
// nothing else: PATCH leaves the attributes it does not name alone. A repeat
// sets the same values again, so it is retried like any idempotent write.
func (c *Client) Patch(ctx context.Context, id string, changes []Change) error {
	if id == "" {
		return errors.New("patch user: empty id")
	}
	body, err := encodePatch(changes)
	if err != nil {
		return fmt.Errorf("patch user %s: %w", id, err)
	}
	if err := c.write(ctx, http.MethodPatch, c.userPath(id), body, nil); err != nil {
		return fmt.Errorf("patch user %s: %w", id, err)
	}
	return nil
}

// SetActive PATCHes the user's active flag. In Omni, active=false is a
// deactivation that cannot be undone.
func (c *Client) SetActive(ctx context.Context, id string, active bool) error {
	if id == "" {
		return errors.New("set user active: empty id")
	}
	body, err := encodeSetActive(active)
	if err != nil {
		return fmt.Errorf("set user %s active=%t: %w", id, active, err)
	}
	if err := c.write(ctx, http.MethodPatch, c.userPath(id), body, nil); err != nil {
		return fmt.Errorf("set user %s active=%t: %w", id, active, err)
	}
	return nil
}

// Delete deletes the user. A user already gone comes back as an *Error with
// Status 404, which the caller counts as done.
func (c *Client) Delete(ctx context.Context, id string) error {
	if id == "" {
		return errors.New("delete user: empty id")
	}
	if err := c.write(ctx, http.MethodDelete, c.userPath(id), nil, nil); err != nil {
		return fmt.Errorf("delete user %s: %w", id, err)
	}
	return nil
}

// Get reads one user; a missing one is an *Error with Status 404.
func (c *Client) Get(ctx context.Context, id string) (User, error) {
	if id == "" {
		return User{}, errors.New("get user: empty id")
	}
	out, err := getOne(ctx, c, c.userPath(id), decodeUserResponse)
	if err != nil {
		return User{}, fmt.Errorf("get user %s: %w", id, err)
	}
	return out, nil
}

// FindByUserName looks a user up by userName (email). ok is false when Omni
// has no such user.
func (c *Client) FindByUserName(ctx context.Context, userName string) (User, bool, error) {
	var (
		out User
		ok  bool
	)
	err := c.retry(ctx, &op{method: http.MethodGet}, func(ctx context.Context) error {
		var err error
		out, ok, err = c.findOnce(ctx, userName)
		return err
	})
	if err != nil {
		return User{}, false, fmt.Errorf("find user %s: %w", userName, err)
	}
	return out, ok, nil
}

// findOnce is a single filtered GET, used inside other operations' retry
// loops. Results are matched again here, ignoring case, so a server that
// ignores or loosens the filter cannot make us adopt the wrong user.
func (c *Client) findOnce(ctx context.Context, userName string) (User, bool, error) {
	q := "filter=" + queryEscape(userNameFilter(userName))
	resp, err := c.send(ctx, http.MethodGet, c.usersPath, q, nil)
	if err != nil {
		return User{}, false, err
	}
	if err := checkJSON(resp); err != nil {
		return User{}, false, err
	}
	page, err := decodeList(resp.body)
	if err != nil {
		return User{}, false, err
	}
	for _, u := range page.Resources {
		if strings.EqualFold(u.UserName, userName) {
			return u, true, nil
		}
	}
	return User{}, false, nil
}

// List calls fn for every user in Omni, a page of 100 at a time, each page
// its own retried operation; see listAll for what a listing promises. An
// error from fn stops the listing and is returned as is.
func (c *Client) List(ctx context.Context, fn func(User) error) error {
	return listAll(ctx, c, "users", c.usersPath, decodeList, func(u User) string { return u.ID }, fn)
}

// Check sends one cheap authenticated request to prove the URL and the key.
func (c *Client) Check(ctx context.Context) error {
	err := c.retry(ctx, &op{method: http.MethodGet}, func(ctx context.Context) error {
		resp, err := c.send(ctx, http.MethodGet, c.usersPath, "startIndex=1&count=1", nil)
		if err != nil {
			return err
		}
		if err := checkJSON(resp); err != nil {
			return err
		}
		_, err = decodeList(resp.body)
		return err
	})
	switch {
	case err == nil:
		return nil
	case IsStatus(err, http.StatusNotFound):
		return fmt.Errorf("check scim: %w (check the base url, which ends in /api/scim/v2, and the users path)", err)
	default:
		return fmt.Errorf("check scim: %w", err)
	}
}

func (c *Client) userPath(id string) string {
	return c.usersPath + "/" + url.PathEscape(id)
}

// write runs an idempotent write (PUT, PATCH, DELETE) with plain retries; a
// repeat carries the same full values, so it cannot do harm. read, when set,
// reads a successful answer.
func (c *Client) write(ctx context.Context, method, rel string, body []byte, read func(*response) error) error {
	o := &op{method: method, write: true}
	return c.retry(ctx, o, func(ctx context.Context) error {
		resp, err := c.send(ctx, method, rel, "", body)
		if err != nil {
			o.settle(err)
			return err
		}
		o.unknown = false
		if read != nil {
			return read(resp)
		}
		return nil
	})
}

func checkJSON(r *response) error {
	if ct := r.header.Get("Content-Type"); !jsonContentType(ct) {
		return fmt.Errorf("unexpected content type %.60q", ct)
	}
	return nil
}

func decodeUserResponse(r *response) (User, error) {
	if err := checkJSON(r); err != nil {
		return User{}, err
	}
	return decodeUser(r.body)
}

// queryEscape escapes a query value with %20 for spaces: a server that
// decodes with a path-style decoder would read "+" as a literal plus.
func queryEscape(s string) string {
	return strings.ReplaceAll(url.QueryEscape(s), "+", "%20")
}
