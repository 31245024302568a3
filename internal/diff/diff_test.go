package diff

import (
	"fmt"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/syncd-dev/syncd/internal/identity"
)

var t0 = time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)

func user(id, email string) identity.User {
	return identity.User{ID: id, UserName: email, DisplayName: "User " + id, Active: true, Attributes: map[string]string{"department": "7"}}
}

func link(u identity.User, status identity.Status) identity.Linked {
	return identity.Linked{User: u, SCIMID: "scim-" + u.ID, Hash: u.Hash(), Status: status, Origin: identity.OriginCreated}
}

func known(ls ...identity.Linked) map[string]identity.Linked {
	m := make(map[string]identity.Linked, len(ls))
	for _, l := range ls {
		m[l.ID] = l
	}
	return m
}

func kinds(p Plan) string {
	return fmt.Sprintf("create=%d update=%d reactivate=%d deprovision=%d waiting=%d held=%d unchanged=%d ignored=%d",
		len(p.Create), len(p.Update), len(p.Reactivate), len(p.Deprovision), len(p.Waiting), len(p.Held), p.Unchanged, p.Ignored)
}

func TestCompute(t *testing.T) {
	alice := user("a", "alice@corp.example")
	bob := user("b", "bob@corp.example")
	bobRenamed := bob
	bobRenamed.DisplayName = "Robert"
	bobMoved := bob
	bobMoved.DN = "uid=bob,ou=elsewhere,dc=corp"
	bobEmail := bob
	bobEmail.UserName = "robert@corp.example"
	bobDept := bob
	bobDept.Attributes = map[string]string{"department": "8"}
	bobDisabled := bob
	bobDisabled.Active = false
	trust := Options{Now: t0, TrustAbsence: true}

	tests := []struct {
		name    string
		desired []identity.User
		known   map[string]identity.Linked
		opts    Options
		want    string
	}{
		{"initial sync creates everyone", []identity.User{alice, bob}, nil, trust,
			"create=2 update=0 reactivate=0 deprovision=0 waiting=0 held=0 unchanged=0 ignored=0"},
		{"nothing changed", []identity.User{alice, bob}, known(link(alice, identity.StatusActive), link(bob, identity.StatusActive)), trust,
			"create=0 update=0 reactivate=0 deprovision=0 waiting=0 held=0 unchanged=2 ignored=0"},
		{"display name change is an update", []identity.User{bobRenamed}, known(link(bob, identity.StatusActive)), trust,
			"create=0 update=1 reactivate=0 deprovision=0 waiting=0 held=0 unchanged=0 ignored=0"},
		{"email change is an update, not delete and create", []identity.User{bobEmail}, known(link(bob, identity.StatusActive)), trust,
			"create=0 update=1 reactivate=0 deprovision=0 waiting=0 held=0 unchanged=0 ignored=0"},
		{"attribute change is an update", []identity.User{bobDept}, known(link(bob, identity.StatusActive)), trust,
			"create=0 update=1 reactivate=0 deprovision=0 waiting=0 held=0 unchanged=0 ignored=0"},
		{"move between OUs changes nothing", []identity.User{bobMoved}, known(link(bob, identity.StatusActive)), trust,
			"create=0 update=0 reactivate=0 deprovision=0 waiting=0 held=0 unchanged=1 ignored=0"},
		{"missing user is deprovisioned", []identity.User{alice}, known(link(alice, identity.StatusActive), link(bob, identity.StatusActive)), trust,
			"create=0 update=0 reactivate=0 deprovision=1 waiting=0 held=0 unchanged=1 ignored=0"},
		{"disabled user is deprovisioned", []identity.User{bobDisabled}, known(link(bob, identity.StatusActive)), trust,
			"create=0 update=0 reactivate=0 deprovision=1 waiting=0 held=0 unchanged=0 ignored=0"},
		{"disabled user never linked is not created", []identity.User{bobDisabled}, nil, trust,
			"create=0 update=0 reactivate=0 deprovision=0 waiting=0 held=0 unchanged=0 ignored=1"},
		{"deprovisioned user back and enabled is reactivated", []identity.User{bob}, known(link(bob, identity.StatusDeprovisioned)), trust,
			"create=0 update=0 reactivate=1 deprovision=0 waiting=0 held=0 unchanged=0 ignored=0"},
		{"deprovisioned user still disabled is left alone", []identity.User{bobDisabled}, known(link(bob, identity.StatusDeprovisioned)), trust,
			"create=0 update=0 reactivate=0 deprovision=0 waiting=0 held=0 unchanged=0 ignored=1"},
		{"deprovisioned user still missing is left alone", nil, known(link(bob, identity.StatusDeprovisioned)), trust,
			"create=0 update=0 reactivate=0 deprovision=0 waiting=0 held=0 unchanged=0 ignored=0"},
		{"untrusted source holds every absence", []identity.User{bobDisabled}, known(link(alice, identity.StatusActive), link(bob, identity.StatusActive)), Options{Now: t0},
			"create=0 update=0 reactivate=0 deprovision=0 waiting=0 held=2 unchanged=0 ignored=0"},
		{"grace period makes a missing user wait", nil, known(link(bob, identity.StatusActive)), Options{Now: t0, TrustAbsence: true, DeprovisionAfter: time.Hour},
			"create=0 update=0 reactivate=0 deprovision=0 waiting=1 held=0 unchanged=0 ignored=0"},
		{"run count makes a missing user wait", nil, known(link(bob, identity.StatusActive)), Options{Now: t0, TrustAbsence: true, DeprovisionAfterRuns: 2},
			"create=0 update=0 reactivate=0 deprovision=0 waiting=1 held=0 unchanged=0 ignored=0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := Compute(tt.desired, tt.known, tt.opts)
			if got := kinds(p); got != tt.want {
				t.Errorf("plan:\n got %s\nwant %s", got, tt.want)
			}
		})
	}
}

func TestGracePeriod(t *testing.T) {
	bob := user("b", "bob@corp.example")
	k := link(bob, identity.StatusActive)
	opts := Options{Now: t0, TrustAbsence: true, DeprovisionAfter: time.Hour}

	p := Compute(nil, known(k), opts)
	if len(p.Waiting) != 1 || len(p.Marks) != 1 {
		t.Fatalf("first miss: %s, marks %v", kinds(p), p.Marks)
	}
	if m := p.Marks[0]; !m.FirstMissingAt.Equal(t0) || m.MissingRuns != 1 {
		t.Fatalf("first miss mark = %+v", m)
	}
	if !p.Waiting[0].Due.Equal(t0.Add(time.Hour)) {
		t.Errorf("due = %v, want %v", p.Waiting[0].Due, t0.Add(time.Hour))
	}

	k.FirstMissingAt, k.MissingRuns = t0, 1
	opts.Now = t0.Add(59 * time.Minute)
	if p := Compute(nil, known(k), opts); len(p.Deprovision) != 0 || p.Marks[0].MissingRuns != 2 || !p.Marks[0].FirstMissingAt.Equal(t0) {
		t.Fatalf("inside grace: %s, marks %+v", kinds(p), p.Marks)
	}
	opts.Now = t0.Add(time.Hour)
	if p := Compute(nil, known(k), opts); len(p.Deprovision) != 1 || p.Deprovision[0].Reason != ReasonMissing {
		t.Fatalf("after grace: %s", kinds(p))
	}

	// Back in the directory: the mark is cleared.
	p = Compute([]identity.User{bob}, known(k), opts)
	if p.Unchanged != 1 || len(p.Marks) != 1 || !p.Marks[0].FirstMissingAt.IsZero() {
		t.Fatalf("returned user: %s, marks %+v", kinds(p), p.Marks)
	}
}

func TestUntrustedSourceAdvancesNoMark(t *testing.T) {
	k := link(user("b", "bob@corp.example"), identity.StatusActive)
	p := Compute(nil, known(k), Options{Now: t0, DeprovisionAfter: time.Hour})
	if len(p.Marks) != 0 {
		t.Fatalf("marks = %+v, want none from an untrusted source", p.Marks)
	}
}

func TestFieldChanges(t *testing.T) {
	before := identity.User{UserName: "bob@x.example", DisplayName: "Bob", Attributes: map[string]string{"a": "1", "b": "2"}}
	after := identity.User{UserName: "robert@x.example", DisplayName: "Robert", Attributes: map[string]string{"b": "3", "c": "4"}}
	got := fmt.Sprint(FieldChanges(before, after))
	want := "[{userName bob@x.example robert@x.example} {displayName Bob Robert} {attributes.a 1 } {attributes.b 2 3} {attributes.c  4}]"
	if got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}

// apply plays a plan onto a model of the state, as a run that succeeds in
// every operation would.
func apply(p Plan, k map[string]identity.Linked) {
	set := func(u identity.User, st identity.Status) {
		l := k[u.ID]
		l.User, l.Hash, l.Status = u, u.Hash(), st
		if l.SCIMID == "" {
			l.SCIMID = "scim-" + u.ID
		}
		k[u.ID] = l
	}
	for _, op := range p.Create {
		set(op.User, identity.StatusActive)
	}
	for _, op := range append(p.Update, p.Reactivate...) {
		set(op.User, identity.StatusActive)
	}
	for _, op := range p.Deprovision {
		l := k[op.User.ID]
		l.Status, l.FirstMissingAt, l.MissingRuns = identity.StatusDeprovisioned, time.Time{}, 0
		k[op.User.ID] = l
	}
	for _, m := range p.Marks {
		l := k[m.ID]
		l.FirstMissingAt, l.MissingRuns = m.FirstMissingAt, m.MissingRuns
		k[m.ID] = l
	}
}

func genUser(ids []string) *rapid.Generator[identity.User] {
	return rapid.Custom(func(t *rapid.T) identity.User {
		id := rapid.SampledFrom(ids).Draw(t, "id")
		return identity.User{
			ID:          id,
			UserName:    rapid.SampledFrom([]string{id + "@a.example", id + "@b.example"}).Draw(t, "mail"),
			DisplayName: rapid.SampledFrom([]string{"", "X", "Zoë"}).Draw(t, "name"),
			Active:      rapid.Bool().Draw(t, "active"),
			Attributes:  rapid.MapOf(rapid.SampledFrom([]string{"dept", "site"}), rapid.SampledFrom([]string{"1", "2"})).Draw(t, "attrs"),
		}
	})
}

// Applying a plan and planning again against the same directory leaves
// nothing to do, whatever state the run started from.
func TestPlanConverges(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		ids := []string{"u1", "u2", "u3", "u4", "u5", "u6"}
		byID := map[string]identity.User{}
		for _, u := range rapid.SliceOf(genUser(ids)).Draw(t, "desired") {
			byID[u.ID] = u
		}
		var desired []identity.User
		for _, u := range byID {
			desired = append(desired, u)
		}
		k := map[string]identity.Linked{}
		for _, u := range rapid.SliceOf(genUser(ids)).Draw(t, "known") {
			st := rapid.SampledFrom([]identity.Status{identity.StatusActive, identity.StatusDeprovisioned}).Draw(t, "status")
			k[u.ID] = link(u, st)
		}
		opts := Options{Now: t0, TrustAbsence: rapid.Bool().Draw(t, "trust"),
			DeprovisionAfter: rapid.SampledFrom([]time.Duration{0, time.Hour}).Draw(t, "grace")}

		first := Compute(desired, k, opts)
		apply(first, k)
		second := Compute(desired, k, opts)
		if second.Changes() {
			t.Fatalf("second plan still has work: %s (first: %s)", kinds(second), kinds(first))
		}
		// Every active directory user is linked and active with its values.
		for _, u := range desired {
			if !u.Active {
				continue
			}
			l, ok := k[u.ID]
			if !ok || l.Status != identity.StatusActive || l.Hash != u.Hash() {
				t.Fatalf("user %s not in line after apply: %+v", u.ID, l)
			}
		}
	})
}
