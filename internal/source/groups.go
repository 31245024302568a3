package source

import (
	"context"
	"time"

	"github.com/go-ldap/ldap/v3"

	"github.com/syncd-dev/syncd/internal/identity"
)

// GroupResult is one read of the groups.
type GroupResult struct {
	// Groups are the mapped groups in scope with their members flattened
	// (see FlattenGroups), sorted by ID.
	Groups []identity.Group
	// Skipped are the group entries that could not be mapped, sorted by DN.
	Skipped []identity.Skipped
	// Incomplete is as Result.Incomplete; a group read that did not run to
	// its end lacks groups, and so members, that the directory holds.
	Incomplete string
	// Entries counts the entries the directory returned, overlaps included.
	Entries int
}

// groupReader is the group half of a Directory; nil when groups are off.
type groupReader struct {
	mapper  *GroupMapper
	q       query
	baseDNs []string
	nested  bool
}

func newGroupReader(g Groups) *groupReader {
	if !g.Enabled() {
		return nil
	}
	m := NewGroupMapper(g)
	scope, _ := searchScope(g.Scope)
	logins, _ := memberKind(g.MemberAttribute)
	return &groupReader{
		mapper:  m,
		q:       query{scope: scope, filter: g.Filter, attrs: m.Attributes()},
		baseDNs: trimAll(g.BaseDNs),
		// A memberUid group lists logins, never a group.
		nested: g.Nested && !logins,
	}
}

// GroupsEnabled reports whether groups are configured (ldap.groups.baseDNs).
func (d *Directory) GroupsEnabled() bool { return d.groups != nil }

// ReadGroups searches the group base DNs and returns the groups with their
// members flattened. It is a no-op (nil, nil) when groups are not
// configured. Errors and Incomplete follow Read: an error only when nothing
// could be read, a partial result with Incomplete set otherwise. Entries
// are mapped as they stream in, but flattening needs every group, so the
// mapped groups (not the entries) are held until the read ends.
func (d *Directory) ReadGroups(ctx context.Context) (*GroupResult, error) {
	gr := d.groups
	if gr == nil {
		return nil, nil
	}
	start := time.Now()
	conn, err := d.connect(ctx)
	if err != nil {
		return nil, err
	}
	defer conn.Close()

	var entries []GroupEntry
	sc, err := d.scan(ctx, conn, gr.baseDNs, gr.q, func(e *ldap.Entry) {
		entries = append(entries, gr.mapper.Map(e))
	})
	if err != nil {
		return nil, err
	}
	res := &GroupResult{Entries: sc.entries, Incomplete: sc.incomplete}
	res.Groups, res.Skipped = FlattenGroups(entries, gr.nested)
	d.logRead("directory groups read", "groups", start, sc, len(res.Groups), len(res.Skipped))
	return res, nil
}

// FlattenGroups flattens group entries as ReadGroups does, with the
// configured nesting.
func (d *Directory) FlattenGroups(entries []GroupEntry) ([]identity.Group, []identity.Skipped) {
	nested := d.groups != nil && d.groups.nested
	return FlattenGroups(entries, nested)
}
