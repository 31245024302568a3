package state

import (
	"fmt"
	"testing"

	"github.com/syncd-dev/syncd/internal/identity"
)

// BenchmarkLoadUsers loads 100,000 linked users, about the largest directory
// syncd is meant for.
func BenchmarkLoadUsers(b *testing.B) {
	const n = 100_000
	ctx := testContext(b)
	s := newStore(b)
	// Filled in one statement: the benchmark measures loading, not linking.
	_, err := s.pool.Exec(ctx, `
		INSERT INTO users (ldap_id, scim_id, user_name, pushed, content_hash, status, origin, first_missing_at, missing_runs)
		SELECT 'uuid-' || i, 'omni-' || i, 'user' || i || '@example.org',
			jsonb_build_object(
				'dn', 'uid=user' || i || ',ou=people,dc=example,dc=org',
				'userName', 'user' || i || '@example.org', 'displayName', 'User Number ' || i,
				'givenName', 'User', 'familyName', 'Number ' || i, 'active', true,
				'attributes', jsonb_build_object('department', 'Dept ' || (i % 50), 'costCenter', (i % 700)::text, 'title', 'Engineer')),
			md5(i::text), CASE WHEN i % 20 = 0 THEN 'deprovisioned' ELSE 'active' END, 'created',
			CASE WHEN i % 100 = 0 THEN now() END, CASE WHEN i % 100 = 0 THEN 1 ELSE 0 END
		FROM generate_series(1, $1) AS i`, n)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		users, err := s.LoadUsers(ctx)
		if err != nil {
			b.Fatal(err)
		}
		if len(users) != n {
			b.Fatalf("loaded %d users, want %d", len(users), n)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/n, "ns/user")
}

// BenchmarkCompleteOp journals and completes one write per iteration, as a
// run does for each create: BeginOp, then CompleteOp with the user and its
// audit event.
func BenchmarkCompleteOp(b *testing.B) {
	ctx := testContext(b)
	s := newStore(b)
	run := mustRun(b, s)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		l := identity.Linked{
			User: identity.User{
				ID: fmt.Sprintf("uuid-%d", i), UserName: fmt.Sprintf("user%d@example.org", i), DisplayName: "User",
				Active: true, Attributes: map[string]string{"department": "Engines"},
			},
			SCIMID: fmt.Sprintf("omni-%d", i), Status: identity.StatusActive, Origin: identity.OriginCreated,
		}
		op, err := s.BeginOp(ctx, Op{RunID: run, Kind: "create", LDAPID: l.ID, UserName: l.UserName})
		if err != nil {
			b.Fatal(err)
		}
		op.Status, op.HTTPStatus, op.SCIMID = OpDone, 201, l.SCIMID
		ev := AuditEvent{Action: "create", Outcome: "done", Changes: map[string]Change{"displayName": {After: "User"}}}
		if err := s.CompleteOp(ctx, op, &l, ev); err != nil {
			b.Fatal(err)
		}
	}
}
