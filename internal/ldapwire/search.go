package ldapwire

import (
	"context"
	"fmt"

	ber "github.com/go-asn1-ber/asn1-ber"
	"github.com/go-ldap/ldap/v3"
)

// Response is one search's answer as it arrives; it implements
// ldap.Response. Each Next decodes the next message on the caller's
// goroutine, so nothing waits in memory between the socket and the caller.
type Response struct {
	c    *Conn
	id   int64
	ctx  context.Context
	stop func() bool
	done bool
	// reuse: entries are decoded into the connection's one (see Stream).
	reuse bool

	entry    *ldap.Entry
	referral string
	controls []ldap.Control
	err      error
}

var _ ldap.Response = (*Response)(nil)

// Search sends req and returns its answer, read with Next. Cancelling ctx
// closes the connection, which ends the search. Controls are sent as
// req.Controls holds them; the caller passes a fresh request for each call.
func (c *Conn) Search(ctx context.Context, req *ldap.SearchRequest) *Response {
	return c.search(ctx, req, false)
}

// Stream is Search for a consumer that copies out what it keeps before the
// next Next: the *ldap.Entry Next reads, its attributes and their Values
// slices are overwritten by the entry after it (the strings are not), so a
// large read allocates one block of text an entry and nothing else.
func (c *Conn) Stream(ctx context.Context, req *ldap.SearchRequest) *Response {
	return c.search(ctx, req, true)
}

func (c *Conn) search(ctx context.Context, req *ldap.SearchRequest, reuse bool) *Response {
	r := &Response{c: c, ctx: ctx, reuse: reuse}
	if err := ctx.Err(); err != nil {
		r.done, r.err = true, err
		return r
	}
	op, err := encodeSearch(req)
	if err != nil {
		r.done, r.err = true, err
		return r
	}
	c.deadline()
	r.stop = context.AfterFunc(ctx, c.cut)
	if r.id, err = c.send(op, req.Controls); err != nil {
		r.finish(err)
	}
	return r
}

// Entry is the entry Next read, or nil.
func (r *Response) Entry() *ldap.Entry { return r.entry }

// Referral is the first URI of the continuation reference Next read, or "".
func (r *Response) Referral() string { return r.referral }

// Controls are those of the intermediate response or the final result Next
// read.
func (r *Response) Controls() []ldap.Control { return r.controls }

// Err is why the search ended without success: the result's *ldap.Error,
// a network or framing error, or ctx's error. It is nil after a search
// that succeeded.
func (r *Response) Err() error { return r.err }

// Next reads the next message of the search. It returns false at the end:
// after a successful result without controls, or with Err set. A result
// with controls (the paging cookie, a syncDone) is returned as one more
// message first, as go-ldap's Response does.
func (r *Response) Next() bool {
	r.entry, r.referral, r.controls = nil, "", nil
	if r.done {
		return false
	}
	for {
		m, err := r.c.read()
		if err != nil {
			r.finish(err)
			return false
		}
		if m.id == 0 {
			err := m.disconnection()
			r.c.broken = err
			r.finish(err)
			return false
		}
		if len(m.rest) > 0 && m.rest[0] != tagControls {
			r.fail(malformed("a %d-byte element after the operation, not controls", len(m.rest)))
			return false
		}
		if m.id != r.id {
			continue // an answer to nothing asked on this connection
		}
		switch m.op {
		case opTag(ldap.ApplicationSearchResultEntry):
			if r.entry, err = r.c.decodeEntry(m.opContent, r.reuse); err != nil {
				r.fail(err)
				return false
			}
			if r.controls, err = m.controls(); err != nil {
				r.fail(err)
				return false
			}
			return true
		case opTag(ldap.ApplicationSearchResultReference):
			op, err := decodeElement(m.op, m.opContent)
			if err != nil {
				r.fail(err)
				return false
			}
			// Every URI must be a non-empty string (RFC 4511 section
			// 4.5.3): a reference read as none would hide a part of the
			// scope without a word.
			if len(op.Children) == 0 {
				r.fail(malformed("search result reference without a URI"))
				return false
			}
			for _, u := range op.Children {
				if s, ok := u.Value.(string); !ok || s == "" || u.Tag != ber.TagOctetString {
					r.fail(malformed("search result reference with an empty or non-string URI"))
					return false
				}
			}
			r.referral = op.Children[0].Value.(string)
			return true
		case opTag(ldap.ApplicationIntermediateResponse):
			if ctl, ok, err := syncIDSet(m.opContent); err != nil {
				r.fail(err)
				return false
			} else if ok {
				r.controls = []ldap.Control{ctl}
				return true
			}
			op, err := decodeElement(m.op, m.opContent)
			if err != nil {
				r.fail(err)
				return false
			}
			ctl, err := ldap.DecodeControl(op)
			if err != nil {
				r.fail(fmt.Errorf("failed to decode intermediate response: %w", err))
				return false
			}
			r.controls = []ldap.Control{ctl}
			return true
		case opTag(ldap.ApplicationSearchResultDone):
			pkt, err := m.packet()
			if err != nil {
				r.fail(err)
				return false
			}
			if err := ldap.GetLDAPError(pkt); err != nil {
				r.finish(err)
				return false
			}
			ctls, err := m.controls()
			r.finish(err)
			if err != nil || len(ctls) == 0 {
				return false
			}
			r.controls = ctls
			return true
		default:
			r.fail(malformed("unknown operation tag 0x%02x in a search", m.op))
			return false
		}
	}
}

// finish ends the search with err (nil: success). Once ctx is cancelled,
// its error is what any failure means.
func (r *Response) finish(err error) {
	r.done = true
	r.c.reused.trim()
	if r.stop != nil {
		r.stop()
	}
	if err != nil && r.ctx.Err() != nil {
		err = r.ctx.Err()
	}
	r.err = err
}

// fail ends the search on a message this client could not take: the
// stream may be out of step, so the connection is no longer used, and the
// error is a network error, as a lost connection is.
func (r *Response) fail(err error) {
	r.c.broken = err
	r.finish(brokenError(err))
}

// encodeSearch is the SearchRequest operation (RFC 4511 section 4.5.1).
func encodeSearch(req *ldap.SearchRequest) (*ber.Packet, error) {
	op := ber.Encode(ber.ClassApplication, ber.TypeConstructed, ldap.ApplicationSearchRequest, nil, "Search Request")
	op.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, req.BaseDN, "Base DN"))
	op.AppendChild(ber.NewInteger(ber.ClassUniversal, ber.TypePrimitive, ber.TagEnumerated, uint64(req.Scope), "Scope"))
	op.AppendChild(ber.NewInteger(ber.ClassUniversal, ber.TypePrimitive, ber.TagEnumerated, uint64(req.DerefAliases), "Deref Aliases"))
	op.AppendChild(ber.NewInteger(ber.ClassUniversal, ber.TypePrimitive, ber.TagInteger, uint64(req.SizeLimit), "Size Limit"))
	op.AppendChild(ber.NewInteger(ber.ClassUniversal, ber.TypePrimitive, ber.TagInteger, uint64(req.TimeLimit), "Time Limit"))
	op.AppendChild(ber.NewBoolean(ber.ClassUniversal, ber.TypePrimitive, ber.TagBoolean, req.TypesOnly, "Types Only"))
	filter, err := ldap.CompileFilter(req.Filter)
	if err != nil {
		return nil, err
	}
	op.AppendChild(filter)
	attrs := ber.Encode(ber.ClassUniversal, ber.TypeConstructed, ber.TagSequence, nil, "Attributes")
	for _, a := range req.Attributes {
		attrs.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, a, "Attribute"))
	}
	op.AppendChild(attrs)
	return op, nil
}

// SearchAll runs req to its end and returns its entries, for small
// searches (the root DSE, one entry).
func (c *Conn) SearchAll(ctx context.Context, req *ldap.SearchRequest) ([]*ldap.Entry, error) {
	resp := c.Search(ctx, req)
	var out []*ldap.Entry
	for resp.Next() {
		if e := resp.Entry(); e != nil {
			out = append(out, e)
		}
	}
	return out, resp.Err()
}
