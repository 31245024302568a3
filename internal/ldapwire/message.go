package ldapwire

import (
	"errors"
	"fmt"
	"io"
	"slices"

	ber "github.com/go-asn1-ber/asn1-ber"
	"github.com/go-ldap/ldap/v3"
)

// Tags of the elements this package reads itself: universal OCTET STRING,
// INTEGER, SEQUENCE and SET, and the constructed application tag of each
// protocol operation (class application 0x40, constructed 0x20).
const (
	tagInteger     = 0x02
	tagOctetString = 0x04
	tagSequence    = 0x30
	tagSet         = 0x31
	tagControls    = 0xa0 // [0] Controls, context-specific constructed
	tagApplication = 0x60
)

func opTag(application int) byte { return tagApplication | byte(application) }

// message is one response message, framed but not decoded: body is the
// LDAPMessage's content after the message id and is valid only until the
// next read.
type message struct {
	id int64
	// op is the protocol operation's tag byte, opContent its content and
	// rest what follows it (the controls, when any).
	op        byte
	opContent []byte
	rest      []byte
}

// errMalformed marks a response that breaks BER or LDAP framing.
var errMalformed = errors.New("ldap: malformed response")

func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: %s", errMalformed, fmt.Sprintf(format, args...))
}

// read frames the next message. A read error or a message that cannot be
// framed leaves the stream out of step, so the connection is marked broken.
func (c *Conn) read() (message, error) {
	if c.broken != nil {
		return message{}, ldap.NewError(ldap.ErrorNetwork, fmt.Errorf("connection unusable: %w", c.broken))
	}
	m, err := c.readMessage()
	if err != nil {
		c.broken = err
		return m, brokenError(err)
	}
	return m, nil
}

// brokenError is the error for a stream out of step: a network error, as
// a lost connection is, so that a caller classifies both alike; the cause
// (errMalformed, a timeout) stays reachable through errors.Is and As.
func brokenError(err error) error {
	if errors.Is(err, errMalformed) {
		return ldap.NewError(ldap.ErrorNetwork, err)
	}
	return ldap.NewError(ldap.ErrorNetwork, fmt.Errorf("ldap: read: %w", err))
}

func (c *Conn) readMessage() (message, error) {
	tag, err := c.br.ReadByte()
	if err != nil {
		return message{}, err
	}
	if tag != tagSequence {
		return message{}, malformed("message starts with tag 0x%02x, not a SEQUENCE", tag)
	}
	n, err := c.readLength()
	if err != nil {
		return message{}, err
	}
	if n > MaxMessageSize {
		return message{}, malformed("a message of %d bytes, above the %d this client reads", n, MaxMessageSize)
	}
	var body []byte
	if n <= c.br.Size() {
		if body, err = c.br.Peek(n); err != nil {
			return message{}, err
		}
		// Discard moves past the bytes without overwriting them: body
		// stays valid until the next read fills the buffer.
		_, _ = c.br.Discard(n)
	} else if body, err = c.readBig(n); err != nil {
		return message{}, err
	}
	m, err := frame(body)
	if n > 4<<20 {
		c.big = nil // do not keep a rare giant buffer for the connection's life
	}
	return m, err
}

// readBig reads a message larger than the read buffer into c.big, which
// grows as the bytes arrive: a header alone cannot make it allocate.
func (c *Conn) readBig(n int) ([]byte, error) {
	buf := c.big[:0]
	for len(buf) < n {
		chunk := min(n-len(buf), 1<<20)
		buf = slices.Grow(buf, chunk)
		if _, err := io.ReadFull(c.br, buf[len(buf):len(buf)+chunk]); err != nil {
			return nil, err
		}
		buf = buf[:len(buf)+chunk]
	}
	c.big = buf
	return buf, nil
}

// readLength reads a BER definite length (LDAP allows no other, RFC 4511
// section 5.1).
func (c *Conn) readLength() (int, error) {
	b, err := c.br.ReadByte()
	if err != nil {
		return 0, err
	}
	if b < 0x80 {
		return int(b), nil
	}
	k := int(b & 0x7f)
	if k == 0 || k > 4 {
		return 0, malformed("length with %d length bytes", k)
	}
	n := 0
	for range k {
		b, err := c.br.ReadByte()
		if err != nil {
			return 0, err
		}
		n = n<<8 | int(b)
	}
	if n < 0 {
		return 0, malformed("length overflows")
	}
	return n, nil
}

// frame splits an LDAPMessage's content into its id, operation and rest.
func frame(body []byte) (message, error) {
	tag, idBytes, rest, err := tlv(body)
	if err != nil {
		return message{}, err
	}
	id, ok := smallInt(tag, tagInteger, idBytes)
	if !ok {
		return message{}, malformed("message id is not a small INTEGER")
	}
	op, content, rest, err := tlv(rest)
	if err != nil {
		return message{}, err
	}
	return message{id: id, op: op, opContent: content, rest: rest}, nil
}

// smallInt is the value of an INTEGER or ENUMERATED element of at most
// four bytes, if the element has the tag want.
func smallInt(tag, want byte, content []byte) (int64, bool) {
	if tag != want || len(content) == 0 || len(content) > 4 {
		return 0, false
	}
	n, err := ber.ParseInt64(content)
	return n, err == nil
}

// tlv reads the element at the start of b: its tag byte, its content and
// what follows it.
func tlv(b []byte) (tag byte, content, rest []byte, err error) {
	if len(b) < 2 {
		return 0, nil, nil, malformed("element cut short")
	}
	tag = b[0]
	if tag&0x1f == 0x1f {
		return 0, nil, nil, malformed("multi-byte tag")
	}
	n, h := int(b[1]), 2
	if n >= 0x80 {
		k := n & 0x7f
		if k == 0 || k > 4 || len(b) < 2+k {
			return 0, nil, nil, malformed("bad length")
		}
		n = 0
		for _, x := range b[2 : 2+k] {
			n = n<<8 | int(x)
		}
		h = 2 + k
	}
	if n < 0 || n > len(b)-h {
		return 0, nil, nil, malformed("element of %d bytes in %d", n, len(b)-h)
	}
	return tag, b[h : h+n], b[h+n:], nil
}

// packet decodes the whole message with asn1-ber, as go-ldap would see it,
// for the small messages go-ldap's functions take apart (results,
// references, intermediate responses).
func (m message) packet() (*ber.Packet, error) {
	pkt := ber.Encode(ber.ClassUniversal, ber.TypeConstructed, ber.TagSequence, nil, "LDAP Response")
	pkt.AppendChild(ber.NewInteger(ber.ClassUniversal, ber.TypePrimitive, ber.TagInteger, m.id, "MessageID"))
	op, err := decodeElement(m.op, m.opContent)
	if err != nil {
		return nil, err
	}
	pkt.AppendChild(op)
	if len(m.rest) > 0 {
		tag, content, _, err := tlv(m.rest)
		if err != nil {
			return nil, err
		}
		ctl, err := decodeElement(tag, content)
		if err != nil {
			return nil, err
		}
		pkt.AppendChild(ctl)
	}
	return pkt, nil
}

// decodeElement decodes one element, given its tag and content, with
// asn1-ber.
func decodeElement(tag byte, content []byte) (*ber.Packet, error) {
	if len(content) > maxDecoded {
		return nil, malformed("a %d-byte element where at most %d are expected", len(content), maxDecoded)
	}
	raw := make([]byte, 0, len(content)+6)
	raw = append(raw, tag)
	raw = appendLength(raw, len(content))
	raw = append(raw, content...)
	p, err := ber.DecodePacketErr(raw)
	if err != nil {
		return nil, malformed("%v", err)
	}
	return p, nil
}

func appendLength(b []byte, n int) []byte {
	switch {
	case n < 0x80:
		return append(b, byte(n))
	case n <= 0xff:
		return append(b, 0x81, byte(n))
	case n <= 0xffff:
		return append(b, 0x82, byte(n>>8), byte(n))
	case n <= 0xffffff:
		return append(b, 0x83, byte(n>>16), byte(n>>8), byte(n))
	}
	return append(b, 0x84, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
}

// disconnection is the error for an unsolicited notification (message id
// 0): in LDAPv3 only the Notice of Disconnection, after which the server
// closes the connection (RFC 4511 section 4.4.1).
func (m message) disconnection() error {
	text := "the server sent a notice of disconnection"
	if pkt, err := m.packet(); err == nil {
		if lerr := ldap.GetLDAPError(pkt); lerr != nil {
			text += ": " + lerr.Error()
		}
	}
	return ldap.NewError(ldap.ErrorNetwork, errors.New(text))
}
