package ldapwire

import (
	"reflect"
	"testing"

	ber "github.com/go-asn1-ber/asn1-ber"
	"github.com/go-ldap/ldap/v3"
	"pgregory.net/rapid"
)

// syncStateControl is a sync state control as slapd sends it with an entry.
func syncStateControl(critical bool, state int64, uuid []byte, cookie []byte) *ber.Packet {
	c := ber.Encode(ber.ClassUniversal, ber.TypeConstructed, ber.TagSequence, nil, "Control")
	c.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, ldap.ControlTypeSyncState, "Type"))
	if critical {
		c.AppendChild(ber.NewBoolean(ber.ClassUniversal, ber.TypePrimitive, ber.TagBoolean, true, "Criticality"))
	}
	v := ber.Encode(ber.ClassUniversal, ber.TypeConstructed, ber.TagSequence, nil, "Sync State")
	v.AppendChild(ber.NewInteger(ber.ClassUniversal, ber.TypePrimitive, ber.TagEnumerated, state, "State"))
	v.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, string(uuid), "entryUUID"))
	if cookie != nil {
		v.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, string(cookie), "Cookie"))
	}
	value := ber.Encode(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, nil, "Value")
	value.Data.Write(v.Bytes())
	c.AppendChild(value)
	return c
}

func TestSyncStateMatchesGoLDAP(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		uuid := rapid.SliceOfN(rapid.Byte(), 16, 16).Draw(t, "uuid")
		var cookie []byte
		if rapid.Bool().Draw(t, "has cookie") {
			cookie = rapid.SliceOfN(rapid.Byte(), 1, 80).Draw(t, "cookie")
		}
		raw := syncStateControl(rapid.Bool().Draw(t, "critical"), rapid.Int64Range(0, 3).Draw(t, "state"), uuid, cookie)
		want, err := ldap.DecodeControl(raw)
		if err != nil {
			t.Fatalf("go-ldap: %v", err)
		}
		_, content, _, err := tlv(raw.Bytes())
		if err != nil {
			t.Fatal(err)
		}
		got, ok, err := syncState(content)
		if err != nil || !ok {
			t.Fatalf("syncState = %v, %t", err, ok)
		}
		if !reflect.DeepEqual(ldap.Control(got), want) {
			t.Fatalf("syncState = %v, go-ldap %v", got, want)
		}
	})
}

// An entry's controls other than sync state still decode, through go-ldap.
func TestEntryControlsDecodeOthersThroughGoLDAP(t *testing.T) {
	c := newScript(t, func(id int64, op *ber.Packet) []byte {
		return cat(
			msg(id, entryPacket("uid=a,dc=example", nil), &ldap.ControlManageDsaIT{Criticality: true}),
			msg(id, result(ldap.ApplicationSearchResultDone, 0, "")),
		)
	})
	resp := c.Search(t.Context(), ldap.NewSearchRequest("dc=example", ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 0, 0, false, "(uid=*)", nil, nil))
	var got []ldap.Control
	for resp.Next() {
		if resp.Entry() != nil {
			got = resp.Controls()
		}
	}
	if resp.Err() != nil || len(got) != 1 || got[0].GetControlType() != ldap.ControlTypeManageDsaIT {
		t.Errorf("controls %v, err %v; want the ManageDsaIT control", got, resp.Err())
	}
}

// syncIDSetResponse is an IntermediateResponse carrying a syncInfo with a
// syncIdSet, as slapd sends one in a present phase.
func syncIDSetResponse(cookie []byte, deletes *bool, uuids [][]byte) *ber.Packet {
	set := ber.Encode(ber.ClassContext, ber.TypeConstructed, 3, nil, "syncIdSet")
	if cookie != nil {
		set.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, string(cookie), "cookie"))
	}
	if deletes != nil {
		set.AppendChild(ber.NewBoolean(ber.ClassUniversal, ber.TypePrimitive, ber.TagBoolean, *deletes, "refreshDeletes"))
	}
	ids := ber.Encode(ber.ClassUniversal, ber.TypeConstructed, ber.TagSet, nil, "syncUUIDs")
	for _, u := range uuids {
		ids.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, string(u), "uuid"))
	}
	set.AppendChild(ids)
	op := ber.Encode(ber.ClassApplication, ber.TypeConstructed, ldap.ApplicationIntermediateResponse, nil, "Intermediate Response")
	op.AppendChild(ber.NewString(ber.ClassContext, ber.TypePrimitive, 10, ldap.ControlTypeSyncInfo, "responseName"))
	value := ber.Encode(ber.ClassContext, ber.TypePrimitive, 11, nil, "responseValue")
	value.Data.Write(set.Bytes())
	op.AppendChild(value)
	return op
}

func TestSyncIDSetMatchesGoLDAP(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		var cookie []byte
		if rapid.Bool().Draw(t, "has cookie") {
			cookie = rapid.SliceOfN(rapid.Byte(), 1, 60).Draw(t, "cookie")
		}
		var deletes *bool
		if rapid.Bool().Draw(t, "has refreshDeletes") {
			d := rapid.Bool().Draw(t, "refreshDeletes")
			deletes = &d
		}
		uuids := rapid.SliceOfN(rapid.SliceOfN(rapid.Byte(), 16, 16), 0, 300).Draw(t, "uuids")
		op := syncIDSetResponse(cookie, deletes, uuids)
		p, err := ber.DecodePacketErr(op.Bytes())
		if err != nil {
			t.Fatal(err)
		}
		want, err := ldap.DecodeControl(p)
		if err != nil {
			t.Fatalf("go-ldap: %v", err)
		}
		_, content, _, err := tlv(op.Bytes())
		if err != nil {
			t.Fatal(err)
		}
		got, ok, err := syncIDSet(content)
		if err != nil || !ok {
			t.Fatalf("syncIDSet = %v, %t", err, ok)
		}
		if !reflect.DeepEqual(ldap.Control(got), want) {
			t.Fatalf("syncIDSet = %v, go-ldap %v", got, want)
		}
	})
}
