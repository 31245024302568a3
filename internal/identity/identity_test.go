package identity

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"maps"
	"sort"
	"testing"

	"pgregory.net/rapid"
)

// hashSpec is User.Hash as its encoding is specified: every field written
// as "<len>:<value>;", userName, displayName, then the attributes by key.
// Hashes are stored, so the encoding must never change.
func hashSpec(u User) string {
	h := sha256.New()
	field := func(s string) { fmt.Fprintf(h, "%d:%s;", len(s), s) }
	field(u.UserName)
	field(u.DisplayName)
	keys := make([]string, 0, len(u.Attributes))
	for k := range u.Attributes {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		field(k)
		field(u.Attributes[k])
	}
	return hex.EncodeToString(h.Sum(nil))
}

func TestHashKeepsItsEncoding(t *testing.T) {
	// A hash stored by an earlier syncd must still match.
	u := User{UserName: "ada@corp.example", DisplayName: "Ada Lovelace", Attributes: map[string]string{"dept": "R&D", "site": "London"}}
	if got, want := u.Hash(), hashSpec(u); got != want {
		t.Fatalf("Hash = %s, want %s", got, want)
	}
	rapid.Check(t, func(t *rapid.T) {
		u := User{
			UserName:    rapid.String().Draw(t, "userName"),
			DisplayName: rapid.String().Draw(t, "displayName"),
			Attributes:  rapid.MapOf(rapid.String(), rapid.String()).Draw(t, "attributes"),
			GivenName:   rapid.String().Draw(t, "givenName"),
		}
		if got, want := u.Hash(), hashSpec(u); got != want {
			t.Fatalf("Hash(%+v) = %s, want %s", u, got, want)
		}
	})
}

func BenchmarkHash(b *testing.B) {
	u := User{UserName: "ada@corp.example", DisplayName: "Ada Lovelace", Attributes: map[string]string{"dept": "R&D"}}
	b.ReportAllocs()
	for b.Loop() {
		_ = u.Hash()
	}
}

func TestAttributeSetSharesEqualMaps(t *testing.T) {
	var s AttributeSet
	a := s.Intern(map[string]string{"dept": "R&D", "site": "London"})
	b := s.Intern(map[string]string{"site": "London", "dept": "R&D"})
	c := s.Intern(map[string]string{"dept": "R&D", "site": "Paris"})
	// Lengths delimit the fields: "a:b" + "" is not "a" + ":b".
	d := s.Intern(map[string]string{"dept": "1:x"})
	e := s.Intern(map[string]string{"dept1:x": ""})
	if fmt.Sprintf("%p", a) != fmt.Sprintf("%p", b) {
		t.Error("equal maps are not shared")
	}
	if fmt.Sprintf("%p", a) == fmt.Sprintf("%p", c) || fmt.Sprintf("%p", d) == fmt.Sprintf("%p", e) {
		t.Error("different maps are shared")
	}
	if c["site"] != "Paris" || e["dept1:x"] != "" || len(e) != 1 {
		t.Errorf("maps changed: %v %v", c, e)
	}
	if s.Intern(nil) != nil {
		t.Error("nil is not kept nil")
	}
}

func TestAttributeSetPairsMatchIntern(t *testing.T) {
	var s AttributeSet
	p := s.Pairs([]string{"dept", "R&D", "site", "London"})
	if p["dept"] != "R&D" || p["site"] != "London" || len(p) != 2 {
		t.Fatalf("Pairs = %v", p)
	}
	if m := s.Intern(map[string]string{"site": "London", "dept": "R&D"}); fmt.Sprintf("%p", m) != fmt.Sprintf("%p", p) {
		t.Error("Intern of an equal map does not return the one Pairs made")
	}
	if q := s.Pairs([]string{"dept", "R&D", "site", "London"}); fmt.Sprintf("%p", q) != fmt.Sprintf("%p", p) {
		t.Error("equal pairs make a second map")
	}
	if s.Pairs(nil) != nil {
		t.Error("no pairs is not a nil map")
	}
}

// Maps too large to intern are kept whole, from pairs as from a map.
func TestAttributeSetKeepsLargeMaps(t *testing.T) {
	var s AttributeSet
	var kv []string
	want := map[string]string{}
	for i := range maxInternedKeys + 1 {
		k, v := fmt.Sprintf("k%02d", i), fmt.Sprintf("v%d", i)
		kv = append(kv, k, v)
		want[k] = v
	}
	if got := s.Pairs(kv); !maps.Equal(got, want) {
		t.Errorf("Pairs of %d attributes = %v, want %v", len(want), got, want)
	}
	if got := s.Intern(want); !maps.Equal(got, want) {
		t.Errorf("Intern of %d attributes = %v", len(want), got)
	}
}
