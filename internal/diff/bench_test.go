package diff

import (
	"fmt"
	"testing"

	"github.com/syncd-dev/syncd/internal/identity"
)

// BenchmarkPlan plans a 100,000-user directory against 100,000 linked users,
// about the largest directory syncd is meant for, with the churn of a busy
// day: 1% changed, 0.5% gone from the directory, 0.5% new.
func BenchmarkPlan(b *testing.B) {
	const (
		n       = 100_000
		changed = n / 100
		missing = n / 200
		added   = n / 200
	)
	mk := func(i int) identity.User {
		return identity.User{
			ID:          fmt.Sprintf("1b0c9e4e-7d3c-4a8e-9f00-%012d", i),
			DN:          fmt.Sprintf("uid=user%d,ou=people,dc=corp,dc=example,dc=com", i),
			UserName:    fmt.Sprintf("user%d@corp.example.com", i),
			DisplayName: fmt.Sprintf("User Number %d", i),
			GivenName:   "User",
			FamilyName:  fmt.Sprintf("Number %d", i),
			Active:      true,
			Attributes:  map[string]string{"department": fmt.Sprintf("Dept %d", i%50), "costCenter": fmt.Sprint(i % 700)},
		}
	}
	// Users [0, n) are linked; the directory holds [missing, n+added), so
	// the first `missing` are gone and the last `added` are new. The
	// `changed` users after the missing ones moved department.
	known := make(map[string]identity.Linked, n)
	for i := range n {
		u := mk(i)
		known[u.ID] = identity.Linked{User: u, SCIMID: fmt.Sprintf("omni-%d", i), Hash: u.Hash(),
			Status: identity.StatusActive, Origin: identity.OriginCreated}
	}
	desired := make([]identity.User, 0, n)
	for i := missing; i < n+added; i++ {
		u := mk(i)
		if i < missing+changed {
			u.Attributes["department"] = "Dept moved"
		}
		desired = append(desired, u)
	}
	opts := Options{Now: t0, TrustAbsence: true}

	b.ReportAllocs()
	for b.Loop() {
		p := Compute(desired, known, opts)
		if len(p.Create) != added || len(p.Update) != changed || len(p.Deprovision) != missing ||
			p.Unchanged != n-missing-changed {
			b.Fatalf("plan: %d creates, %d updates, %d deprovisions, %d unchanged", len(p.Create), len(p.Update), len(p.Deprovision), p.Unchanged)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/n, "ns/user")
}
