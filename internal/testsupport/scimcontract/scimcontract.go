// Package scimcontract is the one contract every Omni in syncd's tests must
// keep: the SCIM client talking to the stand-in, the stand-in itself reached
// over plain HTTP, and the dry-run sink. The syncer trusts whatever answers
// as Omni to behave alike; running the same cases against each is what keeps
// the stand-in from drifting away from the client, and the dry run from
// drifting away from a real run, without anyone noticing.
//
// Run is the full contract, for an Omni that keeps users. RunWrites is the
// smaller one for an Omni that keeps nothing (the dry run): rather than skip
// the cases that need state, which would pass for coverage it does not give,
// it asserts what such an Omni does promise.
package scimcontract

import (
	"context"
	"maps"
	"testing"

	"github.com/syncd-dev/syncd/internal/identity"
	"github.com/syncd-dev/syncd/internal/sink"
)

// Omni is what the syncer sends changes to; it matches syncer.Sink method
// for method, so that anything the syncer accepts can be run here as is.
type Omni interface {
	Create(ctx context.Context, u identity.User) (sink.User, error)
	Patch(ctx context.Context, id string, changes []sink.Change) error
	SetActive(ctx context.Context, id string, active bool) error
	Delete(ctx context.Context, id string) error
	Get(ctx context.Context, id string) (sink.User, error)
	FindByUserName(ctx context.Context, userName string) (sink.User, bool, error)
}

// Lister is the listing an Omni may offer (syncer.Lister); Run checks it
// when the Omni has it.
type Lister interface {
	List(ctx context.Context, fn func(sink.User) error) error
}

// MissingID is an id no Omni under test has given out: a well-formed UUID,
// so that a 404 is about the user being missing, not the id being odd.
const MissingID = "00000000-0000-4000-8000-000000000000"

// Alice and Bob are the users the cases send. Their userNames are lower
// case, as syncd sends them; the cases vary the case where it matters.
var (
	Alice = identity.User{ID: "dir-alice", UserName: "alice@example.com", DisplayName: "Alice Liddell",
		Active: true, Attributes: map[string]string{"department": "eng", "costCenter": "1001"}}
	Bob = identity.User{ID: "dir-bob", UserName: "bob@example.com", DisplayName: "Bob Builder", Active: true}
)

type contractCase struct {
	name string
	run  func(t *testing.T, o Omni)
}

// writeCases hold for every Omni, stateful or not: a write answers with the
// values sent and carries the id through.
var writeCases = []contractCase{
	{"CreateReturnsIDAndTheUserAsSent", func(t *testing.T, o Omni) {
		got := create(t, o, Alice)
		checkUser(t, "create", got, got.ID, Alice, true)
	}},
	{"PatchOfACreatedUserSucceeds", func(t *testing.T, o Omni) {
		created := create(t, o, Alice)
		if err := o.Patch(context.Background(), created.ID, renameChanges); err != nil {
			t.Fatalf("patch: %v", err)
		}
	}},
	{"SetActiveAndDeleteOfACreatedUserSucceed", func(t *testing.T, o Omni) {
		ctx := context.Background()
		a, b := create(t, o, Alice), create(t, o, Bob)
		if err := o.SetActive(ctx, a.ID, false); err != nil {
			t.Errorf("deactivate: %v", err)
		}
		if err := o.Delete(ctx, b.ID); err != nil {
			t.Errorf("delete: %v", err)
		}
	}},
}

// stateCases hold for an Omni that keeps users, as Omni does.
var stateCases = []contractCase{
	{"GetReturnsTheUserAsCreated", func(t *testing.T, o Omni) {
		created := create(t, o, Alice)
		checkUser(t, "get", get(t, o, created.ID), created.ID, Alice, true)
	}},
	{"CreateOfATakenEmailIs409IgnoringCase", func(t *testing.T, o Omni) {
		create(t, o, Alice)
		for _, name := range []string{Alice.UserName, "Alice@Example.COM"} {
			again := Bob
			again.UserName = name
			if _, err := o.Create(context.Background(), again); !sink.IsStatus(err, 409) {
				t.Errorf("create %s after %s: got %v, want status 409", name, Alice.UserName, err)
			}
		}
	}},
	{"FindByUserNameIgnoresCase", func(t *testing.T, o Omni) {
		created := create(t, o, Alice)
		create(t, o, Bob)
		for _, name := range []string{Alice.UserName, "ALICE@example.com", "alice@EXAMPLE.com"} {
			got, found, err := o.FindByUserName(context.Background(), name)
			if err != nil || !found {
				t.Errorf("find %s: found=%t, %v; want the user created as %s", name, found, err, Alice.UserName)
				continue
			}
			checkUser(t, "find "+name, got, created.ID, Alice, true)
		}
		if got, found, err := o.FindByUserName(context.Background(), "nobody@example.com"); err != nil || found {
			t.Errorf("find of a userName never created: %+v, found=%t, %v; want not found and no error", got, found, err)
		}
	}},
	{"GetOfAMissingIDIs404", func(t *testing.T, o Omni) {
		if got, err := o.Get(context.Background(), MissingID); !sink.IsStatus(err, 404) {
			t.Errorf("get %s: %+v, %v; want status 404", MissingID, got, err)
		}
	}},
	{"PatchChangesExactlyTheNamedFieldsAndKeepsTheID", func(t *testing.T, o Omni) {
		ctx := context.Background()
		created := create(t, o, Alice)
		want := renamed(Alice)
		if err := o.Patch(ctx, created.ID, renameChanges); err != nil {
			t.Fatalf("patch: %v", err)
		}
		// costCenter was removed, department changed, site added; an
		// attribute a PATCH does not name would have stayed.
		checkUser(t, "get after patch", get(t, o, created.ID), created.ID, want, true)
		got, found, err := o.FindByUserName(ctx, want.UserName)
		if err != nil || !found || got.ID != created.ID {
			t.Errorf("find by the new userName: %+v, found=%t, %v; want id %s", got, found, err, created.ID)
		}
		if got, found, err := o.FindByUserName(ctx, Alice.UserName); err != nil || found {
			t.Errorf("find by the old userName: %+v, found=%t, %v; want not found", got, found, err)
		}
	}},
	{"SetActiveFalseMakesGetReportInactive", func(t *testing.T, o Omni) {
		created := create(t, o, Alice)
		if err := o.SetActive(context.Background(), created.ID, false); err != nil {
			t.Fatalf("deactivate: %v", err)
		}
		checkUser(t, "get after deactivate", get(t, o, created.ID), created.ID, Alice, false)
	}},
	{"DeleteThenGetIs404", func(t *testing.T, o Omni) {
		ctx := context.Background()
		created := create(t, o, Alice)
		if err := o.Delete(ctx, created.ID); err != nil {
			t.Fatalf("delete: %v", err)
		}
		if got, err := o.Get(ctx, created.ID); !sink.IsStatus(err, 404) {
			t.Errorf("get after delete: %+v, %v; want status 404", got, err)
		}
	}},
	{"DeleteOfAMissingIDIs404", func(t *testing.T, o Omni) {
		// syncd counts a 404 on delete as done, so it must be a 404 and
		// not some other refusal.
		if err := o.Delete(context.Background(), MissingID); !sink.IsStatus(err, 404) {
			t.Errorf("delete %s: %v; want status 404", MissingID, err)
		}
	}},
	{"ListHasEveryUserOnce", func(t *testing.T, o Omni) {
		l, ok := o.(Lister)
		if !ok {
			t.Skip("this Omni offers no listing (implements no Lister)")
		}
		a, b := create(t, o, Alice), create(t, o, Bob)
		seen := map[string]int{}
		err := l.List(context.Background(), func(u sink.User) error {
			seen[u.ID]++
			switch u.ID {
			case a.ID:
				checkUser(t, "listed", u, a.ID, Alice, true)
			case b.ID:
				checkUser(t, "listed", u, b.ID, Bob, true)
			}
			return nil
		})
		if err != nil {
			t.Fatalf("list: %v", err)
		}
		if len(seen) != 2 || seen[a.ID] != 1 || seen[b.ID] != 1 {
			t.Errorf("listed %v; want %s and %s once each", seen, a.ID, b.ID)
		}
	}},
}

// statelessCases hold for an Omni that keeps nothing: it must claim no
// state, so that nothing planned from it pretends to know what Omni holds.
var statelessCases = []contractCase{
	{"FindByUserNameFindsNothingEvenAfterCreate", func(t *testing.T, o Omni) {
		create(t, o, Alice)
		if got, found, err := o.FindByUserName(context.Background(), Alice.UserName); err != nil || found {
			t.Errorf("find: %+v, found=%t, %v; want not found and no error", got, found, err)
		}
	}},
	{"GetCarriesTheIDAndReportsNothingGoneOrInactive", func(t *testing.T, o Omni) {
		got, err := o.Get(context.Background(), MissingID)
		if err != nil || got.ID != MissingID || !got.Active {
			t.Errorf("get %s: %+v, %v; want that id, active, no error", MissingID, got, err)
		}
	}},
	{"WritesToAnyIDSucceed", func(t *testing.T, o Omni) {
		ctx := context.Background()
		if err := o.Patch(ctx, MissingID, renameChanges); err != nil {
			t.Errorf("patch: %v", err)
		}
		if err := o.SetActive(ctx, MissingID, false); err != nil {
			t.Errorf("deactivate: %v", err)
		}
		if err := o.Delete(ctx, MissingID); err != nil {
			t.Errorf("delete: %v", err)
		}
	}},
}

// Run runs the full contract. newOmni is called once per case and must
// return an Omni holding no users, cleaned up through t.
func Run(t *testing.T, newOmni func(t *testing.T) Omni) {
	run(t, newOmni, writeCases, stateCases)
}

// RunWrites runs the contract of an Omni that keeps nothing and answers
// every write as success: the write cases of Run, and the promise that it
// claims no state.
func RunWrites(t *testing.T, newOmni func(t *testing.T) Omni) {
	run(t, newOmni, writeCases, statelessCases)
}

func run(t *testing.T, newOmni func(t *testing.T) Omni, sets ...[]contractCase) {
	t.Helper()
	for _, set := range sets {
		for _, c := range set {
			t.Run(c.name, func(t *testing.T) { c.run(t, newOmni(t)) })
		}
	}
}

func create(t *testing.T, o Omni, u identity.User) sink.User {
	t.Helper()
	got, err := o.Create(context.Background(), u)
	if err != nil {
		t.Fatalf("create %s: %v", u.UserName, err)
	}
	if got.ID == "" {
		t.Fatalf("create %s: answered no id", u.UserName)
	}
	return got
}

func get(t *testing.T, o Omni, id string) sink.User {
	t.Helper()
	got, err := o.Get(context.Background(), id)
	if err != nil {
		t.Fatalf("get %s: %v", id, err)
	}
	return got
}

// renamed is u with every value a replace can change changed, one attribute
// changed, one dropped and one added.
// renameChanges turn Alice into renamed(Alice).
var renameChanges = []sink.Change{
	{Field: "userName", Value: "alice.l@example.com"},
	{Field: "displayName", Value: "Alice L."},
	{Attribute: "department", Value: "research"},
	{Attribute: "site", Value: "oxford"},
	{Attribute: "costCenter", Remove: true},
}

func renamed(u identity.User) identity.User {
	u.UserName = "alice.l@example.com"
	u.DisplayName = "Alice L."
	u.Attributes = map[string]string{"department": "research", "site": "oxford"}
	return u
}

// checkUser compares an answer with the user that was sent. Attributes are
// compared as sets of values: none sent and none answered are alike.
func checkUser(t *testing.T, what string, got sink.User, id string, sent identity.User, active bool) {
	t.Helper()
	if got.ID != id || got.UserName != sent.UserName || got.DisplayName != sent.DisplayName || got.Active != active ||
		!maps.Equal(got.Attributes, sent.Attributes) {
		t.Errorf("%s answered %+v; want id %s, userName %s, displayName %q, active %t, attributes %v",
			what, got, id, sent.UserName, sent.DisplayName, active, sent.Attributes)
	}
}
