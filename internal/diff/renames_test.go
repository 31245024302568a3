package diff

import (
	"strings"
	"testing"

	"github.com/syncd-dev/syncd/internal/identity"
)

// renameSteps plans the directory's users against known and returns the
// updates as "id:before->after" userName steps, in order.
func renameSteps(desired []identity.User, k map[string]identity.Linked) (string, Plan) {
	p := Compute(desired, k, Options{Now: t0, TrustAbsence: true})
	var steps []string
	for _, op := range p.Update {
		for _, c := range op.Changes {
			if c.Field == "userName" {
				steps = append(steps, op.User.ID+":"+c.Before+"->"+c.After)
			}
		}
	}
	return strings.Join(steps, " "), p
}

func renamedTo(u identity.User, mail string) identity.User { u.UserName = mail; return u }

func TestOrderRenames(t *testing.T) {
	a, b, c := user("a", "a@x.example"), user("b", "b@x.example"), user("c", "c@x.example")
	kabc := known(link(a, identity.StatusActive), link(b, identity.StatusActive), link(c, identity.StatusActive))
	tb, tc := tempName(link(b, identity.StatusActive)), tempName(link(c, identity.StatusActive))

	t.Run("a swap goes through a temporary name: three steps", func(t *testing.T) {
		got, p := renameSteps([]identity.User{renamedTo(a, "b@x.example"), renamedTo(b, "a@x.example"), c}, kabc)
		// Updates are ordered by their target, so the cycle starts at b.
		want := "b:b@x.example->" + tb + " a:a@x.example->b@x.example b:" + tb + "->a@x.example"
		if got != want || p.Update[0].Reason != ReasonTempName {
			t.Errorf("steps %q\nwant  %q", got, want)
		}
	})
	t.Run("a three-cycle", func(t *testing.T) {
		got, _ := renameSteps([]identity.User{renamedTo(a, "b@x.example"), renamedTo(b, "c@x.example"), renamedTo(c, "a@x.example")}, kabc)
		want := "c:c@x.example->" + tc + " b:b@x.example->c@x.example a:a@x.example->b@x.example c:" + tc + "->a@x.example"
		if got != want {
			t.Errorf("steps %q\nwant  %q", got, want)
		}
	})
	t.Run("a chain goes last link first, with no temporary name", func(t *testing.T) {
		got, _ := renameSteps([]identity.User{renamedTo(a, "b@x.example"), renamedTo(b, "c@x.example"), renamedTo(c, "d@x.example")}, kabc)
		if want := "c:c@x.example->d@x.example b:b@x.example->c@x.example a:a@x.example->b@x.example"; got != want {
			t.Errorf("steps %q\nwant  %q", got, want)
		}
	})
	t.Run("independent updates go first and keep their order", func(t *testing.T) {
		c2 := c
		c2.DisplayName = "C renamed"
		_, p := renameSteps([]identity.User{renamedTo(a, "b@x.example"), renamedTo(b, "z@x.example"), c2}, kabc)
		if p.Update[0].User.ID != "c" || p.Update[1].User.ID != "b" || p.Update[2].User.ID != "a" {
			t.Errorf("order %s", kinds(p))
		}
	})
	t.Run("an address a linked user keeps: the rename waits, and so does its chain", func(t *testing.T) {
		// c leaves (it keeps its address until deprovisioned); b wants it;
		// a wants b's.
		got, p := renameSteps([]identity.User{renamedTo(a, "b@x.example"), renamedTo(b, "c@x.example")}, kabc)
		if got != "" || len(p.Blocked) != 2 || !strings.Contains(p.Blocked[1].Reason, "held by linked user c") ||
			!strings.Contains(p.Blocked[0].Reason, "waits for a rename that is blocked") {
			t.Errorf("steps %q, blocked %+v", got, p.Blocked)
		}
	})
}
