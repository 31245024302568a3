package identity

import (
	"strings"
	"testing"

	"pgregory.net/rapid"
)

// The fast path gives the form the parser gives, for every DN it takes;
// DNs it refuses go to the parser.
func TestSimpleDNMatchesTheParser(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		dn := rapid.StringOfN(rapid.SampledFrom([]rune("aZb9=,.-_ +\\\"#;é")), 0, 40, -1).Draw(t, "dn")
		if got, ok := simpleDN(dn); ok {
			if want := parseNormalizeDN(dn); got != want {
				t.Fatalf("simpleDN(%q) = %q, the parser gives %q", dn, got, want)
			}
		}
	})
	for _, tt := range []struct {
		dn   string
		fast bool
	}{
		{"uid=John.Smith,OU=People,dc=corp", true},
		{"cn=a_b-c,dc=x", true},
		{"2.5.4.3=x,dc=y", true},
		{"uid=a, ou=b", false},
		{"cn=a+uid=b,dc=x", false},
		{`cn=a\,b,dc=x`, false},
		{"cn=,dc=x", false},
		{"=a", false},
		{"", false},
		{"cn=a,", false},
	} {
		if _, ok := simpleDN(tt.dn); ok != tt.fast {
			t.Errorf("simpleDN(%q) took it %t, want %t", tt.dn, ok, tt.fast)
		}
	}
	if got := NormalizeDN("UID=John.Smith,OU=People,DC=corp"); got != "uid=john.smith,ou=people,dc=corp" {
		t.Errorf("NormalizeDN = %q", got)
	}
	// A DN too long for an index key stands as its digest, the same for
	// every spelling.
	long := "cn=" + strings.Repeat("x", 600) + ",dc=corp"
	if a, b := NormalizeDN(long), NormalizeDN(strings.ToUpper(long)); a != b || len(a) != len(dnDigestPrefix)+64 || !strings.HasPrefix(a, dnDigestPrefix) {
		t.Errorf("a long DN normalizes to %q and %q", a, b)
	}
}

func BenchmarkNormalizeDN(b *testing.B) {
	for _, dn := range []string{"uid=john.smith42,ou=people,dc=corp,dc=example,dc=com", "uid=john smith, ou=people,dc=corp"} {
		b.Run(dn, func(b *testing.B) {
			for b.Loop() {
				NormalizeDN(dn)
			}
		})
	}
}
