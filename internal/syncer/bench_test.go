package syncer_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/syncd-dev/syncd/internal/syncer"
	"github.com/syncd-dev/syncd/internal/testsupport/omnitest"
	"github.com/syncd-dev/syncd/internal/testsupport/world"
)

// The benchmarks' world is the tests' one, apart from the page size, which
// is left at its production default, and the deprovision caps, which no
// benchmark reaches.

// limiterOff is a sink RequestsPerMinute that turns the client's token
// bucket off, so that a run costs only syncd's own work per request.
const limiterOff = -1

// benchRunTimeout bounds one benchmarked run; the slowest, 2,000 creates at
// 10,000 a minute, takes about 12 s.
const benchRunTimeout = 10 * time.Minute

// benchWorld returns a world of users plain OpenLDAP-shaped users, whose
// slapd, loaded offline, is shared by every benchmark of the binary that
// asks for the same size; the stand-in and the store are its own.
func benchWorld(b *testing.B, users int) *world.World {
	b.Helper()
	return world.New(b, world.Options{Seed: 7, Users: users, SharedSlapd: true, SCIMYAML: quickRetries})
}

// benchSyncer builds a Syncer as cmd/syncd does, except that the sink's
// requests per minute is perMinute (limiterOff for none) rather than the
// configuration's, which cannot go above 10,000.
func benchSyncer(b *testing.B, w *world.World, perMinute int) *syncer.Syncer {
	b.Helper()
	return build(b, w.Config, syncer.Wiring{Store: w.Store, RequestsPerMinute: perMinute})
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
			w := benchWorld(b, users)
			omni := w.Omni

			start := time.Now()
			runCreates(b, benchSyncer(b, w, limiterOff), omni, users)
			b.Logf("initial sync of %d users, limiter off: %v", users, time.Since(start).Round(time.Millisecond))

			s := benchSyncer(b, w, w.Config.SCIM.RequestsPerMinute)
			// Every run a whole read, as this benchmark is of those.
			s.Options.FullRead = true
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

// BenchmarkIncrementalNoopRun times the tick of a running daemon when
// nothing changed: a syncrepl refresh from the stored cookie, only the
// users it names loaded, no request. Connections are warm, as in the
// daemon; make bench times the same run in a fresh process, which pays for
// its connections too.
func BenchmarkIncrementalNoopRun(b *testing.B) {
	const users = 10_000
	// With a session log, as the README recommends: without one, slapd
	// answers every refresh with the ids of every entry still present.
	w := world.New(b, world.Options{Seed: 7, Users: users, SharedSlapd: true, SCIMYAML: quickRetries, SyncprovSessionlog: 2 * users})
	w.Config.LDAP.Incremental = "syncrepl"
	runCreates(b, benchSyncer(b, w, limiterOff), w.Omni, users)
	s := benchSyncer(b, w, w.Config.SCIM.RequestsPerMinute)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		before := w.Omni.Stats().Total
		rep, err := s.Run(ctx)
		if err != nil {
			b.Fatalf("no-op run: %v", err)
		}
		if n := w.Omni.Stats().Total - before; n != 0 || !rep.Incremental || rep.Plan.Changes() {
			b.Fatalf("no-op run: incremental %t, %d SCIM requests", rep.Incremental, n)
		}
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
			b.ReportAllocs()
			for b.Loop() {
				b.StopTimer()
				w := benchWorld(b, users)
				s := benchSyncer(b, w, bc.perMinute)
				b.StartTimer()
				runCreates(b, s, w.Omni, users)
			}
			creates := float64(users * b.N)
			b.ReportMetric(creates/b.Elapsed().Seconds(), "creates/s")
			b.ReportMetric(b.Elapsed().Seconds()*1000/creates, "ms/create")
		})
	}
}
