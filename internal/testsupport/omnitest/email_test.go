package omnitest

import (
	"testing"

	"github.com/syncd-dev/syncd/internal/identity"
)

// The stand-in's own userName rule, case by case.
func TestValidEmail(t *testing.T) {
	for _, c := range []struct {
		in   string
		want bool
	}{
		{"alice@example.com", true},
		{"Alice@Example.COM", true}, // case is kept and ignored for matching, never refused
		{"a.b+tag@mail.example.co.uk", true},
		{"ü@exämple.de", true},
		{"", false},
		{"alice", false},
		{"@example.com", false},
		{"alice@", false},
		{"alice@example", false},      // no dot in the domain
		{"alice@.example.com", false}, // empty label
		{"alice@example.com.", false},
		{"alice@example..com", false},
		{"a@b@example.com", false},
		{" alice@example.com", false}, // stored as sent, so space is not trimmed
		{"alice@example.com ", false},
		{"al ice@example.com", false},
		{"alice@exa\tmple.com", false},
		{"alice\x00@example.com", false},
		{"alice@example.com\n", false},
		{"alice@\xffexample.com", false},
	} {
		if got := validEmail(c.in); got != c.want {
			t.Errorf("validEmail(%q) = %t, want %t", c.in, got, c.want)
		}
	}
}

// The stand-in and syncd judge emails by separate rules, and on these inputs
// they disagree. That is the point of an independent oracle: syncd must
// refuse what it cannot send as is, and not count on Omni to refuse it.
func TestValidEmailDisagreesWithSyncd(t *testing.T) {
	for _, c := range []struct {
		in            string
		standin, sync bool
	}{
		// syncd trims and accepts; the stand-in stores userName verbatim
		// and refuses the space.
		{" alice@example.com", false, true},
		{"alice@example.com\t", false, true},
		// RFC 5322 forms that syncd's parser rejects or rewrites; the
		// stand-in's rule has nothing against them.
		{"a..b@example.com", true, false},
		{"a(comment)@example.com", true, false},
		{"alice@[example].com", true, false},
	} {
		_, err := identity.NormalizeEmail(c.in)
		if got := validEmail(c.in); got != c.standin {
			t.Errorf("stand-in on %q: %t, want %t", c.in, got, c.standin)
		}
		if got := err == nil; got != c.sync {
			t.Errorf("identity.NormalizeEmail(%q): ok=%t (%v), want ok=%t", c.in, got, err, c.sync)
		}
	}
}
