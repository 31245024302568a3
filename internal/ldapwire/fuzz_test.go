package ldapwire

import (
	"testing"
)

// FuzzDecodeEntry: whatever a server sends as an entry, decodeEntry does
// not panic, and what it accepts asn1-ber decodes to the same entry.
func FuzzDecodeEntry(f *testing.F) {
	f.Add(entryPacket("uid=a,dc=example", []attr{{"uid", []string{"a"}}, {"mail", []string{"a@example.com"}}}).Bytes())
	f.Add(entryPacket("", nil).Bytes())
	f.Add(entryPacket("cn=g", []attr{{"member", []string{"uid=a", "uid=b", "uid=c"}}, {"cn", nil}}).Bytes())
	c := New(nil, 0)
	f.Fuzz(func(t *testing.T, raw []byte) {
		got, err := decodeOp(c, raw)
		if err != nil {
			return
		}
		want, err := oracle(raw)
		if err != nil {
			t.Fatalf("decodeEntry accepted what asn1-ber refuses (%v): %s", err, show(got))
		}
		if !sameEntry(got, want) {
			t.Fatalf("decodeEntry = %s, asn1-ber %s", show(got), show(want))
		}
	})
}
