// Package omnitest is a stand-in for Omni's SCIM 2.0 users and user groups
// API, because Omni itself cannot be reached from tests or demos. It keeps
// users and groups in memory (groups.go holds the group rules) and
// answers as docs/omni-api.md documents: both path casings, Omni's
// non-SCIM error body (with the standard SCIM error where a client must parse
// that too), 409 on a duplicate email, paginated and filtered listing, PUT
// that resets what it leaves out, irreversible deactivation, an enforced
// requests-per-minute budget answering 429, and seeded, reproducible faults
// (5xx, spurious 429s, dropped connections, lost replies, hangs, latency).
// A test can also hold one request in flight until it lets it go (Hold), to
// act while exactly that request is under way without guessing at timing.
// Tests use it in-process through Start; the omni-standin program serves it
// over TCP for demos and benchmarks. Production code never imports it.
package omnitest

import (
	"crypto/rand"
	"crypto/subtle"
	"fmt"
	mrand "math/rand/v2"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

// Wire constants shared with the SCIM client under test.
const (
	// DefaultToken is the bearer token accepted when Options.Token and
	// Options.Tokens are empty.
	DefaultToken = "omni-test-token"
	// MaxCount caps the page size of a listing. Omni documents a default of
	// 100 but no maximum; RFC 7644 lets a server return fewer than asked, so a
	// client must follow totalResults rather than trust its count.
	MaxCount = 100
	// MaxBodyBytes bounds a request body; larger bodies get 413.
	MaxBodyBytes = 1 << 20

	UserSchema      = "urn:ietf:params:scim:schemas:core:2.0:User"
	AttributeSchema = "urn:omni:params:1.0:UserAttribute"
	ListSchema      = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
	PatchOpSchema   = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
	ErrorSchema     = "urn:ietf:params:scim:api:messages:2.0:Error"

	// ConflictMessage is Omni's documented message for a duplicate email.
	ConflictMessage = "User with this email already exists"
	// NotFoundMessage is Omni's documented message for an unknown user id.
	NotFoundMessage = "User not found"
	// ReactivateMessage answers an attempt to set active=true on a
	// deactivated user while Options.AllowReactivate is false.
	ReactivateMessage = "Deactivated users cannot be reactivated; create a new user instead"
)

// Options configure a Server.
type Options struct {
	// Token is the accepted bearer token; default DefaultToken, unless
	// Tokens are given.
	Token string
	// Tokens are further accepted bearer tokens, as an organisation may
	// have several API keys; each has a budget of its own.
	Tokens []string
	// RequestsPerMinute is the budget per token over a sliding 60 s window;
	// 0 means unlimited. Every authenticated SCIM request that is admitted
	// spends one slot, whatever its answer; refused ones spend none.
	RequestsPerMinute int
	// RetryAfter sends Retry-After (whole seconds until a slot frees) on 429.
	RetryAfter bool
	// Now is the clock for the rate limit and meta timestamps; default
	// time.Now.
	Now func() time.Time
	// AllowReactivate lets PATCH or PUT set active=true on a deactivated
	// user. By default that is refused with 400: Omni documents deactivation
	// as irreversible ("reactivating a user will create a new user"), and the
	// stand-in models that by refusing to bring the old user back.
	AllowReactivate bool
	// ReuseInactiveEmail lets POST create a new user with the email of a
	// deactivated one (the other reading of Omni's "reactivating creates a
	// new user"). By default any existing user with the email, active or
	// not, makes POST answer 409.
	ReuseInactiveEmail bool
	// AllowDuplicateGroupNames lets two groups share a displayName. Omni
	// does not document a duplicate group name; by default the stand-in
	// answers 409 (GroupConflictMessage), the reading the project assumes,
	// and this switches to the other so a client is tested both ways.
	AllowDuplicateGroupNames bool
}

// User is a user as the stand-in stores it.
type User struct {
	ID          string `json:"id"` // UUID
	UserName    string `json:"userName"`
	DisplayName string `json:"displayName"`
	Active      bool   `json:"active"`
	// Attributes is the urn:omni:params:1.0:UserAttribute object: values are
	// strings, int64s, or lists of those.
	Attributes map[string]any `json:"attributes,omitempty"`
	Created    time.Time      `json:"created"`
	Modified   time.Time      `json:"modified"`
}

// Stats counts what the stand-in was asked, so tests can check how many
// requests a run spent and how they were answered.
type Stats struct {
	// Total counts every SCIM request, whatever its answer.
	Total int `json:"total"`
	// ByMethodStatus counts requests by "METHOD STATUS", e.g. "POST 201".
	// Requests that got no answer use "dropped", "lost" or "hung" in place
	// of the status.
	ByMethodStatus map[string]int `json:"byMethodStatus"`
	// Writes counts requests with a method other than GET, whatever their
	// answer.
	Writes int `json:"writes"`
	// Applied counts writes that changed the stored users or groups,
	// including those whose answer was then lost.
	Applied int `json:"applied"`
	// TooMany counts 429 answers, real and injected.
	TooMany int `json:"tooMany"`
	// Faults counts injected faults.
	Faults int `json:"faults"`
}

type record struct {
	seq   uint64
	lower string // strings.ToLower(u.UserName), the byName key
	u     User
}

// Server is the stand-in. It is safe for concurrent use.
type Server struct {
	opts      Options
	done      chan struct{}
	closeOnce sync.Once

	mu     sync.Mutex
	tokens []string // accepted bearer tokens
	seq    uint64
	byID   map[string]*record
	order  []*record            // by seq, i.e. creation order
	byName map[string][]*record // lower(userName) -> records, creation order
	// Groups, kept apart from users: their own ids and creation order.
	groups     map[string]*groupRecord
	groupOrder []*groupRecord // creation order
	groupSeq   uint64
	windows    map[string][]time.Time
	faults     Faults
	rng        *mrand.Rand
	stats      Stats
	// holds are the requests tests asked to hold (Hold), oldest first.
	holds []*Hold
	// hangHook is called as a request starts to hang; tests set it.
	hangHook func()
}

// New returns a Server with no users.
func New(opts Options) *Server {
	if opts.Token == "" && len(opts.Tokens) == 0 {
		opts.Token = DefaultToken
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	s := &Server{
		opts:    opts,
		done:    make(chan struct{}),
		tokens:  acceptedTokens(opts.Token, opts.Tokens),
		byID:    make(map[string]*record),
		byName:  make(map[string][]*record),
		groups:  make(map[string]*groupRecord),
		windows: make(map[string][]time.Time),
	}
	s.stats.ByMethodStatus = make(map[string]int)
	s.SetFaults(Faults{})
	return s
}

// Start serves a new Server on a local httptest server that is closed when the
// test ends, and returns it with its SCIM base URL (server URL + "/api/scim/v2").
func Start(t testing.TB, opts Options) (*Server, string) {
	t.Helper()
	s := New(opts)
	hs := httptest.NewServer(s)
	t.Cleanup(func() {
		// Release hung requests first: httptest waits for every handler.
		s.Close()
		hs.Close()
	})
	return s, hs.URL + "/api/scim/v2"
}

// Close releases requests held by a hang or latency fault, so that a server
// shutting down does not wait for clients that never give up. The Server
// keeps answering afterwards, without hangs or latency.
func (s *Server) Close() {
	s.closeOnce.Do(func() { close(s.done) })
}

// SetToken makes token the only accepted bearer token, e.g. to model a
// revoked key; every other token, from Options.Token or Options.Tokens,
// is refused from then on.
func (s *Server) SetToken(token string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tokens = []string{token}
}

func acceptedTokens(token string, tokens []string) []string {
	var out []string
	if token != "" {
		out = append(out, token)
	}
	return append(out, tokens...)
}

// AddUser seeds a user as if made in Omni outside SCIM (an admin, a hand-made
// account). It assigns ID when empty and Created (and Modified) when zero,
// and stores the user as given otherwise: no validation, and no conflict
// check, so tests can seed the odd data a real organisation holds.
func (s *Server) AddUser(u User) User {
	out, err := s.addUser(u)
	if err != nil {
		panic("omnitest: " + err.Error())
	}
	return out
}

func (s *Server) addUser(u User) (User, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if u.ID == "" {
		u.ID = newUUID()
	}
	if _, dup := s.byID[u.ID]; dup {
		return User{}, fmt.Errorf("seed user: id %s already exists", u.ID)
	}
	if u.Created.IsZero() {
		u.Created = s.opts.Now().UTC()
	}
	if u.Modified.IsZero() {
		u.Modified = u.Created
	}
	u.Attributes = copyAttrs(u.Attributes)
	s.insert(u)
	return cloneUser(u), nil
}

// Users returns a snapshot of every user in creation order.
func (s *Server) Users() []User {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]User, len(s.order))
	for i, r := range s.order {
		out[i] = cloneUser(r.u)
	}
	return out
}

// User returns the user with the given id.
func (s *Server) User(id string) (User, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.byID[id]
	if !ok {
		return User{}, false
	}
	return cloneUser(r.u), true
}

// Stats returns a snapshot of the request counters.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.stats
	st.ByMethodStatus = make(map[string]int, len(s.stats.ByMethodStatus))
	for k, v := range s.stats.ByMethodStatus {
		st.ByMethodStatus[k] = v
	}
	return st
}

// ResetStats zeroes the request counters; users, the rate budget and the
// fault sequence are kept.
func (s *Server) ResetStats() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stats = Stats{ByMethodStatus: make(map[string]int)}
}

// insert adds u; s.mu must be held.
func (s *Server) insert(u User) *record {
	s.seq++
	r := &record{seq: s.seq, lower: strings.ToLower(u.UserName), u: u}
	s.byID[u.ID] = r
	s.order = append(s.order, r)
	s.byName[r.lower] = append(s.byName[r.lower], r)
	return r
}

// remove deletes r; s.mu must be held.
func (s *Server) remove(r *record) {
	delete(s.byID, r.u.ID)
	i := sort.Search(len(s.order), func(i int) bool { return s.order[i].seq >= r.seq })
	if i < len(s.order) && s.order[i] == r {
		s.order = append(s.order[:i], s.order[i+1:]...)
	}
	s.unindex(r)
	// Omni's groups hold users only, so a deleted user leaves them all.
	s.dropMember(r.u.ID)
}

// rename moves r to a new userName in the index; s.mu must be held.
func (s *Server) rename(r *record, userName string) {
	lower := strings.ToLower(userName)
	if lower != r.lower {
		s.unindex(r)
		r.lower = lower
		// Keep creation order within the index entry.
		list := s.byName[lower]
		i := sort.Search(len(list), func(i int) bool { return list[i].seq >= r.seq })
		list = append(list, nil)
		copy(list[i+1:], list[i:])
		list[i] = r
		s.byName[lower] = list
	}
	r.u.UserName = userName
}

func (s *Server) unindex(r *record) {
	list := s.byName[r.lower]
	for i, x := range list {
		if x == r {
			list = append(list[:i], list[i+1:]...)
			break
		}
	}
	if len(list) == 0 {
		delete(s.byName, r.lower)
	} else {
		s.byName[r.lower] = list
	}
}

// conflicts reports whether giving user self (nil for a new user) the name
// lower and the given active state would clash with another user; s.mu must
// be held.
func (s *Server) conflicts(lower string, active bool, self *record) bool {
	for _, r := range s.byName[lower] {
		if r == self {
			continue
		}
		if !s.opts.ReuseInactiveEmail || (r.u.Active && active) {
			return true
		}
	}
	return false
}

// authorized returns the accepted token the request carries, whose budget
// it spends, and false when it carries none.
func (s *Server) authorized(r *http.Request) (string, bool) {
	h := r.Header.Get("Authorization")
	const prefix = "bearer "
	if len(h) < len(prefix) || !strings.EqualFold(h[:len(prefix)], prefix) {
		return "", false
	}
	got := []byte(strings.TrimSpace(h[len(prefix):]))
	s.mu.Lock()
	tokens := s.tokens
	s.mu.Unlock()
	for _, tok := range tokens {
		if subtle.ConstantTimeCompare(got, []byte(tok)) == 1 {
			return tok, true
		}
	}
	return "", false
}

// take spends one slot of token's budget at now, or reports how long until a
// slot frees. The window is (now-60s, now]. s.mu must be held.
func (s *Server) take(token string, now time.Time) (bool, time.Duration) {
	rpm := s.opts.RequestsPerMinute
	if rpm <= 0 {
		return true, 0
	}
	w := s.windows[token]
	cut := now.Add(-time.Minute)
	i := 0
	for i < len(w) && !w[i].After(cut) {
		i++
	}
	w = w[i:]
	if len(w) >= rpm {
		s.windows[token] = w
		return false, w[0].Add(time.Minute).Sub(now)
	}
	s.windows[token] = append(w, now)
	return true, 0
}

// retryAfterSeconds rounds a wait up to whole seconds, at least one, since
// Retry-After has no finer unit and 0 would invite an immediate retry.
func retryAfterSeconds(d time.Duration) int {
	sec := int((d + time.Second - 1) / time.Second)
	if sec < 1 {
		sec = 1
	}
	return sec
}

func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

func cloneUser(u User) User {
	u.Attributes = copyAttrs(u.Attributes)
	return u
}

func copyAttrs(m map[string]any) map[string]any {
	if len(m) == 0 {
		return nil
	}
	out := make(map[string]any, len(m))
	for k, v := range m {
		if l, ok := v.([]any); ok {
			v = append([]any(nil), l...)
		}
		out[k] = v
	}
	return out
}
