package diff

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/syncd-dev/syncd/internal/identity"
)

// population returns n active linked users with DNs, and their directory
// users.
func population(n int) ([]identity.User, map[string]identity.Linked) {
	var users []identity.User
	var ls []identity.Linked
	for i := range n {
		u := user(fmt.Sprintf("id%03d", i), fmt.Sprintf("u%03d@corp.example", i))
		u.DN = fmt.Sprintf("uid=u%03d,ou=people,dc=corp", i)
		users = append(users, u)
		ls = append(ls, link(u, identity.StatusActive))
	}
	return users, known(ls...)
}

var safe = Policy{MinSourceFraction: 0.9, MaxDeprovisionsPerRun: 50, MaxDeprovisionPercent: 10}

func names(ops []Op) string {
	var s []string
	for _, op := range ops {
		s = append(s, op.User.UserName)
	}
	return strings.Join(s, ",")
}

func TestDecide(t *testing.T) {
	users10, known10 := population(10)
	users100, known100 := population(100)
	without := func(us []identity.User, drop ...int) []identity.User {
		var out []identity.User
		for i, u := range us {
			if !slices.Contains(drop, i) {
				out = append(out, u)
			}
		}
		return out
	}
	skipOf := func(u identity.User, id string, reason identity.SkipReason) identity.Skipped {
		return identity.Skipped{DN: u.DN, ID: id, Reason: reason}
	}
	with := func(p Policy, f func(*Policy)) Policy { f(&p); return p }

	tests := []struct {
		name   string
		in     Input
		policy Policy
		// deprovision, held and blocked list userNames; trip is a substring
		// of the joined trips ("" for none).
		deprovision, held, blocked, create, trip, override string
	}{
		{
			name:        "one departure of ten is within the percent cap",
			in:          Input{Read: Read{Users: without(users10, 3)}, Known: known10, LastGood: 10},
			policy:      safe,
			deprovision: "u003@corp.example",
		},
		{
			name:   "two departures of ten exceed 10%: none, and why",
			in:     Input{Read: Read{Users: without(users10, 3, 4)}, Known: known10, LastGood: -1},
			policy: safe,
			held:   "u003@corp.example,u004@corp.example", trip: "above safety.maxDeprovisionPercent",
		},
		{
			name:        "ten of a hundred is exactly the percent cap",
			in:          Input{Read: Read{Users: without(users100, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9)}, Known: known100, LastGood: 100},
			policy:      safe,
			deprovision: "u000@corp.example,u001@corp.example,u002@corp.example,u003@corp.example,u004@corp.example,u005@corp.example,u006@corp.example,u007@corp.example,u008@corp.example,u009@corp.example",
		},
		{
			name:   "the count cap",
			in:     Input{Read: Read{Users: without(users10, 1, 2)}, Known: known10, LastGood: -1},
			policy: with(safe, func(p *Policy) { p.MaxDeprovisionPercent = 100; p.MaxDeprovisionsPerRun = 1 }),
			held:   "u001@corp.example,u002@corp.example", trip: "above safety.maxDeprovisionsPerRun (1)",
		},
		{
			name:        "an override lets the run past the cap, and says so",
			in:          Input{Read: Read{Users: without(users10, 1, 2)}, Known: known10, LastGood: -1},
			policy:      with(safe, func(p *Policy) { p.AllowMassDeprovision = true }),
			deprovision: "u001@corp.example,u002@corp.example", override: "above safety.maxDeprovisionPercent",
		},
		{
			name:   "deprovision mode none holds every deprovision",
			in:     Input{Read: Read{Users: without(users10, 5)}, Known: known10, LastGood: 10},
			policy: with(safe, func(p *Policy) { p.NoDeprovision = true }),
			held:   "u005@corp.example",
		},
		{
			name:   "an incomplete read deprovisions no one",
			in:     Input{Read: Read{Users: without(users10, 5), Incomplete: "size limit exceeded"}, Known: known10, LastGood: 10},
			policy: safe,
			held:   "u005@corp.example", trip: "directory search incomplete: size limit exceeded",
		},
		{
			name:   "an empty read deprovisions no one",
			in:     Input{Read: Read{}, Known: known10, LastGood: 10},
			policy: with(safe, func(p *Policy) { p.MaxDeprovisionPercent = 100 }),
			held:   names(linkedOps(known10)), trip: "directory returned no users in scope",
		},
		{
			name: "8 of a last good 10 is under 0.9 (the floor of 9)",
			in:   Input{Read: Read{Users: without(users10, 0, 1)}, Known: known10, LastGood: 10},
			policy: with(safe, func(p *Policy) {
				p.MaxDeprovisionPercent = 100
			}),
			held: "u000@corp.example,u001@corp.example", trip: "fewer than 90% of the last good run's 10",
		},
		{
			name:        "4 of a last good 5 passes 0.9, rounded down to 4 users",
			in:          Input{Read: Read{Users: without(users10, 0, 5, 6, 7, 8, 9)}, Known: known(link(users10[0], identity.StatusActive), link(users10[1], identity.StatusActive), link(users10[2], identity.StatusActive), link(users10[3], identity.StatusActive), link(users10[4], identity.StatusActive)), LastGood: 5},
			policy:      with(safe, func(p *Policy) { p.MaxDeprovisionPercent = 100 }),
			deprovision: "u000@corp.example",
		},
		{
			name:   "a canary not read holds deprovisions",
			in:     Input{Read: Read{Users: without(users10, 2)}, Known: known10, LastGood: 10},
			policy: with(safe, func(p *Policy) { p.CanaryDNs = []string{users10[2].DN} }),
			held:   "u002@corp.example", trip: "canary entries not found: " + users10[2].DN,
		},
		{
			name: "a canary found among the skipped counts as read",
			in: Input{Read: Read{Users: without(users10, 2, 3), Skipped: []identity.Skipped{skipOf(users10[2], users10[2].ID, identity.SkipNoEmail)}},
				Known: known10, LastGood: -1},
			policy:      with(safe, func(p *Policy) { p.CanaryDNs = []string{strings.ToUpper(users10[2].DN)}; p.MaxDeprovisionPercent = 100 }),
			deprovision: "u003@corp.example", held: "u002@corp.example",
		},
		{
			name:   "an unparsable canary is never found",
			in:     Input{Read: Read{Users: users10}, Known: known10, LastGood: 10},
			policy: with(safe, func(p *Policy) { p.CanaryDNs = []string{"not a dn"} }),
			trip:   "canary entries not found: not a dn",
		},
		{
			name: "a skipped entry is present by id: held, not deprovisioned",
			in: Input{Read: Read{Users: without(users10, 4), Skipped: []identity.Skipped{skipOf(users10[4], users10[4].ID, identity.SkipOversized)}},
				Known: known10, LastGood: 10},
			policy: safe,
			held:   "u004@corp.example",
		},
		{
			name: "a skipped entry without an id is present by DN",
			in: Input{Read: Read{Users: without(users10, 4), Skipped: []identity.Skipped{{DN: "UID=U004, ou=People,dc=corp", Reason: identity.SkipNoID}}},
				Known: known10, LastGood: 10},
			policy: safe,
			held:   "u004@corp.example",
		},
		{
			name: "an unmatched entry without an id holds every missing user",
			in: Input{Read: Read{Users: without(users10, 4), Skipped: []identity.Skipped{{DN: "uid=stranger,ou=people,dc=corp", Reason: identity.SkipNoID}}},
				Known: known10, LastGood: 10},
			policy: safe,
			held:   "u004@corp.example",
		},
		{
			name: "a skipped entry with an id nobody is linked to changes nothing",
			in: Input{Read: Read{Users: without(users10, 4), Skipped: []identity.Skipped{{DN: "uid=new,ou=people,dc=corp", ID: "new", Reason: identity.SkipNoEmail}}},
				Known: known10, LastGood: 10},
			policy:      safe,
			deprovision: "u004@corp.example",
		},
		{
			name:        "one departure is always within the percent cap",
			in:          Input{Read: Read{Users: users10[:4]}, Known: known(link(users10[0], identity.StatusActive), link(users10[1], identity.StatusActive), link(users10[2], identity.StatusActive), link(users10[3], identity.StatusActive), link(users10[4], identity.StatusActive)), LastGood: -1},
			policy:      safe,
			deprovision: "u004@corp.example",
		},
		{
			name: "two unmatched entries without an id, one with an unparsable DN",
			in: Input{Read: Read{Users: without(users10, 4), Skipped: []identity.Skipped{{DN: "uid=a,ou=people,dc=corp", Reason: identity.SkipNoID}, {DN: "=broken", Reason: identity.SkipNoID}}},
				Known: known10, LastGood: 10},
			policy: safe,
			held:   "u004@corp.example", trip: "",
		},
		{
			name: "a reactivation whose email another linked user holds waits",
			in: Input{Read: Read{Users: []identity.User{users10[0], func() identity.User { u := users10[1]; u.UserName = users10[0].UserName; return u }()}},
				Known: known(link(users10[0], identity.StatusActive), link(users10[1], identity.StatusDeprovisioned)), LastGood: -1},
			policy:  safe,
			blocked: "u000@corp.example",
		},
		{
			name:    "a create whose email a linked user holds waits",
			in:      Input{Read: Read{Users: append(without(users10, 6), user("rehire", "u006@corp.example"))}, Known: known10, LastGood: 10},
			policy:  safe,
			blocked: "u006@corp.example", deprovision: "u006@corp.example",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.in.Now = t0
			d := Decide(tt.in, tt.policy)
			if strings.Contains(tt.name, "two unmatched") && !strings.Contains(d.Plan.Held[0].Reason, "2 skipped entries without a readable id") {
				t.Errorf("held reason %q", d.Plan.Held[0].Reason)
			}
			check := func(what, got, want string) {
				t.Helper()
				if got != want {
					t.Errorf("%s: %q, want %q", what, got, want)
				}
			}
			check("deprovision", names(d.Plan.Deprovision), tt.deprovision)
			check("held", names(d.Plan.Held), tt.held)
			check("blocked", names(d.Plan.Blocked), tt.blocked)
			check("create", names(d.Plan.Create), tt.create)
			trips := strings.Join(d.Trips, "; ")
			if (tt.trip == "") != (trips == "") || !strings.Contains(trips, tt.trip) {
				t.Errorf("trips %q, want one with %q", trips, tt.trip)
			}
			overrides := strings.Join(d.Overrides, "; ")
			if (tt.override == "") != (overrides == "") || !strings.Contains(overrides, tt.override) {
				t.Errorf("overrides %q, want one with %q", overrides, tt.override)
			}
		})
	}
}

func linkedOps(k map[string]identity.Linked) []Op {
	var ops []Op
	for _, l := range k {
		ops = append(ops, Op{User: l.User})
	}
	sortOps(ops)
	return ops
}

// Two entries share an email: the one linked to the Omni user holding it
// stays; if neither holds it, both stay skipped.
func TestDecideSharedEmail(t *testing.T) {
	holder := user("holder", "shared@corp.example")
	newcomer := user("newcomer", "shared@corp.example")
	otherLinked := user("other", "elsewhere@corp.example")
	dup := func(u identity.User) identity.Skipped {
		c := u
		return identity.Skipped{DN: "uid=" + u.ID, ID: u.ID, Reason: identity.SkipDuplicateEmail, Candidate: &c}
	}
	for _, tt := range []struct {
		name    string
		known   map[string]identity.Linked
		users   string
		skipped string
	}{
		{"the holder is kept", known(link(holder, identity.StatusActive)), "holder", "newcomer"},
		{"the holder is kept among other users", known(link(holder, identity.StatusActive), link(otherLinked, identity.StatusActive)), "holder,other", "newcomer"},
		{"no holder: both skipped", known(link(otherLinked, identity.StatusActive)), "", "holder,newcomer"},
		{"a deprovisioned holder holds nothing", known(link(holder, identity.StatusDeprovisioned)), "", "holder,newcomer"},
		{"linked under another email is no holder", known(link(user("holder", "old@corp.example"), identity.StatusActive)), "", "holder,newcomer"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			read := Read{Skipped: []identity.Skipped{dup(holder), dup(newcomer)}}
			if strings.Contains(tt.users, "other") {
				read.Users = []identity.User{otherLinked}
			}
			d := Decide(Input{Read: read, Known: tt.known, LastGood: -1, Now: t0}, Policy{MaxDeprovisionsPerRun: 50, MaxDeprovisionPercent: 100})
			var us, sks []string
			for _, u := range d.Users {
				us = append(us, u.ID)
			}
			for _, sk := range d.Skipped {
				sks = append(sks, sk.ID)
			}
			if strings.Join(us, ",") != tt.users || strings.Join(sks, ",") != tt.skipped {
				t.Errorf("users %v skipped %v, want %q and %q", us, sks, tt.users, tt.skipped)
			}
			if len(read.Skipped) != 2 {
				t.Errorf("Decide changed its input")
			}
		})
	}
}

// An operation Omni refused for good is not planned again while the entry
// asks for the same values, for a day at most.
func TestDecideRefused(t *testing.T) {
	alice := user("a", "alice@corp.example")
	renamed := alice
	renamed.DisplayName = "Alice Renamed"
	refusal := Refusal{Kind: Create, DesiredHash: alice.Hash(), Reason: "omni refused", Action: "fix it", Attempts: 2, FirstAt: t0.Add(-48 * time.Hour), LastTriedAt: t0.Add(-time.Hour)}
	for _, tt := range []struct {
		name    string
		user    identity.User
		refusal Refusal
		blocked bool
	}{
		{"same values within a day: blocked", alice, refusal, true},
		{"the entry changed: tried again", renamed, refusal, false},
		{"a day has passed: tried again", alice, func() Refusal { r := refusal; r.LastTriedAt = t0.Add(-RefusalRetryAfter); return r }(), false},
		{"another kind of operation: not blocked", alice, func() Refusal { r := refusal; r.Kind = Update; return r }(), false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			d := Decide(Input{Read: Read{Users: []identity.User{tt.user}}, LastGood: -1, Now: t0, Refused: map[string]Refusal{"a": tt.refusal}}, safe)
			if got := len(d.Plan.Blocked) == 1; got != tt.blocked || (len(d.Plan.Create) == 1) == tt.blocked {
				t.Fatalf("blocked %v, create %v", d.Plan.Blocked, d.Plan.Create)
			}
			if tt.blocked && !strings.Contains(d.Plan.Blocked[0].Reason, "to fix: fix it") {
				t.Errorf("blocked reason %q", d.Plan.Blocked[0].Reason)
			}
		})
	}
}

// A linked user whose entry comes back skipped after a missing spell is
// present again: its grace clock is reset.
func TestDecideSkippedResetsMissingMark(t *testing.T) {
	alice := user("a", "alice@corp.example")
	l := link(alice, identity.StatusActive)
	l.FirstMissingAt, l.MissingRuns = t0.Add(-time.Hour), 2
	d := Decide(Input{Read: Read{Skipped: []identity.Skipped{{DN: "uid=a", ID: "a", Reason: identity.SkipNoEmail}}, Users: []identity.User{user("b", "b@corp.example")}},
		Known: known(l), LastGood: -1, Now: t0}, safe)
	if len(d.Plan.Marks) != 1 || !d.Plan.Marks[0].FirstMissingAt.IsZero() || len(d.Plan.Held) != 1 {
		t.Errorf("marks %+v held %v", d.Plan.Marks, d.Plan.Held)
	}
}

func TestSortOpsTiesOnID(t *testing.T) {
	ops := []Op{{User: identity.User{ID: "b", UserName: "x"}}, {User: identity.User{ID: "a", UserName: "x"}}}
	sortOps(ops)
	if ops[0].User.ID != "a" {
		t.Errorf("ops not ordered by id on equal userNames: %v", ops)
	}
}

// A protected user is never deprovisioned, due or waiting, and its grace
// clock does not run.
func TestDecideProtected(t *testing.T) {
	users, k := population(3)
	p := with2(safe, func(p *Policy) { p.Protected = []string{"u001@corp.example"}; p.MaxDeprovisionPercent = 100 })
	d := Decide(Input{Read: Read{Users: []identity.User{users[0]}}, Known: k, LastGood: -1, Now: t0}, p)
	if names(d.Plan.Deprovision) != "u002@corp.example" || names(d.Plan.Held) != "u001@corp.example" ||
		!strings.Contains(d.Plan.Held[0].Reason, ReasonProtected) {
		t.Errorf("deprovision %q held %v", names(d.Plan.Deprovision), d.Plan.Held)
	}
	p.DeprovisionAfter = time.Hour
	d = Decide(Input{Read: Read{Users: []identity.User{users[0]}}, Known: k, LastGood: -1, Now: t0}, p)
	if names(d.Plan.Waiting) != "u002@corp.example" || names(d.Plan.Held) != "u001@corp.example" {
		t.Errorf("waiting %q held %q", names(d.Plan.Waiting), names(d.Plan.Held))
	}
	for _, m := range d.Plan.Marks {
		if m.ID == "id001" {
			t.Errorf("the protected user's grace clock runs: %+v", m)
		}
	}
}

func with2(p Policy, f func(*Policy)) Policy { f(&p); return p }

// Attributes syncd does not own are never compared: a key someone else set
// in Omni, or one dropped from the mapping, plans no update.
func TestDecideOwnedAttributes(t *testing.T) {
	alice := user("a", "alice@corp.example")
	l := link(alice, identity.StatusActive)
	l.Attributes = map[string]string{"department": "7", "droppedKey": "old"}
	l.Hash = l.User.Hash()
	in := Input{Read: Read{Users: []identity.User{alice}}, Known: known(l), LastGood: -1, Now: t0}
	if d := Decide(in, with2(safe, func(p *Policy) { p.OwnedAttributes = []string{"department"} })); len(d.Plan.Update) != 0 || d.Plan.Unchanged != 1 {
		t.Errorf("owning department only: updates %+v", d.Plan.Update)
	}
	if d := Decide(in, safe); len(d.Plan.Update) != 1 || d.Plan.Update[0].Changes[0].Field != AttributePrefix+"droppedKey" {
		t.Errorf("owning every key: updates %+v", d.Plan.Update)
	}
	if got := Owned(map[string]string{"a": "1", "b": "2"}, []string{"b", "c"}); len(got) != 1 || got["b"] != "2" {
		t.Errorf("Owned = %v", got)
	}
	if got := Owned(map[string]string{"a": "1"}, []string{}); got != nil {
		t.Errorf("owning nothing kept %v", got)
	}
	if len(in.Known["a"].Attributes) != 2 {
		t.Errorf("Decide changed its input")
	}
	bob := user("b", "bob@corp.example")
	plain := Input{Read: Read{Users: []identity.User{alice, bob}}, Known: known(link(alice, identity.StatusActive), link(bob, identity.StatusActive)), LastGood: -1, Now: t0}
	if d := Decide(plain, with2(safe, func(p *Policy) { p.OwnedAttributes = []string{"department"} })); d.Plan.Unchanged != 2 {
		t.Errorf("owned attributes only: %s", kinds(d.Plan))
	}
	if got := Owned(map[string]string{"a": "1"}, nil); len(got) != 1 {
		t.Errorf("a nil owned list owns every key: %v", got)
	}
}

// An incremental read: only what changed is read and only the users it
// concerns are known; an unchanged user is left alone, a deleted one goes,
// a missing one's clock runs on, a new entry cannot take a holder's email,
// and the counts for the guards and caps come from the input.
func TestDecidePartial(t *testing.T) {
	users, k := population(4) // id000 unchanged, id001 deleted, id002 missing earlier, id003 holds an email
	missing := k["id002"]
	missing.FirstMissingAt, missing.MissingRuns = t0.Add(-time.Hour), 1
	changed := map[string]identity.Linked{"id000": k["id000"], "id001": k["id001"], "id002": missing}
	holders := map[string]identity.Linked{"id003": k["id003"]}
	newcomer := user("new", users[3].UserName)
	in := Input{Read: Read{Users: []identity.User{newcomer}}, Known: changed, LastGood: 100, Now: t0,
		Partial: true, Deleted: map[string]bool{"id001": true}, Holders: holders, SourceCount: 99, ActiveLinked: 100}
	d := Decide(in, with2(safe, func(p *Policy) { p.MaxDeprovisionPercent = 5 }))
	if names(d.Plan.Deprovision) != "u001@corp.example,u002@corp.example" || len(d.Trips) != 0 {
		t.Errorf("deprovisions %q, trips %v", names(d.Plan.Deprovision), d.Trips)
	}
	if len(d.Plan.Blocked) != 1 || d.Plan.Blocked[0].User.ID != "new" || len(d.Plan.Create) != 0 {
		t.Errorf("blocked %+v creates %+v", d.Plan.Blocked, d.Plan.Create)
	}
	// The counts stand in for a full read's: none left in scope trips.
	in.SourceCount = 0
	if d := Decide(in, safe); len(d.Trips) == 0 || len(d.Plan.Deprovision) != 0 {
		t.Errorf("an empty directory: trips %v, deprovisions %q", d.Trips, names(d.Plan.Deprovision))
	}
	// The caps judge how much goes: 2 of 20 active is above 5%.
	in.SourceCount, in.ActiveLinked = 99, 20
	if d := Decide(in, with2(safe, func(p *Policy) { p.MaxDeprovisionPercent = 5 })); len(d.Trips) == 0 || len(d.Plan.Deprovision) != 0 {
		t.Errorf("over the percent cap: trips %v, deprovisions %q", d.Trips, names(d.Plan.Deprovision))
	}
	// minSourceFraction judges the carried count as a full read's: 89 of
	// the last good run's 100 is below 90%.
	in.SourceCount, in.ActiveLinked = 89, 100
	d = Decide(in, safe)
	if len(d.Trips) != 1 || !strings.Contains(d.Trips[0], "safety.minSourceFraction") || len(d.Plan.Deprovision) != 0 {
		t.Errorf("carried count below the fraction: trips %v, deprovisions %q", d.Trips, names(d.Plan.Deprovision))
	}
	in.SourceCount = 90
	if d := Decide(in, safe); len(d.Trips) != 0 {
		t.Errorf("carried count at the fraction: trips %v", d.Trips)
	}
	// A canary the read names gone trips; one it does not name stays found.
	canary := func(dn string) Policy { return with2(safe, func(p *Policy) { p.CanaryDNs = []string{dn} }) }
	if d := Decide(in, canary("UID=u001,ou=people,dc=corp")); len(d.Trips) != 1 || !strings.Contains(d.Trips[0], "canary entries not found: UID=u001") || len(d.Plan.Deprovision) != 0 {
		t.Errorf("deleted canary: trips %v, deprovisions %q", d.Trips, names(d.Plan.Deprovision))
	}
	if d := Decide(in, canary("uid=u000,ou=people,dc=corp")); len(d.Trips) != 0 {
		t.Errorf("unchanged canary: trips %v", d.Trips)
	}
	// A canary moved to another DN is not found where a full read looks.
	moved := in
	mu := k["id000"].User
	mu.DN = "uid=u000,ou=elsewhere,dc=corp"
	moved.Read.Users = append([]identity.User{mu}, in.Read.Users...)
	if d := Decide(moved, canary("uid=u000,ou=people,dc=corp")); len(d.Trips) != 1 || !strings.Contains(d.Trips[0], "canary entries not found") {
		t.Errorf("moved canary: trips %v", d.Trips)
	}
}
