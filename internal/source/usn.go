package source

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/go-ldap/ldap/v3"

	"github.com/syncd-dev/syncd/internal/ldapwire"
)

// USN polling reads what changed on one Active Directory domain controller
// since a watermark: every object a DC writes gets the DC's next update
// sequence number in uSNChanged, and the root DSE's highestCommittedUSN is
// the highest the DC has committed. USNs are per DC, and a DC restored from
// a backup reuses numbers under a new invocationId, so a mark only means
// something together with the DC's name and invocationId; see USNMark.
//
// What a USN read cannot see, and leaves to the periodic full read:
//   - an entry moved out of the base DNs, or modified so that it no longer
//     matches the users filter: its new uSNChanged is outside the scope
//     searched (an entry moved in, or modified so that it matches, is seen);
//   - deletions, when the bind account may not read tombstones (by default
//     only administrators may list the Deleted Objects container); the delta
//     then says so in DeletionsUnknown;
//   - a userName that a changed entry now shares with an unchanged one: the
//     collector only compares the entries of the delta.

// wkDeletedObjects is GUID_DELETED_OBJECTS_CONTAINER (ntdsapi.h): AD resolves
// <WKGUID=this,NC> to the naming context's Deleted Objects container
// whatever it is called in the domain's language.
const wkDeletedObjects = "18e2ea80684f11d2b9aa00c04f79f805"

// dcLayout says where a directory keeps what identifies a domain controller
// and where its tombstones are. The zero value is Active Directory. slapd
// has none of it, so tests point the fields at ordinary entries that stand
// in for the root DSE and the Deleted Objects container.
type dcLayout struct {
	// rootDSE is the entry read for dnsHostName, serverName, dsServiceName,
	// defaultNamingContext and highestCommittedUSN: "" (the root DSE) on AD.
	rootDSE string
	// deletedObjects names the tombstone container of naming context nc;
	// nil means AD's well-known-GUID form.
	deletedObjects func(nc string) string
	// showDeletedOptional sends the show-deleted control non-critical. AD
	// gets it critical, so that a server that does not honour it refuses
	// the search (deletions unknown) instead of answering without
	// tombstones (no deletions, silently wrong); slapd, which refuses it,
	// gets it optional and keeps test tombstones visible anyway.
	showDeletedOptional bool
}

func (l dcLayout) deletedContainer(nc string) string {
	if l.deletedObjects != nil {
		return l.deletedObjects(nc)
	}
	return "<WKGUID=" + wkDeletedObjects + "," + nc + ">"
}

// usnReader is what ReadUSN needs of the configuration beyond Read's.
type usnReader struct {
	activeDirectory bool
	// memberOf are the groups scoping the users; see scopingGroupsChanged.
	memberOf []string
	dc       dcLayout
}

func newUSNReader(cfg Config) usnReader {
	r := usnReader{activeDirectory: cfg.ActiveDirectory}
	for _, g := range cfg.MemberOf {
		if g = strings.TrimSpace(g); g != "" {
			r.memberOf = append(r.memberOf, g)
		}
	}
	return r
}

// dcState is what the DC says about itself at the start of a read.
type dcState struct {
	mark USNMark
	// namingContext is the DC's default naming context, under which the
	// Deleted Objects container and the scoping groups' nested groups live;
	// "" when the root DSE does not name one.
	namingContext string
}

// ReadUSN reads what changed on the domain controller since last. It
// returns Delta{FullReadNeeded: true} and the DC's current mark when last is
// the zero mark, names another DC or another invocationId (a restored DC
// reuses USNs), or when a group scoping the users (Config.MemberOf) changed;
// the caller then does a full read and stores the new mark once that run
// has committed. Otherwise the delta holds the users in scope whose
// uSNChanged is above last.HighestUSN, mapped and skipped as Read does, and
// the ids of the tombstones above it (Deleted, or DeletionsUnknown when they
// cannot be read). Deleted may hold ids of objects that were never in scope
// (groups, computers, users of other OUs): tombstones lose the attributes a
// scope is judged by, so unknown ids are the caller's to ignore.
//
// The new mark's HighestUSN is highestCommittedUSN as read before any
// search, so a change committed during the read is read again next time
// rather than lost. An incomplete delta (size or time limit, connection
// lost) returns last unchanged, in the mark and in Delta.Cookie. Errors
// follow Read: only when nothing could be read.
func (d *Directory) ReadUSN(ctx context.Context, last USNMark) (*Delta, USNMark, error) {
	start := time.Now()
	conn, err := d.connect(ctx)
	if err != nil {
		return nil, last, err
	}
	defer conn.Close()

	dc, err := d.readDC(ctx, conn)
	if err != nil {
		return nil, last, err
	}
	now := dc.mark
	full := func(why string) (*Delta, USNMark, error) {
		d.log.Info().Str("reason", why).Str("dc", now.DC).Int64("usn", now.HighestUSN).Msg("usn read: full read needed")
		return &Delta{FullReadNeeded: true, Cookie: now.Encode()}, now, nil
	}
	switch {
	case last.IsZero():
		return full("no usn mark yet")
	case !strings.EqualFold(last.DC, now.DC):
		return full(fmt.Sprintf("the mark is for domain controller %s, this is %s (USNs are per DC)", last.DC, now.DC))
	case !strings.EqualFold(last.InvocationID, now.InvocationID):
		return full(fmt.Sprintf("the invocationId of %s changed from %s to %s (database restored?)", now.DC, last.InvocationID, now.InvocationID))
	case now.HighestUSN < last.HighestUSN:
		// Cannot happen without an invocationId change on a healthy DC;
		// reading from the old mark would miss everything up to it.
		return full(fmt.Sprintf("highestCommittedUSN of %s went back from %d to %d", now.DC, last.HighestUSN, now.HighestUSN))
	}
	if why, err := d.scopingGroupsChanged(ctx, conn, dc.namingContext, last.HighestUSN); err != nil {
		return nil, last, err
	} else if why != "" {
		return full(why)
	}

	col := newCollector(0)
	q := d.users
	q.filter = "(&" + d.users.filter + usnAbove(last.HighestUSN) + ")"
	sc, err := d.scan(ctx, conn, d.baseDNs, q, func(e *ldap.Entry) {
		col.addEntry(d.mapper, e)
	})
	if err != nil {
		return nil, last, err
	}
	delta := &Delta{Entries: sc.entries}
	delta.Users, delta.Skipped = col.finish()

	ts, err := d.readTombstones(ctx, conn, dc.namingContext, last.HighestUSN)
	if err != nil {
		return nil, last, err
	}
	delta.Deleted, delta.DeletionsUnknown = ts.ids, ts.unknown
	delta.Entries += ts.entries

	var incomplete []string
	for _, r := range []string{sc.incomplete, ts.incomplete} {
		if r != "" {
			incomplete = append(incomplete, r)
		}
	}
	mark := now
	if len(incomplete) > 0 {
		delta.Incomplete = strings.Join(incomplete, "; ")
		mark = last
	}
	delta.Cookie = mark.Encode()

	ev := d.log.Debug()
	if delta.Incomplete != "" {
		ev = d.log.Warn().Str("incomplete", delta.Incomplete)
	}
	if delta.DeletionsUnknown != "" {
		ev = ev.Str("deletionsUnknown", delta.DeletionsUnknown)
	}
	ev.Str("dc", now.DC).Int64("from", last.HighestUSN).Int64("to", mark.HighestUSN).
		Int("users", len(delta.Users)).Int("skipped", len(delta.Skipped)).Int("deleted", len(delta.Deleted)).
		Dur("took", time.Since(start)).Msg("usn read")
	return delta, mark, nil
}

// usnAbove is the filter for changes after usn.
func usnAbove(usn int64) string {
	return "(uSNChanged>=" + strconv.FormatInt(usn+1, 10) + ")"
}

// scopingGroupsChanged says why the delta cannot be trusted when users are
// scoped by group: AD records a membership change on the group (its member
// attribute and uSNChanged), not on the member, so a user who joined or left
// a scoping group has an unchanged uSNChanged. Telling who joined or left
// would mean reading the members and comparing them with a list the source
// does not keep; a full read is the simple answer that is always right, at
// the cost of one full read per poll in which a scoping group changed. With
// Active Directory's in-chain matching the groups nested in a scoping group
// count too, since their members are in scope.
func (d *Directory) scopingGroupsChanged(ctx context.Context, conn *ldapwire.Conn, nc string, last int64) (string, error) {
	groups := d.usn.memberOf
	if len(groups) == 0 {
		return "", nil
	}
	for _, g := range groups {
		e, err := d.readBase(ctx, conn, g, usnAbove(last), []string{"1.1"})
		switch {
		case ldap.IsErrorWithCode(err, ldap.LDAPResultNoSuchObject):
			return fmt.Sprintf("scoping group %s is gone", g), nil
		case err != nil:
			return "", fmt.Errorf("ldap: read scoping group %s: %w", g, err)
		case e != nil:
			return fmt.Sprintf("scoping group %s changed after USN %d: its members may have changed", g, last), nil
		}
	}
	if !d.usn.activeDirectory {
		// Without in-chain matching, Filter matches direct members only.
		return "", nil
	}
	if nc == "" {
		return "groups nested in the scoping groups cannot be checked: the root DSE names no defaultNamingContext", nil
	}
	var b strings.Builder
	b.WriteString("(&(objectClass=group)" + usnAbove(last) + "(|")
	for _, g := range groups {
		b.WriteString("(memberOf:" + matchingRuleInChain + ":=" + ldap.EscapeFilter(g) + ")")
	}
	b.WriteString("))")
	// One entry is enough to know; uSNChanged is indexed, so the DC
	// narrows to recent changes before it walks the chains.
	req := ldap.NewSearchRequest(nc, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 1, d.timeLimit(), false,
		b.String(), []string{"1.1"}, nil)
	e, err := d.first(ctx, conn, req)
	if err != nil && !(e != nil && ldap.IsErrorWithCode(err, ldap.LDAPResultSizeLimitExceeded)) {
		return "", fmt.Errorf("ldap: look for changed groups nested in the scoping groups: %w", err)
	}
	if e != nil {
		return fmt.Sprintf("group %s, nested in a scoping group, changed after USN %d", e.DN, last), nil
	}
	return "", nil
}

// tombstones is what the deletion search read.
type tombstones struct {
	ids     []string
	entries int
	// unknown is Delta.DeletionsUnknown; incomplete a Delta.Incomplete
	// reason.
	unknown, incomplete string
}

// refusalCodes are the answers that mean this account will never read
// tombstones here, as opposed to a busy or failing server: deletions are
// then left to the full read rather than failing every incremental run.
var refusalCodes = []uint16{
	ldap.LDAPResultUnavailableCriticalExtension,
	ldap.LDAPResultInsufficientAccessRights,
	ldap.LDAPResultNoSuchObject,
	ldap.LDAPResultUnwillingToPerform,
}

// readTombstones reads the ids of the objects deleted after last: with the
// show-deleted control, one level under the naming context's Deleted
// Objects container, where AD moves tombstones. A tombstone keeps
// objectGUID (and objectSid), so the configured id must be one of those for
// deletions to be known.
func (d *Directory) readTombstones(ctx context.Context, conn *ldapwire.Conn, nc string, last int64) (tombstones, error) {
	var ts tombstones
	if nc == "" {
		ts.unknown = "the root DSE names no defaultNamingContext, so the Deleted Objects container is unknown"
		return ts, nil
	}
	base := d.usn.dc.deletedContainer(nc)
	q := query{
		scope:    ldap.ScopeSingleLevel,
		filter:   "(&(isDeleted=TRUE)" + usnAbove(last) + ")",
		attrs:    []string{d.mapper.id},
		controls: []ldap.Control{ldap.NewControlString(ldap.ControlTypeMicrosoftShowDeleted, !d.usn.dc.showDeletedOptional, "")},
	}
	var noID string
	_, err := d.search(ctx, conn, base, q, func(e *ldap.Entry) {
		ts.entries++
		id, r, _ := readID(e, d.mapper.id, d.mapper.guid)
		if r != "" {
			if noID == "" {
				noID = fmt.Sprintf("tombstone %s has no usable %s", quoteBounded(e.DN), d.mapper.id)
			}
			return
		}
		ts.ids = append(ts.ids, id)
	})
	if noID != "" {
		// One deletion unknown makes them all unknown to the caller,
		// who cannot tell which id is missing.
		ts.ids, ts.unknown = nil, noID
	}
	if err == nil {
		return ts, nil
	}
	var se *searchError
	if !errors.As(err, &se) {
		return ts, err
	}
	switch {
	case se.kind == stopCanceled:
		return ts, fmt.Errorf("ldap: read tombstones: %w", ctx.Err())
	case se.kind == stopRefused && ldap.IsErrorAnyOf(err, refusalCodes...):
		ts.ids = nil
		ts.unknown = fmt.Sprintf("tombstones under %s not readable (%v)", base, se.err)
	default:
		ts.incomplete = "tombstones: " + se.reason()
	}
	return ts, nil
}

// readDC reads the DC's name, invocationId, highestCommittedUSN and default
// naming context. On AD the invocationId is not on the root DSE but on the
// NTDS Settings object that dsServiceName names.
func (d *Directory) readDC(ctx context.Context, conn *ldapwire.Conn) (dcState, error) {
	where := d.usn.dc.rootDSE
	if where == "" {
		where = "the root DSE"
	}
	root, err := d.readBase(ctx, conn, d.usn.dc.rootDSE, "(objectClass=*)",
		[]string{"dnsHostName", "serverName", "dsServiceName", "defaultNamingContext", "highestCommittedUSN"})
	if err == nil && root == nil {
		err = errors.New("not readable")
	}
	if err != nil {
		return dcState{}, fmt.Errorf("ldap: read %s: %w", where, err)
	}
	var st dcState
	st.mark.DC, _ = first(root, "dnsHostName")
	if st.mark.DC == "" {
		st.mark.DC, _ = first(root, "serverName")
	}
	usn, _ := first(root, "highestCommittedUSN")
	settings, _ := first(root, "dsServiceName")
	st.namingContext, _ = first(root, "defaultNamingContext")
	switch {
	case st.mark.DC == "":
		return dcState{}, fmt.Errorf("ldap: %s has neither dnsHostName nor serverName: not an Active Directory domain controller?", where)
	case usn == "":
		return dcState{}, fmt.Errorf("ldap: %s has no highestCommittedUSN: not an Active Directory domain controller?", where)
	case settings == "":
		return dcState{}, fmt.Errorf("ldap: %s has no dsServiceName", where)
	}
	if st.mark.HighestUSN, err = strconv.ParseInt(strings.TrimSpace(usn), 10, 64); err != nil || st.mark.HighestUSN < 0 {
		return dcState{}, fmt.Errorf("ldap: %s: highestCommittedUSN %q is not a USN", where, bounded(usn))
	}
	ntds, err := d.readBase(ctx, conn, settings, "(objectClass=*)", []string{"invocationId"})
	if err == nil && ntds == nil {
		err = errors.New("not readable")
	}
	if err != nil {
		return dcState{}, fmt.Errorf("ldap: read the DC's invocationId from %s: %w", settings, err)
	}
	if st.mark.InvocationID, err = FormatGUID(firstRaw(ntds, "invocationId")); err != nil {
		return dcState{}, fmt.Errorf("ldap: invocationId of %s: %w", settings, err)
	}
	return st, nil
}

// USNSupported reports, for `syncd check`, whether USN polling can work
// here and why: only on Active Directory, when the root DSE names the DC
// and its highestCommittedUSN and the DC's invocationId is readable. It
// also says whether tombstones are readable, since without them deletions
// wait for the periodic full read.
func (d *Directory) USNSupported(ctx context.Context) (bool, string) {
	if !d.usn.activeDirectory {
		return false, "usn polling needs Active Directory, and this source is not configured as Active Directory"
	}
	conn, err := d.connect(ctx)
	if err != nil {
		return false, err.Error()
	}
	defer conn.Close()
	dc, err := d.readDC(ctx, conn)
	if err != nil {
		return false, err.Error()
	}
	reason := fmt.Sprintf("domain controller %s, invocationId %s, highestCommittedUSN %d",
		dc.mark.DC, dc.mark.InvocationID, dc.mark.HighestUSN)
	// Tombstones above the current USN are none, so this costs a search
	// that returns nothing, and shows whether the search is allowed.
	ts, err := d.readTombstones(ctx, conn, dc.namingContext, dc.mark.HighestUSN)
	switch {
	case err != nil:
		reason += "; tombstones: " + err.Error()
	case ts.unknown != "":
		reason += "; deletions wait for the periodic full read: " + ts.unknown
	case ts.incomplete != "":
		reason += "; " + ts.incomplete
	default:
		reason += "; tombstones readable"
	}
	return true, reason
}

// readBase reads the entry dn if it matches filter: nil, nil when it does
// not.
func (d *Directory) readBase(ctx context.Context, conn *ldapwire.Conn, dn, filter string, attrs []string) (*ldap.Entry, error) {
	req := ldap.NewSearchRequest(dn, ldap.ScopeBaseObject, ldap.NeverDerefAliases, 1, d.timeLimit(), false, filter, attrs, nil)
	return d.first(ctx, conn, req)
}

// first runs req and returns its first entry, with the search's error (the
// entry may come with one, such as a size limit).
func (d *Directory) first(ctx context.Context, conn *ldapwire.Conn, req *ldap.SearchRequest) (*ldap.Entry, error) {
	resp := conn.Search(ctx, req)
	var e *ldap.Entry
	for resp.Next() {
		if x := resp.Entry(); x != nil && e == nil {
			e = x
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return e, wrapLDAP(resp.Err())
}
