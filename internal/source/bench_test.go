package source

import (
	"context"
	"testing"

	"github.com/go-ldap/ldap/v3"
	"github.com/rs/zerolog"

	"github.com/syncd-dev/syncd/internal/testsupport/dirgen"
	"github.com/syncd-dev/syncd/internal/testsupport/slapdtest"
)

// BenchmarkRead reads 100,000 OpenLDAP-shaped users, loaded offline, over a
// real slapd: dial, bind, paged search, mapping and the final sort.
func BenchmarkRead(b *testing.B) {
	const users = 100_000
	dir := dirgen.Generate(dirgen.Options{Seed: 1, Users: users, Shape: dirgen.OpenLDAP})
	srv := slapdtest.Shared(b, "bench-100k", func() slapdtest.Options {
		return slapdtest.Options{Suffix: dir.Options.Suffix, LDIF: withAccount(dir.Options.Suffix, dir.LDIF())}
	})
	cfg := baseConfig(srv, dirgen.OpenLDAP, dir.PeopleDN)
	cfg.PageSize = 1000
	d, err := New(cfg, zerolog.Nop())
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		res, err := d.Read(ctx)
		if err != nil {
			b.Fatal(err)
		}
		if res.Incomplete != "" || len(res.Users) != users {
			b.Fatalf("read %d users (incomplete %q), want %d", len(res.Users), res.Incomplete, users)
		}
		n++
	}
	b.ReportMetric(float64(n*users)/b.Elapsed().Seconds(), "users/s")
}

// BenchmarkMap is the mapping share of BenchmarkRead, without the network.
func BenchmarkMap(b *testing.B) {
	m := NewMapper(openLDAPConfig())
	e := ldap.NewEntry("uid=alice.adams,ou=people,dc=corp,dc=example,dc=com", map[string][]string{
		"entryUUID":        {"1b0c9e4e-7d3c-4a8e-9f00-0123456789ab"},
		"mail":             {"Alice.Adams@corp.example.com"},
		"displayName":      {"Alice Adams"},
		"givenName":        {"Alice"},
		"sn":               {"Adams"},
		"departmentNumber": {"Sales"},
	})
	b.ReportAllocs()
	for b.Loop() {
		if _, s := m.Map(e); s != nil {
			b.Fatal(s)
		}
	}
}
