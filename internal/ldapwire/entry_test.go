package ldapwire

import (
	"bytes"
	"fmt"
	"slices"
	"testing"

	ber "github.com/go-asn1-ber/asn1-ber"
	"github.com/go-ldap/ldap/v3"
	"pgregory.net/rapid"
)

// attr is one attribute as a test server sends it.
type attr struct {
	name   string
	values []string
}

// entryPacket is a SearchResultEntry operation built with asn1-ber, as a
// server would send it.
func entryPacket(dn string, attrs []attr) *ber.Packet {
	op := ber.Encode(ber.ClassApplication, ber.TypeConstructed, ldap.ApplicationSearchResultEntry, nil, "Search Result Entry")
	op.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, dn, "DN"))
	list := ber.Encode(ber.ClassUniversal, ber.TypeConstructed, ber.TagSequence, nil, "Attributes")
	for _, a := range attrs {
		seq := ber.Encode(ber.ClassUniversal, ber.TypeConstructed, ber.TagSequence, nil, "Attribute")
		seq.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, a.name, "Type"))
		set := ber.Encode(ber.ClassUniversal, ber.TypeConstructed, ber.TagSet, nil, "Values")
		for _, v := range a.values {
			set.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, v, "Value"))
		}
		seq.AppendChild(set)
		list.AppendChild(seq)
	}
	op.AppendChild(list)
	return op
}

// oracle decodes an entry operation with asn1-ber's packet tree, the way
// go-ldap does, as the reference for decodeEntry.
func oracle(raw []byte) (*ldap.Entry, error) {
	p, err := ber.DecodePacketErr(raw)
	if err != nil {
		return nil, err
	}
	if len(p.Children) < 2 {
		return nil, fmt.Errorf("short entry")
	}
	e := &ldap.Entry{DN: p.Children[0].Data.String()}
	for _, a := range p.Children[1].Children {
		if len(a.Children) < 2 {
			return nil, fmt.Errorf("short attribute")
		}
		ea := &ldap.EntryAttribute{Name: a.Children[0].Data.String()}
		for _, v := range a.Children[1].Children {
			ea.Values = append(ea.Values, v.Data.String())
		}
		e.Attributes = append(e.Attributes, ea)
	}
	return e, nil
}

func sameEntry(a, b *ldap.Entry) bool {
	if a.DN != b.DN || len(a.Attributes) != len(b.Attributes) {
		return false
	}
	for i := range a.Attributes {
		x, y := a.Attributes[i], b.Attributes[i]
		if x.Name != y.Name || len(x.Values) != len(y.Values) || !slices.Equal(x.Values, y.Values) {
			return false
		}
	}
	return true
}

// decodeOp splits a whole operation element and decodes it as Next does.
func decodeOp(c *Conn, raw []byte) (*ldap.Entry, error) {
	tag, content, _, err := tlv(raw)
	if err != nil {
		return nil, err
	}
	if tag != opTag(ldap.ApplicationSearchResultEntry) {
		return nil, malformed("not an entry")
	}
	return c.decodeEntry(content, false)
}

func TestDecodeEntryMatchesTheBERDecoder(t *testing.T) {
	c := New(nil, 0)
	rapid.Check(t, func(t *rapid.T) {
		str := rapid.StringN(0, 300, -1)
		dn := str.Draw(t, "dn")
		var attrs []attr
		for i := range rapid.IntRange(0, 12).Draw(t, "attrs") {
			// Names repeat across entries, so interning is exercised.
			name := rapid.SampledFrom([]string{"uid", "mail", "cn", "memberOf", "entryUUID", "x-" + str.Draw(t, "name")}).Draw(t, fmt.Sprint("name", i))
			attrs = append(attrs, attr{name: name, values: rapid.SliceOfN(str, 0, 20).Draw(t, fmt.Sprint("values", i))})
		}
		raw := entryPacket(dn, attrs).Bytes()
		got, err := decodeOp(c, raw)
		if err != nil {
			t.Fatalf("decodeEntry: %v", err)
		}
		want, err := oracle(raw)
		if err != nil {
			t.Fatalf("oracle: %v", err)
		}
		if !sameEntry(got, want) {
			t.Fatalf("decodeEntry = %s, want %s", show(got), show(want))
		}
	})
}

func show(e *ldap.Entry) string {
	var b bytes.Buffer
	fmt.Fprintf(&b, "%q", e.DN)
	for _, a := range e.Attributes {
		fmt.Fprintf(&b, " %s=%q", a.Name, a.Values)
	}
	return b.String()
}

func TestDecodeEntryRefusesBrokenFraming(t *testing.T) {
	good := entryPacket("uid=a,dc=example", []attr{{"uid", []string{"a"}}, {"mail", []string{"a@example.com", "b@example.com"}}}).Bytes()
	c := New(nil, 0)
	if _, err := decodeOp(c, good); err != nil {
		t.Fatalf("the good entry: %v", err)
	}
	// Every proper prefix is a cut message; every single-byte change of a
	// tag to INTEGER is a wrong element. Neither may panic or pass.
	for n := range len(good) - 1 {
		if _, err := decodeOp(c, good[:n]); err == nil {
			t.Errorf("prefix of %d bytes decoded", n)
		}
	}
	intValue := entryPacket("uid=a,dc=example", []attr{{"uid", nil}}).Bytes()
	intValue = slices.Clone(intValue)
	// Replace the SET tag of the values with an INTEGER tag.
	i := bytes.LastIndexByte(intValue, tagSet)
	intValue[i] = tagInteger
	if _, err := decodeOp(c, intValue); err == nil {
		t.Error("values with an INTEGER tag decoded")
	}
}

// userEntry is a user entry as a full read gets it.
func userEntry() []byte {
	return entryPacket("uid=user000001,ou=people,dc=example,dc=com", []attr{
		{"uid", []string{"user000001"}},
		{"mail", []string{"user000001@example.com"}},
		{"givenName", []string{"Ada"}},
		{"sn", []string{"Lovelace"}},
		{"displayName", []string{"Ada Lovelace"}},
		{"entryUUID", []string{"2f1d9c3e-0a55-4c3f-9a51-7e0c4b7e2a10"}},
		{"memberOf", []string{"cn=staff,ou=groups,dc=example,dc=com", "cn=eng,ou=groups,dc=example,dc=com"}},
	}).Bytes()
}

func TestDecodeEntryAllocations(t *testing.T) {
	raw := userEntry()
	_, content, _, _ := tlv(raw)
	c := New(nil, 0)
	for _, tt := range []struct {
		reuse bool
		most  float64
	}{{false, 5}, {true, 1}} {
		if _, err := c.decodeEntry(content, tt.reuse); err != nil {
			t.Fatal(err)
		}
		allocs := testing.AllocsPerRun(100, func() {
			if _, err := c.decodeEntry(content, tt.reuse); err != nil {
				t.Fatal(err)
			}
		})
		if allocs > tt.most {
			t.Errorf("reuse %t: %.0f allocations per entry, want at most %.0f", tt.reuse, allocs, tt.most)
		}
	}
}

// A reusing decode gives the same entry, and the strings of an entry stay
// as they were once the next one is decoded over it.
func TestDecodeEntryReusedKeepsItsStrings(t *testing.T) {
	c := New(nil, 0)
	rapid.Check(t, func(t *rapid.T) {
		var raws [][]byte
		for i := range 2 {
			var attrs []attr
			for j := range rapid.IntRange(0, 6).Draw(t, fmt.Sprint("attrs", i)) {
				attrs = append(attrs, attr{name: rapid.SampledFrom([]string{"uid", "mail", "cn", "member"}).Draw(t, fmt.Sprint("name", i, j)),
					values: rapid.SliceOfN(rapid.String(), 0, 8).Draw(t, fmt.Sprint("values", i, j))})
			}
			raws = append(raws, entryPacket(rapid.String().Draw(t, fmt.Sprint("dn", i)), attrs).Bytes())
		}
		first, err := decodeOp(New(nil, 0), raws[0])
		if err != nil {
			t.Fatal(err)
		}
		_, content, _, _ := tlv(raws[0])
		got, err := c.decodeEntry(content, true)
		if err != nil {
			t.Fatal(err)
		}
		if !sameEntry(got, first) {
			t.Fatalf("reused decode = %s, want %s", show(got), show(first))
		}
		dn := got.DN
		var kept []string
		for _, a := range got.Attributes {
			kept = append(kept, a.Values...)
		}
		_, content, _, _ = tlv(raws[1])
		if _, err := c.decodeEntry(content, true); err != nil {
			t.Fatal(err)
		}
		var want []string
		for _, a := range first.Attributes {
			want = append(want, a.Values...)
		}
		if dn != first.DN || !slices.Equal(kept, want) {
			t.Fatalf("strings of the first entry changed when the second was decoded")
		}
	})
}

func BenchmarkDecodeEntry(b *testing.B) {
	raw := userEntry()
	_, content, _, _ := tlv(raw)
	for _, reuse := range []bool{false, true} {
		b.Run(fmt.Sprintf("ldapwire/reuse=%t", reuse), func(b *testing.B) {
			c := New(nil, 0)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := c.decodeEntry(content, reuse); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	b.Run("asn1-ber", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := oracle(raw); err != nil {
				b.Fatal(err)
			}
		}
	})
}
