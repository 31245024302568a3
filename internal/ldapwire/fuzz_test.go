package ldapwire

import (
	"reflect"
	"testing"

	ber "github.com/go-asn1-ber/asn1-ber"
	"github.com/go-ldap/ldap/v3"
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

// FuzzSyncState: whatever a server sends as a control, syncState does not
// panic, and a sync state it accepts is the one go-ldap decodes.
func FuzzSyncState(f *testing.F) {
	f.Add(syncStateControl(false, 1, make([]byte, 16), nil).Bytes())
	f.Add(syncStateControl(true, 2, []byte("0123456789abcdef"), []byte("rid=001,csn=x")).Bytes())
	f.Fuzz(func(t *testing.T, raw []byte) {
		tag, content, _, err := tlv(raw)
		if err != nil || tag != tagSequence {
			return
		}
		got, ok, err := syncState(content)
		if err != nil || !ok {
			return
		}
		p, err := ber.DecodePacketErr(raw)
		if err != nil {
			t.Fatalf("syncState accepted what asn1-ber refuses: %v", err)
		}
		want, err := ldap.DecodeControl(p)
		if err != nil {
			t.Fatalf("syncState accepted what go-ldap refuses: %v", err)
		}
		if !reflect.DeepEqual(ldap.Control(got), want) {
			t.Fatalf("syncState = %v, go-ldap %v", got, want)
		}
	})
}

// FuzzSyncIDSet: whatever a server sends as an intermediate response,
// syncIDSet does not panic, and a syncIdSet it accepts is go-ldap's.
func FuzzSyncIDSet(f *testing.F) {
	yes := true
	f.Add(syncIDSetResponse([]byte("rid=001"), &yes, [][]byte{make([]byte, 16), []byte("0123456789abcdef")}).Bytes())
	f.Add(syncIDSetResponse(nil, nil, nil).Bytes())
	f.Fuzz(func(t *testing.T, raw []byte) {
		tag, content, _, err := tlv(raw)
		if err != nil || tag != opTag(ldap.ApplicationIntermediateResponse) {
			return
		}
		got, ok, err := syncIDSet(content)
		if err != nil || !ok {
			return
		}
		p, err := ber.DecodePacketErr(raw)
		if err != nil {
			t.Fatalf("syncIDSet accepted what asn1-ber refuses: %v", err)
		}
		want, err := ldap.DecodeControl(p)
		if err != nil {
			t.Fatalf("syncIDSet accepted what go-ldap refuses: %v", err)
		}
		if !reflect.DeepEqual(ldap.Control(got), want) {
			t.Fatalf("syncIDSet = %v, go-ldap %v", got, want)
		}
	})
}
