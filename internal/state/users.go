package state

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/syncd-dev/syncd/internal/identity"
)

// pushed is the users.pushed column: the values last sent to Omni. The
// directory id is the row's key and is not repeated here.
type pushed struct {
	DN          string            `json:"dn,omitempty"`
	UserName    string            `json:"userName"`
	DisplayName string            `json:"displayName"`
	GivenName   string            `json:"givenName,omitempty"`
	FamilyName  string            `json:"familyName,omitempty"`
	Active      bool              `json:"active"`
	Attributes  map[string]string `json:"attributes,omitempty"`
}

// LoadUsers returns every linked user, active or deprovisioned, keyed by
// directory id, in one streaming query. Times come back in UTC, to the
// microsecond PostgreSQL keeps; an empty attribute map comes back nil.
func (s *Store) LoadUsers(ctx context.Context) (map[string]identity.Linked, error) {
	// Sized up front: growing a map of every user copies it over and over.
	var n int
	if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM users`).Scan(&n); err != nil {
		return nil, fmt.Errorf("load users: %w", err)
	}
	return s.queryUsers(ctx, n, `SELECT `+userColumns+` FROM users`)
}

// LoadChangedUsers returns, for an incremental run, only the users it can
// concern: those with the given directory ids (the changed and deleted
// entries), those still marked missing (their grace clock runs on), and,
// apart, the active users holding any of the given userNames (so that a
// changed entry cannot take another's email). Its cost follows the change,
// not the directory.
func (s *Store) LoadChangedUsers(ctx context.Context, ids, userNames []string) (changed, holders map[string]identity.Linked, err error) {
	// Two arms, each on its own index (the primary key, users_missing):
	// as one OR they are read off every active user.
	changed, err = s.queryUsers(ctx, len(ids), `SELECT `+userColumns+` FROM users WHERE ldap_id = ANY($1)
		UNION ALL
		SELECT `+userColumns+` FROM users WHERE status = 'active' AND first_missing_at IS NOT NULL AND NOT ldap_id = ANY($1)`, ids)
	if err != nil {
		return nil, nil, err
	}
	holders, err = s.queryUsers(ctx, 0, `SELECT `+userColumns+` FROM users
		WHERE status = 'active' AND lower(user_name) = ANY($1) AND NOT ldap_id = ANY($2)`, userNames, ids)
	if err != nil {
		return nil, nil, err
	}
	return changed, holders, nil
}

// LinkedTo returns the directory id linked to the Omni user scimID, active
// or deprovisioned, if any.
func (s *Store) LinkedTo(ctx context.Context, scimID string) (string, bool, error) {
	ctx, cancel := withTimeout(ctx, queryTimeout)
	defer cancel()
	var id string
	err := s.pool.QueryRow(ctx, `SELECT ldap_id FROM users WHERE scim_id = $1 ORDER BY status = 'active' DESC LIMIT 1`, scimID).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("look up the link of %s: %w", scimID, err)
	}
	return id, true, nil
}

// CountActiveUsers counts the active linked users, for the deprovision
// caps of a run that loaded only some of them.
func (s *Store) CountActiveUsers(ctx context.Context) (int, error) {
	ctx, cancel := withTimeout(ctx, queryTimeout)
	defer cancel()
	var n int
	if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM users WHERE status = 'active'`).Scan(&n); err != nil {
		return 0, fmt.Errorf("count active users: %w", err)
	}
	return n, nil
}

const userColumns = `ldap_id, scim_id, pushed, content_hash, status, origin, first_missing_at, missing_runs, missing_reason`

// queryUsers streams the users a query selects (userColumns), keyed by
// directory id. Times come back in UTC; an empty attribute map comes back
// nil.
func (s *Store) queryUsers(ctx context.Context, size int, q string, args ...any) (map[string]identity.Linked, error) {
	ctx, cancel := withTimeout(ctx, bulkTimeout)
	defer cancel()
	rows, err := s.pool.Query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("load users: %w", err)
	}
	defer rows.Close()
	users := make(map[string]identity.Linked, size)
	var attrs identity.AttributeSet
	var (
		l identity.Linked
		// raw is decoded before the next row: no copy of it is needed.
		raw     pgtype.DriverBytes
		missing pgtype.Timestamptz
	)
	for rows.Next() {
		l = identity.Linked{}
		if err := rows.Scan(&l.ID, &l.SCIMID, &raw, &l.Hash, &l.Status, &l.Origin, &missing, &l.MissingRuns, &l.MissingReason); err != nil {
			return nil, fmt.Errorf("load users: %w", err)
		}
		var p pushed
		if err := json.Unmarshal(raw, &p); err != nil {
			return nil, fmt.Errorf("load users: decode pushed values of %s: %w", l.ID, err)
		}
		l.DN, l.UserName, l.DisplayName, l.GivenName, l.FamilyName, l.Active, l.Attributes =
			p.DN, p.UserName, p.DisplayName, p.GivenName, p.FamilyName, p.Active, p.Attributes
		if len(l.Attributes) == 0 {
			l.Attributes = nil
		}
		l.Attributes = attrs.Intern(l.Attributes)
		if missing.Valid {
			l.FirstMissingAt = missing.Time.UTC()
		}
		l.Status, l.Origin = canonical(l.Status), canonicalOrigin(l.Origin)
		users[l.ID] = l
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("load users: %w", err)
	}
	return users, nil
}

// canonical and canonicalOrigin swap a scanned status or origin for the
// constant it equals, so that a hundred thousand users share two strings.
func canonical(s identity.Status) identity.Status {
	for _, c := range []identity.Status{identity.StatusActive, identity.StatusDeprovisioned} {
		if s == c {
			return c
		}
	}
	return s
}

func canonicalOrigin(o identity.Origin) identity.Origin {
	for _, c := range []identity.Origin{identity.OriginCreated, identity.OriginAdopted} {
		if o == c {
			return c
		}
	}
	return o
}

// upsertUser writes l as the user's state. The hash is computed when l
// lacks one.
func upsertUser(ctx context.Context, tx pgx.Tx, l identity.Linked) error {
	if l.ID == "" {
		return fmt.Errorf("link has no directory id")
	}
	raw, err := json.Marshal(pushed{
		DN: l.DN, UserName: l.UserName, DisplayName: l.DisplayName, GivenName: l.GivenName,
		FamilyName: l.FamilyName, Active: l.Active, Attributes: l.Attributes,
	})
	if err != nil {
		return fmt.Errorf("encode pushed values: %w", err)
	}
	hash := l.Hash
	if hash == "" {
		hash = l.User.Hash()
	}
	_, err = tx.Exec(ctx, `
		INSERT INTO users (ldap_id, scim_id, user_name, pushed, content_hash, status, origin, first_missing_at, missing_runs, dn_key, missing_reason)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
		ON CONFLICT (ldap_id) DO UPDATE SET
			scim_id = excluded.scim_id, user_name = excluded.user_name, pushed = excluded.pushed, dn_key = excluded.dn_key,
			content_hash = excluded.content_hash, status = excluded.status, origin = excluded.origin,
			first_missing_at = excluded.first_missing_at, missing_runs = excluded.missing_runs,
			missing_reason = excluded.missing_reason, updated_at = now()`,
		l.ID, l.SCIMID, l.UserName, raw, hash, string(l.Status), string(l.Origin), timestamptz(l.FirstMissingAt), l.MissingRuns, dnKey(l.DN), l.MissingReason)
	if err != nil {
		return classify(err)
	}
	return nil
}

// SetUserDNs records the DNs the directory now gives linked users, by
// directory id: an entry moved or renamed changes nothing syncd sends, so no
// write to Omni records it, but group members are matched by DN.
func (s *Store) SetUserDNs(ctx context.Context, dns map[string]string) error {
	if len(dns) == 0 {
		return nil
	}
	ids := make([]string, 0, len(dns))
	vals := make([]string, 0, len(dns))
	keys := make([]string, 0, len(dns))
	for id, dn := range dns {
		ids, vals, keys = append(ids, id), append(vals, dn), append(keys, dnKey(dn))
	}
	ctx, cancel := withTimeout(ctx, bulkTimeout)
	defer cancel()
	_, err := s.pool.Exec(ctx, `
		UPDATE users SET pushed = jsonb_set(pushed, '{dn}', to_jsonb(v.dn)), dn_key = v.k, updated_at = now()
		FROM unnest($1::text[], $2::text[], $3::text[]) AS v(id, dn, k) WHERE ldap_id = v.id`, ids, vals, keys)
	if err != nil {
		return fmt.Errorf("record moved users: %w", err)
	}
	return nil
}

// MissingMark sets how long a linked user has been missing from the
// directory. A zero FirstMissingAt clears the mark.
type MissingMark struct {
	LDAPID         string
	FirstMissingAt time.Time
	MissingRuns    int
	// Reason says how: not in the directory, or disabled there.
	Reason string
}

// SetMissing applies marks in one statement, so a run records all of them
// or none. Marks for ids that are not linked are ignored.
func (s *Store) SetMissing(ctx context.Context, marks []MissingMark) error {
	return s.setMissing(ctx, "users", marks)
}

// setMissing applies marks to table (users or groups), whose rows are keyed
// by ldap_id.
func (s *Store) setMissing(ctx context.Context, table string, marks []MissingMark) error {
	if len(marks) == 0 {
		return nil
	}
	ids := make([]string, len(marks))
	firsts := make([]pgtype.Timestamptz, len(marks))
	runs := make([]int32, len(marks))
	reasons := make([]string, len(marks))
	for i, m := range marks {
		ids[i], firsts[i], runs[i], reasons[i] = m.LDAPID, timestamptz(m.FirstMissingAt), int32(m.MissingRuns), m.Reason
	}
	ctx, cancel := withTimeout(ctx, queryTimeout)
	defer cancel()
	_, err := s.pool.Exec(ctx, `
		UPDATE `+table+` t SET first_missing_at = m.first_missing_at, missing_runs = m.missing_runs, missing_reason = m.reason, updated_at = now()
		FROM unnest($1::text[], $2::timestamptz[], $3::int[], $4::text[]) AS m(ldap_id, first_missing_at, missing_runs, reason)
		WHERE t.ldap_id = m.ldap_id`,
		ids, firsts, runs, reasons)
	if err != nil {
		return fmt.Errorf("set missing marks of %s: %w", table, err)
	}
	return nil
}

// timestamptz stores the zero time as NULL.
func timestamptz(t time.Time) pgtype.Timestamptz {
	return pgtype.Timestamptz{Time: t, Valid: !t.IsZero()}
}
