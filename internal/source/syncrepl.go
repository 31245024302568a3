package source

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/go-ldap/ldap/v3"

	"github.com/syncd-dev/syncd/internal/ldapwire"
)

// ErrSyncreplUnsupported says that this configuration or this server cannot
// be read with content synchronisation; the caller reads in full instead.
var ErrSyncreplUnsupported = errors.New("syncrepl cannot be used")

// syncreplIDAttribute is the only id attribute syncrepl can serve: the server
// names deleted and present entries by their entryUUID alone, so any other
// id could not be matched against the users already known.
const syncreplIDAttribute = "entryUUID"

// syncreplProblem says why the configuration rules syncrepl out, or "".
//
// One users base DN only: a sync cookie is the state of one search, and the
// server answers a refresh from a cookie with the changes of that search
// alone. Keeping one cookie per base DN would work, but base DNs may overlap
// (an entry deleted under one is still present under the other), which makes
// merging their deletes and present sets a second reconciliation; a
// configuration with several base DNs reads in full instead.
func (d *Directory) syncreplProblem() string {
	return syncProblem("users", "ldap.baseDNs", "ldap.attributes.id", len(d.baseDNs), d.mapper.id)
}

// groupSyncreplProblem says why the groups' configuration rules syncrepl
// out, or "": as for users, one base DN and entryUUID ids; and member DNs,
// since memberUid members are logins, which an incremental run has no
// index of.
func (d *Directory) groupSyncreplProblem() string {
	gr := d.groups
	if gr == nil {
		return "ldap.groups is not set"
	}
	if p := syncProblem("groups", "ldap.groups.baseDNs", "ldap.groups.idAttribute", len(gr.baseDNs), gr.mapper.id); p != "" {
		return p
	}
	if gr.mapper.logins {
		return "ldap.groups.memberAttribute is memberUid: its members are logins, which only a full read of the users resolves"
	}
	return ""
}

func syncProblem(what, baseKey, idKey string, bases int, id string) string {
	if bases != 1 {
		return fmt.Sprintf("syncrepl needs exactly one %s base DN, %s has %d (a sync cookie covers one search)", what, baseKey, bases)
	}
	if !strings.EqualFold(id, syncreplIDAttribute) {
		return fmt.Sprintf("syncrepl names deleted entries by entryUUID, so %s must be entryUUID, not %s", idKey, id)
	}
	return ""
}

// SyncreplSupported reports whether ReadSyncrepl can serve this
// configuration against this server, with the reason, for `syncd check` and
// for choosing the incremental method: the configuration rules first (see
// syncreplProblem), then the root DSE's supportedControl list.
func (d *Directory) SyncreplSupported(ctx context.Context) (bool, string) {
	if p := d.syncreplProblem(); p != "" {
		return false, p
	}
	conn, err := d.connect(ctx)
	if err != nil {
		return false, fmt.Sprintf("cannot read the root DSE: %v", err)
	}
	defer conn.Close()
	req := ldap.NewSearchRequest("", ldap.ScopeBaseObject, ldap.NeverDerefAliases, 0, d.timeLimit(), false,
		"(objectClass=*)", []string{"supportedControl"}, nil)
	entries, err := conn.SearchAll(ctx, req)
	if err != nil {
		return false, fmt.Sprintf("cannot read the root DSE: %v", wrapLDAP(err))
	}
	if len(entries) == 1 && slices.Contains(entries[0].GetAttributeValues("supportedControl"), ldap.ControlTypeSyncRequest) {
		return true, "the server offers content synchronisation (RFC 4533)"
	}
	return false, fmt.Sprintf("the server does not offer the content synchronisation control %s (on OpenLDAP: the syncprov overlay)", ldap.ControlTypeSyncRequest)
}

// syncSearch is one search as syncrepl runs it, with the key its cookies
// are sealed with; groups, when set, maps its entries as groups.
type syncSearch struct {
	base, what string
	q          query
	key        string
	groups     *GroupMapper
}

// userSync is the users' search as syncrepl runs it.
func (d *Directory) userSync() syncSearch {
	q := d.users
	q.attrs = appendAttr(slices.Clone(q.attrs), syncreplIDAttribute)
	base := d.baseDNs[0]
	return syncSearch{base: base, what: "users", q: q, key: searchKey(base, q.scope, q.filter, q.attrs)}
}

// groupSync is the groups' search as syncrepl runs it.
func (d *Directory) groupSync() syncSearch {
	q := d.groups.q
	q.attrs = appendAttr(slices.Clone(q.attrs), syncreplIDAttribute)
	base := d.groups.baseDNs[0]
	// Nesting changes what the kept entries mean: a cookie from before a
	// change of it is not resumed from.
	key := searchKey(base, q.scope, fmt.Sprintf("%s\x00nested=%t", q.filter, d.groups.nested), q.attrs)
	return syncSearch{base: base, what: "groups", q: q, key: key, groups: d.groups.mapper}
}

// timeLimit is the server-side time limit of a search, in whole seconds.
func (d *Directory) timeLimit() int {
	return max(int(d.timeout/time.Second), 1)
}

// ReadSyncrepl runs one RFC 4533 refresh (refreshOnly) over the users' scope
// from cookie; a nil or empty cookie asks for an initial refresh, which
// reports every entry in scope as a present phase, like a full read. Changed
// entries are mapped and collected as Read maps them. The server's answer
// becomes a Delta:
//
//   - an entry with state add or modify: Users or Skipped;
//   - an entry with state delete, or a syncIdSet with refreshDeletes: Deleted;
//   - an entry with state present, a syncIdSet without refreshDeletes, or a
//     refresh that ends in a present phase (syncDone refreshDeletes false):
//     PresentPhase, with Present holding every entry still in scope, the
//     changed ones included; whatever the caller knows and is not in it is
//     gone (deleted, moved out of the base, or no longer matching the
//     filter);
//   - e-syncRefreshRequired, a cookie the server refuses, or one it
//     ignores (changes sent without a new cookie): FullReadNeeded;
//   - Cookie: the last cookie the server sent, in whatever message (the one
//     passed in when nothing changed), sealed with the search it belongs to
//     (see sealCookie).
//
// Errors and Incomplete follow Read: an error when nothing could be read,
// Incomplete once entries have arrived. An incomplete delta keeps Users and
// Skipped (creates and updates are safe) but drops Deleted and Present, and
// returns the old cookie, since a part of a refresh says nothing about what is
// gone. A configuration syncrepl cannot serve returns ErrSyncreplUnsupported;
// a cookie sealed for another search (base DN, scope, filter or attributes
// changed since) gives FullReadNeeded without asking the server.
func (d *Directory) ReadSyncrepl(ctx context.Context, cookie []byte) (*Delta, error) {
	if p := d.syncreplProblem(); p != "" {
		return nil, fmt.Errorf("%w: %s", ErrSyncreplUnsupported, p)
	}
	return d.syncrepl(ctx, d.userSync(), cookie)
}

// ReadGroupsSyncrepl is ReadSyncrepl over the groups' scope: the changed
// group entries come as Delta.Groups, mapped but not flattened, since
// flattening needs the groups that did not change too.
func (d *Directory) ReadGroupsSyncrepl(ctx context.Context, cookie []byte) (*Delta, error) {
	if p := d.groupSyncreplProblem(); p != "" {
		return nil, fmt.Errorf("%w: %s", ErrSyncreplUnsupported, p)
	}
	return d.syncrepl(ctx, d.groupSync(), cookie)
}

func (d *Directory) syncrepl(ctx context.Context, ss syncSearch, cookie []byte) (*Delta, error) {
	base := ss.base
	var server []byte
	if len(cookie) > 0 {
		var why string
		if server, why = openCookie(cookie, ss.key); why != "" {
			d.log.Info().Str("base", base).Str("why", why).Msg("syncrepl cookie not usable: full read needed")
			return &Delta{FullReadNeeded: true}, nil
		}
	}

	start := time.Now()
	conn, err := d.connect(ctx)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	req := ldap.NewSearchRequest(base, ss.q.scope, ldap.NeverDerefAliases, 0, d.timeLimit(), false,
		ss.q.filter, ss.q.attrs, []ldap.Control{ldap.NewControlSyncRequest(ldap.SyncRequestModeRefreshOnly, server, false)})
	// handle maps each entry before the next is read: it may be reused.
	resp := conn.Stream(ctx, req)
	r := newRefresh(d, len(server) == 0)
	r.groups = ss.groups
	for resp.Next() {
		r.handle(resp)
	}
	delta, err := r.finish(ctx, conn, base, server, resp.Err())
	if err != nil {
		return nil, err
	}
	if len(delta.Cookie) > 0 {
		delta.Cookie = sealCookie(ss.key, delta.Cookie)
	}
	d.logSyncrepl(ss.what, start, len(cookie) > 0, delta)
	return delta, nil
}

// refresh is the state of one syncrepl refresh as its messages arrive.
type refresh struct {
	d   *Directory
	col *collector
	// groups, when set, maps the entries as groups into mapped.
	groups *GroupMapper
	mapped []GroupEntry

	entries   int
	referrals []string
	// changed holds the entryUUIDs of entries sent as added or modified,
	// which are present too.
	changed []string
	deleted []string
	present []string
	// presentPhase: the server said, one way or another, that the refresh
	// holds a present phase.
	presentPhase bool
	cookie       []byte
	// done: the SearchResultDone arrived with its syncDone control; the
	// refresh ran to its end.
	done bool
}

// newRefresh starts a refresh; an initial one (initial) reads every entry,
// and is sized as a full read is.
func newRefresh(d *Directory, initial bool) *refresh {
	col := newCollector(0)
	if initial {
		col = d.newCollector()
	}
	return &refresh{d: d, col: col}
}

func (r *refresh) setCookie(c []byte) {
	if len(c) > 0 {
		r.cookie = append([]byte(nil), c...)
	}
}

// handle takes one message of the refresh: an entry with its sync state, a
// continuation reference, a syncInfo intermediate response, or the final
// result's syncDone.
func (r *refresh) handle(resp ldap.Response) {
	if e := resp.Entry(); e != nil {
		r.entries++
		st, _ := ldap.FindControl(resp.Controls(), ldap.ControlTypeSyncState).(*ldap.ControlSyncState)
		if st == nil {
			// The sync request is critical, so a server that answers at
			// all sends states; an entry without one can only be
			// content, and is mapped as such.
			r.add(e)
			return
		}
		r.setCookie(st.Cookie)
		id := st.EntryUUID.String()
		switch st.State {
		case ldap.SyncStatePresent:
			r.presentPhase = true
			r.present = append(r.present, id)
		case ldap.SyncStateDelete:
			r.deleted = append(r.deleted, id)
		default:
			r.changed = append(r.changed, id)
			r.add(e)
			if n := len(r.mapped); r.groups != nil && r.mapped[n-1].Group.ID == "" && strings.EqualFold(r.groups.id, syncreplIDAttribute) {
				// The entry's id as the server names it, when the
				// entry could not show it.
				ge := &r.mapped[n-1]
				ge.Group.ID = id
				if ge.Skip != nil && ge.Skip.ID == "" {
					ge.Skip.ID = id
				}
			}
		}
		return
	}
	if ref := resp.Referral(); ref != "" {
		r.referrals = append(r.referrals, ref)
		return
	}
	for _, c := range resp.Controls() {
		switch c := c.(type) {
		case *ldap.ControlSyncInfo:
			r.info(c)
		case *ldap.ControlSyncDone:
			r.done = true
			r.setCookie(c.Cookie)
			if !c.RefreshDeletes {
				r.presentPhase = true
			}
		}
	}
}

// add maps one added or modified entry.
func (r *refresh) add(e *ldap.Entry) {
	if r.groups != nil {
		r.mapped = append(r.mapped, r.groups.Map(e))
		return
	}
	r.col.addEntry(r.d.mapper, e)
}

func (r *refresh) info(c *ldap.ControlSyncInfo) {
	switch {
	case c.NewCookie != nil:
		r.setCookie(c.NewCookie.Cookie)
	case c.RefreshPresent != nil:
		// The end of a present phase (RFC 4533 section 3.4).
		r.presentPhase = true
		r.setCookie(c.RefreshPresent.Cookie)
	case c.RefreshDelete != nil:
		r.setCookie(c.RefreshDelete.Cookie)
	case c.SyncIdSet != nil:
		r.setCookie(c.SyncIdSet.Cookie)
		ids := make([]string, 0, len(c.SyncIdSet.SyncUUIDs))
		for _, u := range c.SyncIdSet.SyncUUIDs {
			ids = append(ids, u.String())
		}
		if c.SyncIdSet.RefreshDeletes {
			r.deleted = append(r.deleted, ids...)
		} else {
			r.presentPhase = true
			r.present = append(r.present, ids...)
		}
	}
}

// finish turns how the refresh ended into the Delta, or into an error when
// nothing of it may be used (see ReadSyncrepl).
func (r *refresh) finish(ctx context.Context, conn *ldapwire.Conn, base string, cookie []byte, err error) (*Delta, error) {
	delta := &Delta{Entries: r.entries}
	var reasons []string
	for _, ref := range r.referrals {
		if r.d.ignoreReferrals {
			r.d.log.Debug().Str("base", base).Str("reference", ref).Msg("continuation reference ignored (ldap.referrals: ignore)")
			continue
		}
		reasons = append(reasons, fmt.Sprintf("referral: %s: continuation to %s not followed (set ldap.referrals: ignore if this reference is expected)", base, ref))
	}
	if err != nil || !r.done {
		if refused := refusedCookie(err, cookie); refused != "" {
			if ctx.Err() != nil {
				return nil, fmt.Errorf("ldap: syncrepl %s: %w", base, ctx.Err())
			}
			r.d.log.Info().Str("base", base).Str("why", refused).Msg("syncrepl cookie refused: full read needed")
			return &Delta{FullReadNeeded: true}, nil
		}
		var se *searchError
		if !errors.As(classify(ctx, conn, base, r.entries, err), &se) {
			return nil, fmt.Errorf("ldap: syncrepl %s: %w", base, err)
		}
		switch {
		case se.kind == stopCanceled:
			return nil, fmt.Errorf("ldap: syncrepl %s: %w", base, ctx.Err())
		case ldap.IsErrorWithCode(err, ldap.LDAPResultUnavailableCriticalExtension):
			// Advertised in the root DSE (the module is loaded) but not
			// configured on this database.
			return nil, fmt.Errorf("%w: %s: %w", ErrSyncreplUnsupported, base, se.err)
		case r.entries == 0 && (se.kind == stopRefused || se.kind == stopConnLost):
			return nil, fmt.Errorf("ldap: syncrepl: %w", se)
		}
		reasons = append(reasons, se.reason())
	}
	delta.Users, delta.Skipped = r.col.finish()
	delta.Groups = r.mapped
	if delta.Incomplete = joinReasons(reasons); delta.Incomplete != "" {
		delta.Cookie = cookie
		return delta, nil
	}
	delta.Deleted = sortedUnique(r.deleted)
	// Without a cookie the server sends the whole content (slapd ends it
	// with refreshDeletes true all the same): a present set by definition.
	if r.presentPhase || len(cookie) == 0 {
		delta.PresentPhase = true
		delta.Present = sortedUnique(append(r.present, r.changed...))
	}
	delta.Cookie = r.cookie
	if len(delta.Cookie) == 0 {
		if len(cookie) > 0 && (r.entries > 0 || len(r.deleted) > 0 || len(r.present) > 0) {
			// Changes without a cookie to resume after them: OpenLDAP
			// answers so when it could not parse the cookie and sent its
			// whole content as adds, with no word of what was deleted.
			r.d.log.Info().Str("base", base).Msg("syncrepl: changes sent without a cookie, the server did not resume from ours: full read needed")
			return &Delta{FullReadNeeded: true}, nil
		}
		// Nothing changed (OpenLDAP then sends no cookie): the old
		// position still holds.
		delta.Cookie = cookie
	}
	return delta, nil
}

// refusedCookie says why err means the server will not resume from cookie,
// or "". e-syncRefreshRequired is the protocol's way; servers also reject a
// cookie they cannot parse (OpenLDAP: protocol error) or one from another
// server or era (unwilling to perform). Without a cookie none of these can
// be about one, and they are ordinary refusals.
func refusedCookie(err error, cookie []byte) string {
	if err == nil {
		return ""
	}
	if ldap.IsErrorWithCode(err, ldap.LDAPResultSyncRefreshRequired) {
		return "e-syncRefreshRequired"
	}
	if len(cookie) == 0 {
		return ""
	}
	for _, code := range []uint16{ldap.LDAPResultProtocolError, ldap.LDAPResultUnwillingToPerform} {
		if ldap.IsErrorWithCode(err, code) {
			return wrapLDAP(err).Error()
		}
	}
	return ""
}

func sortedUnique(ids []string) []string {
	if len(ids) == 0 {
		return nil
	}
	slices.Sort(ids)
	return slices.Compact(ids)
}

func (d *Directory) logSyncrepl(what string, start time.Time, resumed bool, delta *Delta) {
	ev := d.log.Debug()
	if delta.Incomplete != "" {
		ev = d.log.Warn().Str("incomplete", delta.Incomplete)
	}
	ev.Bool("resumed", resumed).
		Bool("full_read_needed", delta.FullReadNeeded).
		Int("entries", delta.Entries).
		Str("scope", what).
		Int("users", len(delta.Users)).
		Int("groups", len(delta.Groups)).
		Int("skipped", len(delta.Skipped)).
		Int("deleted", len(delta.Deleted)).
		Bool("present_phase", delta.PresentPhase).
		Int("present", len(delta.Present)).
		Dur("took", time.Since(start)).
		Msg("directory syncrepl read")
}
