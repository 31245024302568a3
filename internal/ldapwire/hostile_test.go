package ldapwire

import (
	"errors"
	"runtime"
	"strings"
	"testing"
	"time"

	ber "github.com/go-asn1-ber/asn1-ber"
	"github.com/go-ldap/ldap/v3"
)

// A continuation reference whose URI is empty would read as no reference
// at all, hiding a part of the scope: it fails the search instead.
func TestEmptyReferenceFailsTheSearch(t *testing.T) {
	c := newScript(t, func(id int64, op *ber.Packet) []byte {
		ref := ber.Encode(ber.ClassApplication, ber.TypeConstructed, ldap.ApplicationSearchResultReference, nil, "Reference")
		ref.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, "", "URI"))
		return cat(msg(id, ref), msg(id, result(ldap.ApplicationSearchResultDone, 0, "")))
	})
	resp, _ := search(c)
	if !errors.Is(resp.Err(), errMalformed) {
		t.Errorf("Err = %v, want the empty reference refused", resp.Err())
	}
}

// A bind answered by anything but a BindResponse is no bind.
func TestBindRefusesAnotherOperationsAnswer(t *testing.T) {
	c := newScript(t, func(id int64, op *ber.Packet) []byte {
		return msg(id, result(ldap.ApplicationSearchResultDone, 0, ""))
	})
	if err := c.Bind("cn=syncd,dc=example", "secret"); !errors.Is(err, errMalformed) {
		t.Errorf("Bind answered with a SearchResultDone = %v, want it refused", err)
	}
}

// Only short attribute names are kept for the entries to come.
func TestLongNamesAreNotInterned(t *testing.T) {
	long := strings.Repeat("x", maxNameLen+1)
	raw := entryPacket("uid=a", []attr{{"uid", []string{"a"}}, {long, []string{"v"}}}).Bytes()
	c := New(nil, 0)
	e, err := decodeOp(c, raw)
	if err != nil {
		t.Fatal(err)
	}
	if e.GetAttributeValue(long) != "v" || e.GetAttributeValue("uid") != "a" {
		t.Fatalf("decoded %s", show(e))
	}
	if _, kept := c.names[long]; kept {
		t.Error("a long attribute name is kept for the connection's life")
	}
	if _, kept := c.names["uid"]; !kept {
		t.Error("a short attribute name is not interned")
	}
}

// A message other than an entry is decoded by asn1-ber at many times its
// size: one above maxDecoded is refused.
func TestLargeResultIsRefused(t *testing.T) {
	c := newScript(t, func(id int64, op *ber.Packet) []byte {
		return msg(id, result(ldap.ApplicationSearchResultDone, ldap.LDAPResultOther, strings.Repeat("d", maxDecoded+1)))
	})
	resp, _ := search(c)
	if err := resp.Err(); !errors.Is(err, errMalformed) || !strings.Contains(err.Error(), "at most") {
		t.Errorf("Err = %v, want the result refused for its size", err)
	}
}

// A header claiming a huge message allocates only what arrives.
func TestHugeHeaderAllocatesWhatArrives(t *testing.T) {
	c := newScript(t, func(id int64, op *ber.Packet) []byte {
		// 64 MiB announced, 1 KiB sent, then silence.
		return append([]byte{tagSequence, 0x84, 0x04, 0, 0, 0}, make([]byte, 1024)...)
	})
	c.timeout = 50 * time.Millisecond
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	resp, _ := search(c)
	runtime.ReadMemStats(&after)
	if !ldap.IsErrorWithCode(resp.Err(), ldap.ErrorNetwork) {
		t.Errorf("Err = %v, want the deadline", resp.Err())
	}
	if grew := after.TotalAlloc - before.TotalAlloc; grew > 16<<20 {
		t.Errorf("allocated %d MiB for 1 KiB received", grew>>20)
	}
}

// A notice of disconnection in answer to a bind marks the connection
// unusable.
func TestNoticeDuringBind(t *testing.T) {
	c := newScript(t, func(id int64, op *ber.Packet) []byte {
		return msg(0, result(ldap.ApplicationExtendedResponse, ldap.LDAPResultUnavailable, "bye"))
	})
	if err := c.Bind("cn=syncd,dc=example", "secret"); !ldap.IsErrorWithCode(err, ldap.ErrorNetwork) {
		t.Fatalf("Bind = %v, want a network error", err)
	}
	if c.broken == nil {
		t.Error("the connection is still taken as usable")
	}
}
