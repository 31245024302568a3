package ldapwire

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	ber "github.com/go-asn1-ber/asn1-ber"
	"github.com/go-ldap/ldap/v3"
)

// script is a server that answers each request it reads with what reply
// returns for it, as raw bytes: the tests say exactly what goes on the wire.
type script struct {
	t     *testing.T
	ln    net.Listener
	reply func(id int64, op *ber.Packet) []byte
}

func newScript(t *testing.T, reply func(id int64, op *ber.Packet) []byte) *Conn {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &script{t: t, ln: ln, reply: reply}
	go s.serve()
	nc, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	c := New(nc, 2*time.Second)
	t.Cleanup(func() { _ = c.Close(); _ = ln.Close() })
	return c
}

func (s *script) serve() {
	nc, err := s.ln.Accept()
	if err != nil {
		return
	}
	defer nc.Close()
	for {
		p, err := ber.ReadPacket(nc)
		if err != nil || len(p.Children) < 2 {
			return
		}
		id, _ := p.Children[0].Value.(int64)
		if p.Children[1].Tag == ldap.ApplicationUnbindRequest {
			return
		}
		out := s.reply(id, p.Children[1])
		if out == nil {
			continue
		}
		if _, err := nc.Write(out); err != nil {
			return
		}
	}
}

// msg wraps operations into LDAPMessages with id.
func msg(id int64, op *ber.Packet, controls ...ldap.Control) []byte {
	m := ber.Encode(ber.ClassUniversal, ber.TypeConstructed, ber.TagSequence, nil, "LDAP Response")
	m.AppendChild(ber.NewInteger(ber.ClassUniversal, ber.TypePrimitive, ber.TagInteger, id, "MessageID"))
	m.AppendChild(op)
	if len(controls) > 0 {
		cp := ber.Encode(ber.ClassContext, ber.TypeConstructed, 0, nil, "Controls")
		for _, c := range controls {
			cp.AppendChild(c.Encode())
		}
		m.AppendChild(cp)
	}
	return m.Bytes()
}

// result is an LDAPResult operation of the given application tag.
func result(app int, code uint16, diag string) *ber.Packet {
	op := ber.Encode(ber.ClassApplication, ber.TypeConstructed, ber.Tag(app), nil, "Result")
	op.AppendChild(ber.NewInteger(ber.ClassUniversal, ber.TypePrimitive, ber.TagEnumerated, uint64(code), "Result Code"))
	op.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, "", "Matched DN"))
	op.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, diag, "Diagnostic Message"))
	return op
}

func search(c *Conn) (*Response, []*ldap.Entry) {
	resp := c.Search(context.Background(), ldap.NewSearchRequest("dc=example", ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 0, 0, false, "(uid=*)", []string{"uid"}, nil))
	var entries []*ldap.Entry
	for resp.Next() {
		if e := resp.Entry(); e != nil {
			entries = append(entries, e)
		}
	}
	return resp, entries
}

func cat(parts ...[]byte) []byte {
	var out []byte
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

func TestSearchReadsEntriesReferencesAndTheCookie(t *testing.T) {
	c := newScript(t, func(id int64, op *ber.Packet) []byte {
		ref := ber.Encode(ber.ClassApplication, ber.TypeConstructed, ldap.ApplicationSearchResultReference, nil, "Reference")
		ref.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, "ldap://dc2.example/ou=emea,dc=example", "URI"))
		paging := ldap.NewControlPaging(10)
		paging.SetCookie([]byte("next"))
		return cat(
			msg(id+7, entryPacket("uid=stray,dc=example", []attr{{"uid", []string{"stray"}}})),
			msg(id, entryPacket("uid=a,dc=example", []attr{{"uid", []string{"a"}}})),
			msg(id, ref),
			msg(id, entryPacket("uid=b,dc=example", []attr{{"UID", []string{"b"}}})),
			msg(id, result(ldap.ApplicationSearchResultDone, 0, ""), paging),
		)
	})
	resp := c.Search(context.Background(), ldap.NewSearchRequest("dc=example", ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 0, 0, false, "(uid=*)", []string{"uid"}, nil))
	var got []string
	var cookie []byte
	for resp.Next() {
		switch {
		case resp.Entry() != nil:
			got = append(got, resp.Entry().DN+" "+resp.Entry().GetEqualFoldAttributeValue("uid"))
		case resp.Referral() != "":
			got = append(got, "ref "+resp.Referral())
		default:
			if p, ok := ldap.FindControl(resp.Controls(), ldap.ControlTypePaging).(*ldap.ControlPaging); ok {
				cookie = p.Cookie
			}
		}
	}
	if err := resp.Err(); err != nil {
		t.Fatalf("Err = %v", err)
	}
	want := "uid=a,dc=example a|ref ldap://dc2.example/ou=emea,dc=example|uid=b,dc=example b"
	if g := strings.Join(got, "|"); g != want {
		t.Errorf("read %q, want %q (the entry for another message id skipped)", g, want)
	}
	if string(cookie) != "next" {
		t.Errorf("cookie %q, want next", cookie)
	}
}

func TestSearchResultCodeIsAnLDAPError(t *testing.T) {
	c := newScript(t, func(id int64, op *ber.Packet) []byte {
		return cat(
			msg(id, entryPacket("uid=a,dc=example", []attr{{"uid", []string{"a"}}})),
			msg(id, result(ldap.ApplicationSearchResultDone, ldap.LDAPResultSizeLimitExceeded, "")),
		)
	})
	resp, entries := search(c)
	if len(entries) != 1 {
		t.Errorf("%d entries before the limit, want 1", len(entries))
	}
	if !ldap.IsErrorWithCode(resp.Err(), ldap.LDAPResultSizeLimitExceeded) {
		t.Errorf("Err = %v, want size limit exceeded", resp.Err())
	}
	// The stream is in step after a result: the connection still works.
	if _, entries := search(c); len(entries) != 1 {
		t.Errorf("second search: %d entries, want 1", len(entries))
	}
}

func TestMalformedEntryEndsTheSearchAndTheConnection(t *testing.T) {
	c := newScript(t, func(id int64, op *ber.Packet) []byte {
		bad := entryPacket("uid=a,dc=example", []attr{{"uid", []string{"a"}}}).Bytes()
		bad[len(bad)-3] = tagInteger // the value's OCTET STRING tag
		return cat(rawMsg(id, bad), msg(id, result(ldap.ApplicationSearchResultDone, 0, "")))
	})
	resp, _ := search(c)
	// A network error, as a lost connection is: the stream is out of step.
	if !errors.Is(resp.Err(), errMalformed) || !ldap.IsErrorWithCode(resp.Err(), ldap.ErrorNetwork) {
		t.Fatalf("Err = %v, want a malformed response as a network error", resp.Err())
	}
	resp, _ = search(c)
	if !ldap.IsErrorWithCode(resp.Err(), ldap.ErrorNetwork) {
		t.Errorf("a search after the stream broke: %v, want a network error at once", resp.Err())
	}
}

// rawMsg wraps an operation's bytes, whatever they hold, into a message.
func rawMsg(id int64, op []byte) []byte {
	idb := ber.NewInteger(ber.ClassUniversal, ber.TypePrimitive, ber.TagInteger, id, "").Bytes()
	body := append(idb, op...)
	return append(appendLength([]byte{tagSequence}, len(body)), body...)
}

func TestOversizedMessageIsRefusedUnread(t *testing.T) {
	c := newScript(t, func(id int64, op *ber.Packet) []byte {
		// A header claiming 1 GiB, and nothing behind it.
		return []byte{tagSequence, 0x84, 0x40, 0, 0, 0}
	})
	resp, _ := search(c)
	if err := resp.Err(); err == nil || !strings.Contains(err.Error(), "above the") {
		t.Errorf("Err = %v, want the message refused for its size", err)
	}
}

func TestNoticeOfDisconnection(t *testing.T) {
	c := newScript(t, func(id int64, op *ber.Packet) []byte {
		return msg(0, result(ldap.ApplicationExtendedResponse, ldap.LDAPResultUnavailable, "shutting down"))
	})
	resp, _ := search(c)
	err := resp.Err()
	if !ldap.IsErrorWithCode(err, ldap.ErrorNetwork) || !strings.Contains(err.Error(), "notice of disconnection") || !strings.Contains(err.Error(), "shutting down") {
		t.Errorf("Err = %v, want a network error naming the notice", err)
	}
}

func TestSilentServerHitsTheDeadline(t *testing.T) {
	c := newScript(t, func(id int64, op *ber.Packet) []byte { return nil })
	c.timeout = 50 * time.Millisecond
	resp, _ := search(c)
	var ne net.Error
	if err := resp.Err(); !ldap.IsErrorWithCode(err, ldap.ErrorNetwork) || !errors.As(err, &ne) || !ne.Timeout() {
		t.Errorf("Err = %v, want a network timeout", err)
	}
}

func TestCancelledSearchEndsWithTheContext(t *testing.T) {
	started := make(chan struct{})
	c := newScript(t, func(id int64, op *ber.Packet) []byte {
		close(started)
		return nil // never answers: only the cancel can end the search
	})
	ctx, cancel := context.WithCancel(context.Background())
	resp := c.Search(ctx, ldap.NewSearchRequest("dc=example", ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 0, 0, false, "(uid=*)", nil, nil))
	<-started
	cancel()
	for resp.Next() {
	}
	if !errors.Is(resp.Err(), context.Canceled) || !c.IsClosing() {
		t.Errorf("Err = %v, closing %t; want context.Canceled and the connection cut", resp.Err(), c.IsClosing())
	}
}

func TestBind(t *testing.T) {
	var gotName, gotPassword string
	c := newScript(t, func(id int64, op *ber.Packet) []byte {
		gotName, _ = op.Children[1].Value.(string)
		gotPassword = op.Children[2].Data.String()
		if gotPassword != "right" {
			return msg(id, result(ldap.ApplicationBindResponse, ldap.LDAPResultInvalidCredentials, ""))
		}
		return msg(id, result(ldap.ApplicationBindResponse, 0, ""))
	})
	if err := c.Bind("cn=syncd,dc=example", "wrong"); !ldap.IsErrorWithCode(err, ldap.LDAPResultInvalidCredentials) {
		t.Errorf("Bind with a wrong password = %v, want invalid credentials", err)
	}
	if err := c.Bind("cn=syncd,dc=example", "right"); err != nil || gotName != "cn=syncd,dc=example" {
		t.Errorf("Bind = %v as %q", err, gotName)
	}
	if err := c.Bind("cn=syncd,dc=example", ""); !ldap.IsErrorWithCode(err, ldap.ErrorEmptyPassword) {
		t.Errorf("Bind with an empty password = %v, want it refused before sending", err)
	}
}

func TestStartTLSRefusesBytesBeforeTheHandshake(t *testing.T) {
	c := newScript(t, func(id int64, op *ber.Packet) []byte {
		// The answer, then a forged entry in plain text that would
		// otherwise be read as if it had come over TLS.
		return cat(msg(id, result(ldap.ApplicationExtendedResponse, 0, "")),
			msg(id+1, entryPacket("uid=forged,dc=example", nil)))
	})
	err := c.StartTLS(nil)
	if err == nil || !strings.Contains(err.Error(), "data after the StartTLS response") {
		t.Errorf("StartTLS = %v, want it refused", err)
	}
}
