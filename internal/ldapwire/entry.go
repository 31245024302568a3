package ldapwire

import (
	"strings"

	"github.com/go-ldap/ldap/v3"
)

// decodeEntry decodes the content of a SearchResultEntry (RFC 4511 section
// 4.5.2):
//
//	SearchResultEntry ::= [APPLICATION 4] SEQUENCE {
//	     objectName      LDAPDN,
//	     attributes      PartialAttributeList }
//	PartialAttributeList ::= SEQUENCE OF SEQUENCE {
//	     type    AttributeDescription,
//	     vals    SET OF AttributeValue }
//
// A first pass checks the framing and counts, a second fills one block of
// attributes, one of values and one string holding the DN and every value,
// which the values are slices of: five allocations an entry, whatever its
// size. Values only: ByteValues is left empty, since a value's bytes are
// its string's. Names come from the connection's interned set.
//
// With reuse, the entry, its attributes and its values' slice are the
// connection's own, overwritten by the next entry: only the strings are
// new, one allocation an entry. A stream whose consumer copies out what it
// keeps before reading on asks for that (see Conn.Stream).
func (c *Conn) decodeEntry(content []byte, reuse bool) (*ldap.Entry, error) {
	tag, dn, rest, err := tlv(content)
	if err != nil {
		return nil, err
	}
	if tag != tagOctetString {
		return nil, malformed("entry name has tag 0x%02x", tag)
	}
	tag, list, after, err := tlv(rest)
	if err != nil {
		return nil, err
	}
	if tag != tagSequence {
		return nil, malformed("entry %q: attribute list has tag 0x%02x", dn, tag)
	}
	if len(after) > 0 {
		return nil, malformed("entry %q: %d bytes after the attribute list", dn, len(after))
	}

	attrs, values, size := 0, 0, len(dn)
	defer c.scratch.trim()
	for b := list; len(b) > 0; {
		name, vals, next, err := attribute(b, dn)
		if err != nil {
			return nil, err
		}
		attrs++
		if _, ok := c.names[string(name)]; !ok {
			size += len(name)
		}
		for v := vals; len(v) > 0; {
			tag, val, after, err := tlv(v)
			if err != nil {
				return nil, err
			}
			if tag != tagOctetString {
				return nil, malformed("entry %q: attribute %q: value has tag 0x%02x", dn, name, tag)
			}
			values++
			if values > MaxValues {
				return nil, malformed("entry %q: more than %d values", dn, MaxValues)
			}
			size += len(val)
			v = after
		}
		b = next
	}

	var sb strings.Builder
	sb.Grow(size)
	sb.Write(dn)
	// Where each name and value lies in sb, in the connection's scratch
	// space; the strings are cut once sb is whole.
	names := grow(c.scratch.names, attrs)
	counts := grow(c.scratch.counts, attrs)
	spans := grow(c.scratch.spans, values)
	c.scratch.names, c.scratch.counts, c.scratch.spans = names, counts, spans
	var block []ldap.EntryAttribute
	var strs []string
	var ptrs []*ldap.EntryAttribute
	var e *ldap.Entry
	if reuse {
		r := &c.reused
		block, strs, ptrs = grow(r.block, attrs), grow(r.strs, values), grow(r.ptrs, attrs)
		clear(block)
		r.block, r.strs, r.ptrs = block, strs, ptrs
		e = &r.entry
	} else {
		block = make([]ldap.EntryAttribute, attrs)
		strs = make([]string, values)
		ptrs = make([]*ldap.EntryAttribute, attrs)
		e = &ldap.Entry{}
	}
	vi := 0
	for i, b := 0, list; len(b) > 0; i++ {
		name, vals, next, _ := attribute(b, dn)
		counts[i] = 0
		if s, ok := c.names[string(name)]; ok {
			block[i].Name = s
			names[i] = span{-1, -1} // interned
		} else {
			from := sb.Len()
			sb.Write(name)
			names[i] = span{from, sb.Len()}
		}
		for v := vals; len(v) > 0; {
			_, val, after, _ := tlv(v)
			from := sb.Len()
			sb.Write(val)
			spans[vi] = span{from, sb.Len()}
			vi++
			counts[i]++
			v = after
		}
		b = next
	}
	all := sb.String()
	for i, s := range spans {
		strs[i] = all[s.from:s.to]
	}
	vi = 0
	for i := range block {
		if s := names[i]; s.from >= 0 {
			block[i].Name = all[s.from:s.to]
			c.intern(block[i].Name)
		}
		block[i].Values = strs[vi : vi+counts[i] : vi+counts[i]]
		vi += counts[i]
		ptrs[i] = &block[i]
	}
	*e = ldap.Entry{DN: all[:len(dn)], Attributes: ptrs}
	return e, nil
}

// reused is the entry a reusing stream decodes into, again and again.
type reused struct {
	entry ldap.Entry
	block []ldap.EntryAttribute
	strs  []string
	ptrs  []*ldap.EntryAttribute
}

// span is where a string lies in an entry's block.
type span struct{ from, to int }

// scratch is reused from entry to entry.
type scratch struct {
	names, spans []span
	counts       []int
}

// trim drops scratch space a rare huge entry grew, so the connection does
// not keep it.
func (s *scratch) trim() {
	if cap(s.spans) > 1<<16 {
		*s = scratch{}
	}
}

// trim drops what a rare huge entry grew.
func (r *reused) trim() {
	if cap(r.strs) > 1<<16 {
		*r = reused{}
	}
}

// grow returns s with length n, reallocated only when too short.
func grow[T any](s []T, n int) []T {
	if cap(s) < n {
		return make([]T, n)
	}
	return s[:n]
}

// attribute frames one PartialAttribute at the start of b.
func attribute(b []byte, dn []byte) (name, vals, rest []byte, err error) {
	tag, attr, rest, err := tlv(b)
	if err != nil {
		return nil, nil, nil, err
	}
	if tag != tagSequence {
		return nil, nil, nil, malformed("entry %q: attribute has tag 0x%02x", dn, tag)
	}
	tag, name, after, err := tlv(attr)
	if err != nil {
		return nil, nil, nil, err
	}
	if tag != tagOctetString {
		return nil, nil, nil, malformed("entry %q: attribute type has tag 0x%02x", dn, tag)
	}
	tag, vals, end, err := tlv(after)
	if err != nil {
		return nil, nil, nil, err
	}
	if len(end) > 0 {
		return nil, nil, nil, malformed("entry %q: attribute %q: %d bytes after its values", dn, name, len(end))
	}
	if tag != tagSet {
		return nil, nil, nil, malformed("entry %q: attribute %q: values have tag 0x%02x", dn, name, tag)
	}
	return name, vals, rest, nil
}

// intern keeps name for the entries to come, up to maxNames of them and
// only short ones: a server sending ever new or huge names gets them
// allocated, not remembered.
func (c *Conn) intern(name string) {
	if len(name) > maxNameLen {
		return
	}
	if _, ok := c.names[name]; !ok && len(c.names) < maxNames {
		name = strings.Clone(name) // not a slice of one entry's block
		c.names[name] = name
	}
}
