package syncer_test

import (
	"context"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/syncd-dev/syncd/internal/config"
	"github.com/syncd-dev/syncd/internal/state"
	"github.com/syncd-dev/syncd/internal/syncer"
	"github.com/syncd-dev/syncd/internal/testsupport/dirgen"
	"github.com/syncd-dev/syncd/internal/testsupport/omnitest"
	"github.com/syncd-dev/syncd/internal/testsupport/pgtest"
	"github.com/syncd-dev/syncd/internal/testsupport/slapdtest"
)

// The benchmarks build their world themselves rather than through newEnv,
// which is tied to *testing.T; the configuration is the same apart from the
// page size, which is left at its production default.

// limiterOff is a sink RequestsPerMinute that turns the client's token
// bucket off, so that a run costs only syncd's own work per request.
const limiterOff = -1

// benchRunTimeout bounds one benchmarked run; the slowest, 2,000 creates at
// 10,000 a minute, takes about 12 s.
const benchRunTimeout = 10 * time.Minute

// benchDirectory returns a slapd holding users plain OpenLDAP-shaped users,
// loaded offline and shared by every benchmark of the binary that asks for
// the same size, and the directory it holds.
func benchDirectory(b *testing.B, users int) (*slapdtest.Server, *dirgen.Directory) {
	b.Helper()
	dir := dirgen.Generate(dirgen.Options{Seed: 7, Users: users, Shape: dirgen.OpenLDAP, Suffix: suffix})
	srv := slapdtest.Shared(b, "bench-"+strconv.Itoa(users), func() slapdtest.Options {
		return slapdtest.Options{Suffix: suffix, LDIF: dir.LDIF()}
	})
	return srv, dir
}

// benchConfig is syncd's configuration for a benchmark: the test
// configuration, with the production page size and the highest request
// rate the configuration allows.
func benchConfig(b *testing.B, srv *slapdtest.Server, dir *dirgen.Directory, scimURL string) *config.Config {
	b.Helper()
	yml := fmt.Sprintf(`ldap:
  url: %s
  bindDN: %q
  bindPassword: ${BIND_PASSWORD}
  flavor: openldap
  users:
    baseDNs: [%q]
    filter: "(objectClass=inetOrgPerson)"
  omniAttributes:
    department: departmentNumber
scim:
  url: %s
  token: ${SCIM_TOKEN}
  requestsPerMinute: 10000
  maxAttempts: 3
  timeout: 5s
  maxElapsed: 30s
`, srv.URL, srv.RootDN, dir.PeopleDN, scimURL)
	secrets := map[string]string{"BIND_PASSWORD": srv.RootPassword, "SCIM_TOKEN": token}
	cfg, err := config.Parse([]byte(yml), func(k string) string { return secrets[k] })
	if err != nil {
		b.Fatalf("benchmark configuration: %v", err)
	}
	if err := cfg.Validate(); err != nil {
		b.Fatalf("benchmark configuration: %v", err)
	}
	return cfg
}

// benchStore returns a migrated store on a fresh database.
func benchStore(b *testing.B) *state.Store {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	st, err := state.Open(ctx, pgtest.NewDatabase(b))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(st.Close)
	if _, err := st.Migrate(ctx); err != nil {
		b.Fatal(err)
	}
	return st
}

// benchSyncer builds a Syncer as cmd/syncd does, except that the sink's
// requests per minute is perMinute (limiterOff for none) rather than the
// configuration's, which cannot go above 10,000.
func benchSyncer(b *testing.B, cfg *config.Config, st *state.Store, perMinute int) *syncer.Syncer {
	b.Helper()
	s, err := syncer.Build(cfg, syncer.Wiring{Log: zerolog.Nop(), Store: st, RequestsPerMinute: perMinute})
	if err != nil {
		b.Fatal(err)
	}
	return s
}

// runCreates runs s once and fails unless it created exactly want users
// with one request each.
func runCreates(b *testing.B, s *syncer.Syncer, omni *omnitest.Server, want int) {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), benchRunTimeout)
	defer cancel()
	before := omni.Stats().Total
	rep, err := s.Run(ctx)
	if err != nil {
		b.Fatalf("sync: %v", err)
	}
	if n := omni.Stats().Total - before; rep.Counts.Created != want || n != want {
		b.Fatalf("sync created %d users with %d requests, want %d with one each", rep.Counts.Created, n, want)
	}
}

// BenchmarkNoopRun times the run syncd makes on most ticks: a whole
// directory read, state loaded, a plan with nothing in it, and no SCIM
// request at all. The state is brought in line beforehand by a real initial
// sync with the client's limiter off against a stand-in without a limit,
// which is what it would take 10 minutes at the configuration's maximum
// rate to do.
func BenchmarkNoopRun(b *testing.B) {
	for _, users := range []int{10_000, 100_000} {
		b.Run(fmt.Sprintf("users=%d", users), func(b *testing.B) {
			srv, dir := benchDirectory(b, users)
			omni, scimURL := omnitest.Start(b, omnitest.Options{Token: token})
			cfg := benchConfig(b, srv, dir, scimURL)
			st := benchStore(b)

			start := time.Now()
			runCreates(b, benchSyncer(b, cfg, st, limiterOff), omni, users)
			b.Logf("initial sync of %d users, limiter off: %v", users, time.Since(start).Round(time.Millisecond))

			s := benchSyncer(b, cfg, st, cfg.SCIM.RequestsPerMinute)
			ctx := context.Background()
			requests := 0
			b.ReportAllocs()
			for b.Loop() {
				rctx, cancel := context.WithTimeout(ctx, benchRunTimeout)
				before := omni.Stats().Total
				rep, err := s.Run(rctx)
				cancel()
				if err != nil {
					b.Fatalf("no-op run: %v", err)
				}
				n := omni.Stats().Total - before
				if n != 0 || rep.Plan.Changes() || rep.Plan.Unchanged != users {
					b.Fatalf("no-op run sent %d SCIM requests; plan: %d creates, %d updates, %d deprovisions, %d unchanged",
						n, len(rep.Plan.Create), len(rep.Plan.Update), len(rep.Plan.Deprovision), rep.Plan.Unchanged)
				}
				requests += n
			}
			b.ReportMetric(float64(users*b.N)/b.Elapsed().Seconds(), "users/s")
			b.ReportMetric(float64(requests)/float64(b.N), "requests/op")
		})
	}
}

// BenchmarkInitialSync creates 2,000 users in an empty Omni: once with the
// client held to 10,000 requests a minute, the configuration's maximum, so
// that the token bucket sets the pace (about 167 creates/s), and once with
// the bucket off, which leaves syncd's own cost per create: journal the
// operation, send it, commit the link and the audit row. The in-process
// stand-in's work is part of the time and the allocations.
func BenchmarkInitialSync(b *testing.B) {
	const users = 2_000
	for _, bc := range []struct {
		name      string
		perMinute int
	}{
		{"limiter=10000rpm", 10_000},
		{"limiter=off", limiterOff},
	} {
		b.Run(bc.name, func(b *testing.B) {
			srv, dir := benchDirectory(b, users)
			b.ReportAllocs()
			for b.Loop() {
				b.StopTimer()
				omni, scimURL := omnitest.Start(b, omnitest.Options{Token: token})
				s := benchSyncer(b, benchConfig(b, srv, dir, scimURL), benchStore(b), bc.perMinute)
				b.StartTimer()
				runCreates(b, s, omni, users)
			}
			creates := float64(users * b.N)
			b.ReportMetric(creates/b.Elapsed().Seconds(), "creates/s")
			b.ReportMetric(b.Elapsed().Seconds()*1000/creates, "ms/create")
		})
	}
}
