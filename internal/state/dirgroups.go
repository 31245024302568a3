package state

import (
	"context"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/syncd-dev/syncd/internal/identity"
)

// dnKey is the form a DN is stored in to be matched: identity.NormalizeDN.
func dnKey(dn string) string {
	if dn == "" {
		return ""
	}
	return identity.NormalizeDN(dn)
}

// saveGroupEntries records the group entries a read gave (see
// directory_groups). A full read replaces what was kept; an incremental one
// writes the entries it read and forgets the deleted ids. Member DNs are
// kept normalized. An entry without an id cannot be matched again and is
// not kept.
func saveGroupEntries(ctx context.Context, tx pgx.Tx, full bool, entries []identity.GroupEntry, deleted []string) error {
	ids := make([]string, 0, len(entries))
	keys := make([]string, 0, len(entries))
	names := make([]string, 0, len(entries))
	nameKeys := make([]string, 0, len(entries))
	members := make([]string, 0, len(entries))
	logins := make([]string, 0, len(entries))
	reasons := make([]string, 0, len(entries))
	details := make([]string, 0, len(entries))
	for _, e := range lastByID(entries, func(e identity.GroupEntry) string { return e.Group.ID }) {
		g := e.Group
		if g.ID == "" {
			continue
		}
		dns := make([]string, len(g.MemberDNs))
		for i, dn := range g.MemberDNs {
			dns[i] = dnKey(dn)
		}
		var reason, detail string
		if e.Skip != nil {
			reason, detail = string(e.Skip.Reason), bound(e.Skip.Detail)
		}
		ids, keys, names, nameKeys = append(ids, g.ID), append(keys, dnKey(g.DN)), append(names, bound(g.Name)), append(nameKeys, strings.ToLower(bound(g.Name)))
		members, logins = append(members, textArray(dns)), append(logins, textArray(g.MemberLogins))
		reasons, details = append(reasons, reason), append(details, detail)
	}
	var err error
	if full {
		// Only the rows that changed are written: a row rewritten costs
		// its member index entries again.
		_, err = tx.Exec(ctx, `DELETE FROM directory_groups WHERE NOT ldap_id = ANY($1)`, ids)
	} else if len(deleted) > 0 {
		_, err = tx.Exec(ctx, `DELETE FROM directory_groups WHERE ldap_id = ANY($1)`, deleted)
	}
	if err != nil || len(ids) == 0 {
		return err
	}
	// Arrays of arrays cannot be unnested into rows, so the member lists
	// travel as array literals, one per row.
	_, err = tx.Exec(ctx, `
		INSERT INTO directory_groups AS g (ldap_id, dn_key, name, name_key, member_dns, logins, skip_reason, skip_detail)
		SELECT id, k, n, nk, m::text[], l::text[], r, d
		FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[]) AS v(id, k, n, nk, m, l, r, d)
		ON CONFLICT (ldap_id) DO UPDATE SET dn_key = excluded.dn_key, name = excluded.name, name_key = excluded.name_key,
			member_dns = excluded.member_dns, logins = excluded.logins, skip_reason = excluded.skip_reason, skip_detail = excluded.skip_detail
		WHERE (g.dn_key, g.name, g.name_key, g.member_dns, g.logins, g.skip_reason, g.skip_detail) IS DISTINCT FROM
			(excluded.dn_key, excluded.name, excluded.name_key, excluded.member_dns, excluded.logins, excluded.skip_reason, excluded.skip_detail)`,
		ids, keys, names, nameKeys, members, logins, reasons, details)
	return err
}

// CountGroupEntries counts the groups a full read would find in scope
// once the given entries replace the kept ones of their ids and the ids
// deleted are gone: entries mapped, whose name no other mapped entry
// shares (a shared name skips them all).
func (s *Store) CountGroupEntries(ctx context.Context, entries []identity.GroupEntry, deleted []string) (int, error) {
	// Never nil: NOT x = ANY(NULL) holds for no row.
	gone := append([]string{}, deleted...)
	var names []string
	for _, e := range entries {
		gone = append(gone, e.Group.ID)
		if e.Skip == nil {
			names = append(names, strings.ToLower(bound(e.Group.Name)))
		}
	}
	ctx, cancel := withTimeout(ctx, queryTimeout)
	defer cancel()
	var n int
	err := s.pool.QueryRow(ctx, `
		SELECT count(*) FROM (
			SELECT name_key FROM (
				SELECT name_key FROM directory_groups WHERE skip_reason = '' AND NOT ldap_id = ANY($1)
				UNION ALL SELECT unnest($2::text[])
			) AS a GROUP BY name_key HAVING count(*) = 1
		) AS b`, gone, names).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("count group entries: %w", err)
	}
	return n, nil
}

// textArray writes xs as a PostgreSQL array literal.
func textArray(xs []string) string {
	var b strings.Builder
	b.WriteByte('{')
	for i, x := range xs {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteByte('"')
		for _, r := range x {
			if r == '"' || r == '\\' {
				b.WriteByte('\\')
			}
			b.WriteRune(r)
		}
		b.WriteByte('"')
	}
	b.WriteByte('}')
	return b.String()
}

// GroupEntryKey says what GroupEntries looks group entries up by.
type GroupEntryKey int

// The ways to look group entries up.
const (
	// ByID: the entries with these directory ids.
	ByID GroupEntryKey = iota
	// ByDN: the entries with these DNs (normalized).
	ByDN
	// ByMember: the entries listing any of these DNs (normalized) as a
	// direct member.
	ByMember
	// ByName: the entries with these names (lower-cased).
	ByName
)

var groupEntryWhere = map[GroupEntryKey]string{
	ByID:     `ldap_id = ANY($1)`,
	ByDN:     `dn_key = ANY($1)`,
	ByMember: `member_dns && $1`,
	ByName:   `name_key = ANY($1)`,
}

// GroupEntries returns the recorded group entries matching any of keys, by
// directory id, with their member DNs normalized.
func (s *Store) GroupEntries(ctx context.Context, by GroupEntryKey, keys []string) (map[string]identity.GroupEntry, error) {
	out := map[string]identity.GroupEntry{}
	if len(keys) == 0 {
		return out, nil
	}
	ctx, cancel := withTimeout(ctx, bulkTimeout)
	defer cancel()
	rows, err := s.pool.Query(ctx, `SELECT ldap_id, dn_key, name, member_dns, logins, skip_reason, skip_detail FROM directory_groups WHERE `+groupEntryWhere[by], keys)
	if err != nil {
		return nil, fmt.Errorf("load group entries: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			g              identity.Group
			reason, detail string
		)
		if err := rows.Scan(&g.ID, &g.DN, &g.Name, &g.MemberDNs, &g.MemberLogins, &reason, &detail); err != nil {
			return nil, fmt.Errorf("load group entries: %w", err)
		}
		if len(g.MemberDNs) == 0 {
			g.MemberDNs = nil
		}
		if len(g.MemberLogins) == 0 {
			g.MemberLogins = nil
		}
		e := identity.GroupEntry{Group: g}
		if reason != "" {
			e.Skip = &identity.Skipped{DN: g.DN, ID: g.ID, Reason: identity.SkipReason(reason), Detail: detail}
		}
		out[g.ID] = e
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("load group entries: %w", err)
	}
	return out, nil
}

// SkippedGroupEntries lists the ids of the recorded group entries a full
// read skips: those that could not be mapped, and those sharing a name.
func (s *Store) SkippedGroupEntries(ctx context.Context) ([]string, error) {
	return s.queryIDs(ctx, "list skipped group entries", `
		SELECT ldap_id FROM directory_groups WHERE skip_reason <> ''
			OR name_key IN (SELECT name_key FROM directory_groups WHERE skip_reason = '' GROUP BY name_key HAVING count(*) > 1)`)
}

// GroupEntryIDs lists the ids of every recorded group entry: after a
// syncrepl present phase, the ones the server did not name are gone.
func (s *Store) GroupEntryIDs(ctx context.Context) ([]string, error) {
	return s.queryIDs(ctx, "list group entries", `SELECT ldap_id FROM directory_groups`)
}

// LinkedAt returns the linked users, active or not, whose DN (as last
// recorded) is one of dnKeys or whose id is one of ids.
func (s *Store) LinkedAt(ctx context.Context, dnKeys, ids []string) (map[string]identity.Linked, error) {
	// Two arms, each on its own index; a user both name comes once.
	return s.queryUsers(ctx, len(dnKeys)+len(ids), `SELECT `+userColumns+` FROM users WHERE dn_key = ANY($1)
		UNION ALL
		SELECT `+userColumns+` FROM users WHERE ldap_id = ANY($2)`, dnKeys, ids)
}
