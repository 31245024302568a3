// Package ldapwire is the LDAPv3 client syncd reads the directory with. It
// runs one operation at a time on a connection and decodes each search entry
// straight from the wire into an ldap.Entry with a handful of allocations,
// where a general client builds a tree of BER packets per entry: a full read
// of a large directory is bound by that decoding. Requests are encoded, and
// every response other than an entry is decoded, with the go-ldap and
// asn1-ber packages, so results, errors and controls (paging, content
// synchronisation) come back as their types and ldap.IsErrorWithCode works
// on every error.
//
// A connection speaks simple bind and StartTLS besides search, which is all
// a reader needs. Every request has a deadline (the connection's timeout
// plus a margin for the server's own time limit to answer first), so a
// server that stops answering, or answers slowly without end, cannot hold a
// run.
package ldapwire

import (
	"bufio"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"sync/atomic"
	"time"

	ber "github.com/go-asn1-ber/asn1-ber"
	"github.com/go-ldap/ldap/v3"
)

const (
	// readBuffer holds a typical entry whole, so most are decoded in place.
	readBuffer = 64 << 10
	// MaxMessageSize bounds one response message. A message above it ends
	// the operation with an error rather than an allocation the server
	// chose; a group of a million members is well under it.
	MaxMessageSize = 128 << 20
	// deadlineMargin lets the server's time limit (the same timeout) end a
	// search with its own answer before the connection's deadline does.
	deadlineMargin = 5 * time.Second
	// maxNames bounds the interned attribute names of one connection, and
	// maxNameLen the length of one.
	maxNames   = 256
	maxNameLen = 64
	// MaxValues bounds the values of one entry (a group's members), and
	// with it what decoding an entry may allocate beyond its size.
	MaxValues = 4 << 20
	// maxDecoded bounds a message other than an entry: decoded with
	// asn1-ber, it takes many times its size in memory. The one such
	// message that is large by right, a syncIdSet, is decoded in place.
	maxDecoded = 1 << 20
)

// startTLSOID is the StartTLS extended operation (RFC 4511 section 4.14).
const startTLSOID = "1.3.6.1.4.1.1466.20037"

// Conn is one LDAP connection. It is not safe for concurrent use: one
// operation at a time, and a search's Response read to its end (or the
// connection closed) before the next operation.
type Conn struct {
	nc net.Conn
	// raw is the TCP connection under nc; cutting it ends any wait at
	// once, where closing a TLS connection first tries to say goodbye.
	raw     net.Conn
	br      *bufio.Reader
	timeout time.Duration
	msgID   int64
	closing atomic.Bool
	// broken: the stream is out of step (a read failed or a message could
	// not be framed); every later operation fails at once.
	broken error
	// big is reused for messages too large to decode in the read buffer.
	big []byte
	// names interns attribute names, which repeat in every entry.
	names   map[string]string
	scratch scratch
	reused  reused
}

// New takes over nc, which is already connected (and, for ldaps, already a
// TLS connection). timeout bounds each operation.
func New(nc net.Conn, timeout time.Duration) *Conn {
	return &Conn{
		nc:      nc,
		raw:     nc,
		br:      bufio.NewReaderSize(nc, readBuffer),
		timeout: timeout,
		names:   make(map[string]string),
	}
}

// IsClosing reports whether Close was called or the connection was cut
// (by a cancelled search, say).
func (c *Conn) IsClosing() bool { return c.closing.Load() }

// Close sends an unbind, best effort, and closes the connection.
func (c *Conn) Close() error {
	if c.closing.Swap(true) {
		return nil
	}
	if c.broken == nil {
		_ = c.nc.SetWriteDeadline(time.Now().Add(time.Second))
		op := ber.Encode(ber.ClassApplication, ber.TypePrimitive, ldap.ApplicationUnbindRequest, nil, "Unbind Request")
		_, _ = c.send(op, nil)
	}
	return c.nc.Close()
}

// cut closes the socket so that whatever waits on it fails; Close still
// runs as usual afterwards.
func (c *Conn) cut() {
	c.closing.Store(true)
	_ = c.raw.Close()
}

// StartTLS upgrades the connection with cfg.
func (c *Conn) StartTLS(cfg *tls.Config) error {
	op := ber.Encode(ber.ClassApplication, ber.TypeConstructed, ldap.ApplicationExtendedRequest, nil, "Start TLS")
	op.AppendChild(ber.NewString(ber.ClassContext, ber.TypePrimitive, 0, startTLSOID, "TLS Extended Command"))
	pkt, err := c.roundTrip(op, opTag(ldap.ApplicationExtendedResponse))
	if err != nil {
		return err
	}
	if err := ldap.GetLDAPError(pkt); err != nil {
		return err
	}
	if c.br.Buffered() > 0 {
		// Bytes sent after the answer and before the handshake would be
		// read as if they had come over TLS.
		c.broken = errors.New("ldap: data after the StartTLS response")
		return ldap.NewError(ldap.ErrorNetwork, c.broken)
	}
	tc := tls.Client(c.nc, cfg)
	_ = tc.SetDeadline(time.Now().Add(c.timeout))
	if err := tc.Handshake(); err != nil {
		c.broken = err
		return ldap.NewError(ldap.ErrorNetwork, fmt.Errorf("TLS handshake failed (%v)", err))
	}
	c.nc = tc
	c.br.Reset(tc)
	return nil
}

// Bind is a simple bind. An empty password is refused here: servers take
// it as an unauthenticated bind that succeeds without checking anything
// (RFC 4513 section 5.1.2).
func (c *Conn) Bind(dn, password string) error {
	if password == "" {
		return ldap.NewError(ldap.ErrorEmptyPassword, errors.New("ldap: empty password not allowed by the client"))
	}
	op := ber.Encode(ber.ClassApplication, ber.TypeConstructed, ldap.ApplicationBindRequest, nil, "Bind Request")
	op.AppendChild(ber.NewInteger(ber.ClassUniversal, ber.TypePrimitive, ber.TagInteger, 3, "Version"))
	op.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, dn, "User Name"))
	op.AppendChild(ber.NewString(ber.ClassContext, ber.TypePrimitive, 0, password, "Password"))
	pkt, err := c.roundTrip(op, opTag(ldap.ApplicationBindResponse))
	if err != nil {
		return err
	}
	return ldap.GetLDAPError(pkt)
}

// roundTrip sends op and returns the whole response message to it, which
// must be a want, for the operations with one response (bind, StartTLS).
func (c *Conn) roundTrip(op *ber.Packet, want byte) (*ber.Packet, error) {
	c.deadline()
	id, err := c.send(op, nil)
	if err != nil {
		return nil, err
	}
	for {
		m, err := c.read()
		if err != nil {
			return nil, err
		}
		if m.id == 0 {
			err := m.disconnection()
			c.broken = err
			return nil, err
		}
		if m.id != id {
			continue // an answer to nothing asked on this connection
		}
		if m.op != want {
			c.broken = malformed("answer with operation tag 0x%02x, want 0x%02x", m.op, want)
			return nil, brokenError(c.broken)
		}
		return m.packet()
	}
}

// deadline bounds the operation about to be sent: the timeout, and a
// margin (at most the timeout again) for the server's time limit to answer.
func (c *Conn) deadline() {
	_ = c.nc.SetDeadline(time.Now().Add(c.timeout + min(deadlineMargin, c.timeout)))
}

// send writes one request message and returns its message id.
func (c *Conn) send(op *ber.Packet, controls []ldap.Control) (int64, error) {
	if c.broken != nil {
		return 0, ldap.NewError(ldap.ErrorNetwork, fmt.Errorf("connection unusable: %w", c.broken))
	}
	c.msgID++
	if c.msgID > 1<<31-1 {
		c.msgID = 1
	}
	envelope := ber.Encode(ber.ClassUniversal, ber.TypeConstructed, ber.TagSequence, nil, "LDAP Request")
	envelope.AppendChild(ber.NewInteger(ber.ClassUniversal, ber.TypePrimitive, ber.TagInteger, c.msgID, "MessageID"))
	envelope.AppendChild(op)
	if len(controls) > 0 {
		cp := ber.Encode(ber.ClassContext, ber.TypeConstructed, 0, nil, "Controls")
		for _, ctl := range controls {
			cp.AppendChild(ctl.Encode())
		}
		envelope.AppendChild(cp)
	}
	if _, err := c.nc.Write(envelope.Bytes()); err != nil {
		c.broken = err
		return 0, ldap.NewError(ldap.ErrorNetwork, fmt.Errorf("ldap: send: %w", err))
	}
	return c.msgID, nil
}
