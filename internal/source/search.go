package source

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	ber "github.com/go-asn1-ber/asn1-ber"
	"github.com/go-ldap/ldap/v3"

	"github.com/syncd-dev/syncd/internal/ldapwire"
)

// Why a search stopped before its end.
type stopKind int

const (
	stopSizeLimit stopKind = iota + 1
	stopTimeLimit
	stopReferral
	stopConnLost
	stopRefused
	stopCanceled
)

// searchError is a search that ended early, with how far it got.
type searchError struct {
	kind    stopKind
	base    string
	entries int
	err     error
}

func (e *searchError) Error() string {
	return fmt.Sprintf("search %s: %v", e.base, e.err)
}

func (e *searchError) Unwrap() error { return e.err }

// reason is the Result.Incomplete text for this stop.
func (e *searchError) reason() string {
	var what string
	switch e.kind {
	case stopSizeLimit:
		what = "size limit exceeded"
	case stopTimeLimit:
		what = "time limit exceeded"
	case stopReferral:
		what = "referral"
	case stopConnLost:
		what = "connection lost mid-search"
	default:
		what = "search failed"
	}
	r := fmt.Sprintf("%s: %s after %d entries", what, e.base, e.entries)
	// The ldap error often just repeats the result name; keep only what
	// it adds.
	detail := strings.TrimPrefix(strings.TrimPrefix(e.err.Error(), what), ": ")
	if detail != "" {
		r += ": " + detail
	}
	return r
}

// query is what one kind of entry (users, groups) is searched with under
// each of its base DNs.
type query struct {
	scope  int
	filter string
	attrs  []string
	// controls are sent with every page, after the paging control.
	controls []ldap.Control
}

type searchStats struct {
	pages     int
	referrals []string
}

// search runs one paged search under base, handing each entry to fn as it
// is decoded; no page is held in memory. fn may keep the entry's strings
// but not the entry: the next one is decoded into it (ldapwire's Stream). Paging is requested as critical, so
// a server without paged results refuses the search instead of answering
// with its size limit's worth of entries and no way to tell.
func (d *Directory) search(ctx context.Context, conn *ldapwire.Conn, base string, q query, fn func(*ldap.Entry)) (searchStats, error) {
	var st searchStats
	entries := 0
	paging := &criticalPaging{ControlPaging: ldap.ControlPaging{PagingSize: d.pageSize}}
	timeLimit := int(d.timeout / time.Second)
	if timeLimit < 1 {
		timeLimit = 1
	}
	for {
		req := ldap.NewSearchRequest(base, q.scope, ldap.NeverDerefAliases, 0, timeLimit, false,
			q.filter, q.attrs, append([]ldap.Control{paging}, q.controls...))
		resp := conn.Stream(ctx, req)
		inPage := 0
		var cookie []byte
		done := false
		for resp.Next() {
			if e := resp.Entry(); e != nil {
				entries++
				inPage++
				fn(e)
				continue
			}
			if ref := resp.Referral(); ref != "" {
				st.referrals = append(st.referrals, ref)
				continue
			}
			// Entry and Referral both empty: this is the SearchResultDone,
			// which carries the paging cookie for the next page.
			if c, ok := ldap.FindControl(resp.Controls(), ldap.ControlTypePaging).(*ldap.ControlPaging); ok {
				cookie = c.Cookie
				done = true
			}
		}
		if err := resp.Err(); err != nil || !done {
			return st, classify(ctx, conn, base, entries, err)
		}
		st.pages++
		d.log.Debug().Str("base", base).Int("page", st.pages).Int("entries", inPage).Msg("ldap page")
		if len(cookie) == 0 {
			return st, nil
		}
		paging.Cookie = cookie
	}
}

// classify names why a page did not end with a SearchResultDone. err is nil
// when the result stream just closed, which happens when ctx is cancelled or
// the connection was already closing.
func classify(ctx context.Context, conn *ldapwire.Conn, base string, entries int, err error) error {
	se := &searchError{base: base, entries: entries}
	switch {
	case ctx.Err() != nil:
		se.kind, se.err = stopCanceled, ctx.Err()
		return se
	case err == nil:
		se.kind, se.err = stopConnLost, errors.New("result stream ended without a search result done")
		return se
	}
	se.err = wrapLDAP(err)
	switch {
	case ldap.IsErrorWithCode(err, ldap.LDAPResultSizeLimitExceeded):
		se.kind = stopSizeLimit
	case ldap.IsErrorWithCode(err, ldap.LDAPResultTimeLimitExceeded):
		se.kind = stopTimeLimit
	case ldap.IsErrorWithCode(err, ldap.LDAPResultReferral):
		se.kind = stopReferral
		if urls := referralURLs(err); len(urls) > 0 {
			se.err = fmt.Errorf("%w: to %s not followed", se.err, strings.Join(urls, ", "))
		}
	case ldap.IsErrorWithCode(err, ldap.ErrorNetwork), conn.IsClosing():
		se.kind = stopConnLost
	default:
		se.kind = stopRefused
	}
	return se
}

// referralURLs digs the referral field out of an LDAPResult, which the ldap
// package keeps only in the raw packet: the reason should say where the
// entries live.
func referralURLs(err error) []string {
	var le *ldap.Error
	if !errors.As(err, &le) || le.Packet == nil || len(le.Packet.Children) < 2 {
		return nil
	}
	var urls []string
	for _, c := range le.Packet.Children[1].Children {
		if c.ClassType != ber.ClassContext || c.Tag != 3 {
			continue
		}
		for _, u := range c.Children {
			if s, ok := u.Value.(string); ok {
				urls = append(urls, s)
			} else if u.Data != nil {
				urls = append(urls, u.Data.String())
			}
		}
	}
	return urls
}

func joinReasons(reasons []string) string {
	if len(reasons) > maxReasons {
		more := len(reasons) - maxReasons
		reasons = append(reasons[:maxReasons:maxReasons], fmt.Sprintf("and %d more", more))
	}
	return strings.Join(reasons, "; ")
}

// criticalPaging is the paged-results control (RFC 2696) sent with
// criticality true; ldap.ControlPaging always sends false.
type criticalPaging struct {
	ldap.ControlPaging
}

func (c *criticalPaging) Encode() *ber.Packet {
	packet := ber.Encode(ber.ClassUniversal, ber.TypeConstructed, ber.TagSequence, nil, "Control")
	packet.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, ldap.ControlTypePaging, "Control Type"))
	packet.AppendChild(ber.NewBoolean(ber.ClassUniversal, ber.TypePrimitive, ber.TagBoolean, true, "Criticality"))
	value := ber.Encode(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, nil, "Control Value (Paging)")
	seq := ber.Encode(ber.ClassUniversal, ber.TypeConstructed, ber.TagSequence, nil, "Search Control Value")
	seq.AppendChild(ber.NewInteger(ber.ClassUniversal, ber.TypePrimitive, ber.TagInteger, int64(c.PagingSize), "Paging Size"))
	cookie := ber.Encode(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, nil, "Cookie")
	cookie.Value = c.Cookie
	cookie.Data.Write(c.Cookie)
	seq.AppendChild(cookie)
	value.AppendChild(seq)
	packet.AppendChild(value)
	return packet
}

func (c *criticalPaging) String() string {
	return fmt.Sprintf("paged results (critical): size %d, cookie %d bytes", c.PagingSize, len(c.Cookie))
}
