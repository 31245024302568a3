package source

import (
	"strings"
	"testing"

	"github.com/syncd-dev/syncd/internal/identity"
)

func TestCollector(t *testing.T) {
	u := func(id, dn, mail string) identity.User {
		return identity.User{ID: id, DN: dn, UserName: mail, DisplayName: mail, Active: true}
	}
	c := newCollector(0)
	c.add(u("3", "cn=c,dc=x", "c@x.org"), nil)
	c.add(u("1", "cn=a,dc=x", "a@x.org"), nil)
	// The same entry again through an overlapping base DN: kept once, not an error.
	c.add(u("1", "CN=a,DC=x", "a@x.org"), nil)
	// Another entry holding an id already seen: the first one wins.
	c.add(u("1", "cn=impostor,dc=x", "i@x.org"), nil)
	// Three entries sharing a userName: all three are skipped.
	c.add(u("4", "cn=d1,dc=x", "d@x.org"), nil)
	c.add(u("5", "cn=d2,dc=x", "d@x.org"), nil)
	c.add(u("6", "cn=d3,dc=x", "d@x.org"), nil)
	// A skipped entry seen twice is reported once.
	s := &identity.Skipped{DN: "cn=n,dc=x", Reason: identity.SkipNoEmail}
	c.add(identity.User{}, s)
	c.add(identity.User{}, s)
	c.add(u("2", "cn=b,dc=x", "b@x.org"), nil)

	users, skipped := c.finish()
	var ids []string
	for _, u := range users {
		ids = append(ids, u.ID)
	}
	if got := strings.Join(ids, ","); got != "1,2,3" {
		t.Errorf("user ids %s, want 1,2,3 (sorted, duplicates out)", got)
	}
	if users[0].DN != "cn=a,dc=x" {
		t.Errorf("id 1 kept from %s, want the first entry read", users[0].DN)
	}

	want := map[string]identity.SkipReason{
		"cn=d1,dc=x":       identity.SkipDuplicateEmail,
		"cn=d2,dc=x":       identity.SkipDuplicateEmail,
		"cn=d3,dc=x":       identity.SkipDuplicateEmail,
		"cn=impostor,dc=x": identity.SkipDuplicateID,
		"cn=n,dc=x":        identity.SkipNoEmail,
	}
	if len(skipped) != len(want) {
		t.Fatalf("skipped %+v, want %d entries", skipped, len(want))
	}
	for i, s := range skipped {
		if i > 0 && skipped[i-1].DN > s.DN {
			t.Errorf("skipped not sorted by DN: %s before %s", skipped[i-1].DN, s.DN)
		}
		if want[s.DN] != s.Reason {
			t.Errorf("%s skipped with %s, want %s", s.DN, s.Reason, want[s.DN])
		}
		if s.Reason == identity.SkipDuplicateEmail {
			if !strings.Contains(s.Detail, "cn=d") || strings.Contains(s.Detail, s.DN) {
				t.Errorf("%s detail %q does not name the other entry", s.DN, s.Detail)
			}
		}
		if s.Reason == identity.SkipDuplicateID && !strings.Contains(s.Detail, "cn=a,dc=x") {
			t.Errorf("duplicate id detail %q does not name the kept entry", s.Detail)
		}
	}
}
