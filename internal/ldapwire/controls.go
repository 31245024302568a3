package ldapwire

import (
	"fmt"

	"github.com/go-ldap/ldap/v3"
	"github.com/google/uuid"
)

const (
	tagBoolean    = 0x01
	tagEnumerated = 0x0a
)

// controls decodes the message's controls, if it has any. The sync state
// control (RFC 4533 section 2.2), which a content synchronisation sends
// with every entry, is decoded here in place; any other goes through
// go-ldap's DecodeControl.
func (m message) controls() ([]ldap.Control, error) {
	if len(m.rest) == 0 {
		return nil, nil
	}
	tag, list, _, err := tlv(m.rest)
	if err != nil {
		return nil, err
	}
	if tag != tagControls {
		return nil, nil
	}
	var out []ldap.Control
	for len(list) > 0 {
		tag, content, next, err := tlv(list)
		if err != nil {
			return nil, err
		}
		whole := list[:len(list)-len(next)]
		list = next
		if tag == tagSequence {
			if st, ok, err := syncState(content); err != nil {
				return nil, err
			} else if ok {
				out = append(out, st)
				continue
			}
		}
		p, err := decodeElement(whole[0], content)
		if err != nil {
			return nil, err
		}
		ctl, err := ldap.DecodeControl(p)
		if err != nil {
			return nil, fmt.Errorf("ldap: decode control: %w", err)
		}
		out = append(out, ctl)
	}
	return out, nil
}

// syncState decodes a Control's content if it is a sync state control:
//
//	Control ::= SEQUENCE { controlType LDAPOID, criticality BOOLEAN
//	     DEFAULT FALSE, controlValue OCTET STRING OPTIONAL }
//	syncStateValue ::= SEQUENCE { state ENUMERATED, entryUUID syncUUID,
//	     cookie syncCookie OPTIONAL }
//
// ok is false for any other control. Criticality is reported false, as
// go-ldap reports it.
func syncState(content []byte) (*ldap.ControlSyncState, bool, error) {
	tag, oid, rest, err := tlv(content)
	if err != nil || tag != tagOctetString || string(oid) != ldap.ControlTypeSyncState {
		return nil, false, nil
	}
	if len(rest) > 0 && rest[0] == tagBoolean {
		if _, _, rest, err = tlv(rest); err != nil {
			return nil, false, err
		}
	}
	tag, value, after, err := tlv(rest)
	if err != nil || tag != tagOctetString || len(after) > 0 {
		return nil, false, malformed("sync state control without one value")
	}
	tag, seq, after, err := tlv(value)
	if err != nil || tag != tagSequence || len(after) > 0 {
		return nil, false, malformed("sync state control value is not one SEQUENCE")
	}
	tag, state, rest, err := tlv(seq)
	code, ok := smallInt(tag, tagEnumerated, state)
	if err != nil || !ok {
		return nil, false, malformed("sync state without a state")
	}
	tag, id, rest, err := tlv(rest)
	if err != nil || tag != tagOctetString || len(id) != 16 {
		return nil, false, malformed("sync state without a 16-byte entryUUID")
	}
	st := &ldap.ControlSyncState{State: ldap.ControlSyncStateState(code)}
	copy(st.EntryUUID[:], id)
	if len(rest) > 0 {
		tag, cookie, after, err := tlv(rest)
		if err != nil || tag != tagOctetString || len(after) > 0 {
			return nil, false, malformed("sync state cookie is not one OCTET STRING")
		}
		st.Cookie = append([]byte(nil), cookie...)
	}
	return st, true, nil
}

// Tags of an IntermediateResponse (RFC 4511 section 4.13) and of the
// syncIdSet choice of a syncInfoValue (RFC 4533 section 2.5).
const (
	tagResponseName  = 0x8a // [10] primitive
	tagResponseValue = 0x8b // [11] primitive
	tagSyncIDSet     = 0xa3 // [3] constructed
)

// syncIDSet decodes an IntermediateResponse's content in place if it is a
// syncInfo holding a syncIdSet, the one response that lists every entry of
// a present phase:
//
//	syncIdSet [3] SEQUENCE { cookie syncCookie OPTIONAL,
//	     refreshDeletes BOOLEAN DEFAULT FALSE, syncUUIDs SET OF syncUUID }
//
// ok is false for anything else, which goes through go-ldap.
func syncIDSet(content []byte) (*ldap.ControlSyncInfo, bool, error) {
	tag, name, rest, err := tlv(content)
	if err != nil || tag != tagResponseName || string(name) != ldap.ControlTypeSyncInfo {
		return nil, false, nil
	}
	tag, value, after, err := tlv(rest)
	if err != nil || tag != tagResponseValue || len(after) > 0 {
		return nil, false, nil
	}
	tag, set, after, err := tlv(value)
	if err != nil || tag != tagSyncIDSet {
		return nil, false, nil
	}
	if len(after) > 0 {
		return nil, false, malformed("syncIdSet: %d bytes after it", len(after))
	}
	ids := &ldap.ControlSyncInfoSyncIdSet{}
	// The members in their order, each at most once.
	tag, v, next, err := tlv(set)
	if err == nil && tag == tagOctetString {
		ids.Cookie = append([]byte(nil), v...)
		tag, v, next, err = tlv(next)
	}
	if err == nil && tag == tagBoolean {
		if len(v) != 1 {
			return nil, false, malformed("syncIdSet: refreshDeletes of %d bytes", len(v))
		}
		ids.RefreshDeletes = v[0] != 0
		tag, v, next, err = tlv(next)
	}
	if err != nil || tag != tagSet || len(next) > 0 {
		return nil, false, malformed("syncIdSet: not cookie, refreshDeletes and one set of syncUUIDs")
	}
	uuids := v
	n := 0
	for b := uuids; len(b) > 0; n++ {
		tag, v, next, err := tlv(b)
		if err != nil {
			return nil, false, err
		}
		if tag != tagOctetString || len(v) != 16 {
			return nil, false, malformed("syncIdSet: a syncUUID that is not 16 bytes")
		}
		b = next
	}
	ids.SyncUUIDs = make([]uuid.UUID, n)
	for i, b := 0, uuids; len(b) > 0; i++ {
		_, v, next, _ := tlv(b)
		copy(ids.SyncUUIDs[i][:], v)
		b = next
	}
	return &ldap.ControlSyncInfo{Value: ldap.SyncInfoSyncIdSet, SyncIdSet: ids}, true, nil
}
