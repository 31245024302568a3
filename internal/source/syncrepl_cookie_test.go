package source

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"
	"github.com/rs/zerolog"

	"github.com/syncd-dev/syncd/internal/testsupport/dirgen"
	"github.com/syncd-dev/syncd/internal/testsupport/slapdtest"
)

// sealed is server's cookie as ReadSyncrepl would return it from d.
func sealed(d *Directory, server string) []byte {
	key := d.userSync().key
	return sealCookie(key, []byte(server))
}

// TestReadSyncreplBadCookie: a cookie the server cannot resume from must
// come back as FullReadNeeded or as an error, never as a delta that misses
// a change: OpenLDAP answers a cookie it cannot parse with its whole content
// as adds and no word of deletes, which must not pass for a delta.
func TestReadSyncreplBadCookie(t *testing.T) {
	s := newSyncDir(t, slapdtest.Options{SyncprovSessionlog: 100})
	good := s.sync(t, nil).Cookie
	key := s.d.userSync().key
	server, why := openCookie(good, key)
	if why != "" {
		t.Fatalf("the cookie ReadSyncrepl returned does not open: %s", why)
	}
	// A change after the cookie, so that a cookie taken for "nothing
	// changed" shows.
	s.write(t, func(c *ldap.Conn) error {
		m := ldap.NewModifyRequest(s.dn("p1"), nil)
		m.Replace("displayName", []string{"Changed"})
		return c.Modify(m)
	})
	otherFilter := s.cfg
	otherFilter.Filter = "(objectClass=inetOrgPerson)"

	for _, tt := range []struct {
		name   string
		d      *Directory
		cookie []byte
		// full: the server may also answer with its whole content and a
		// present phase, which is as good as a full read.
		full bool
	}{
		{"not ours", s.d, []byte("rid=000,csn=20000101000000.000000Z#000000#000#000000"), false},
		{"another version", s.d, []byte("syncd-syncrepl-v0:" + string(good[len(cookiePrefix):])), false},
		{"sealed garbage", s.d, sealed(s.d, "not a cookie at all"), false},
		{"sealed binary", s.d, sealed(s.d, "\x00\xff\x10garbage"), false},
		{"from the future", s.d, sealed(s.d, strings.Replace(string(server), "csn=20", "csn=29", 1)), false},
		{"from another server", s.d, sealed(s.d, strings.Replace(string(server), "#000#", "#07b#", 1)), true},
		{"another search", newDirectory(t, otherFilter, zerolog.Nop()), good, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			delta, err := tt.d.ReadSyncrepl(ctx, tt.cookie)
			if err != nil {
				t.Logf("error: %v", err)
				return
			}
			t.Logf("delta: %d entries, %d users, present phase %v (%d), full read needed %v, incomplete %q",
				delta.Entries, len(delta.Users), delta.PresentPhase, len(delta.Present), delta.FullReadNeeded, delta.Incomplete)
			if delta.FullReadNeeded {
				if len(delta.Users) != 0 || len(delta.Cookie) != 0 {
					t.Errorf("FullReadNeeded with %d users and cookie %q, want neither", len(delta.Users), delta.Cookie)
				}
				return
			}
			if !tt.full || !delta.PresentPhase || len(delta.Users) != len(s.initial) || len(delta.Present) != len(s.initial)+1 {
				t.Errorf("%d users, present phase %v with %d ids; want FullReadNeeded or an error",
					len(delta.Users), delta.PresentPhase, len(delta.Present))
			}
		})
	}
	t.Run("other replica id", func(t *testing.T) {
		// The rid names the consumer, not the server's state: the
		// cookie still holds and the change must come back.
		delta := s.sync(t, sealed(s.d, strings.Replace(string(server), "rid=000", "rid=999", 1)))
		if delta.FullReadNeeded {
			return
		}
		if got := userNames(delta); len(got) != 1 || got[0] != "p1" {
			t.Errorf("users %v, want p1", got)
		}
	})
	t.Run("good cookie", func(t *testing.T) {
		delta := s.sync(t, good)
		if got := userNames(delta); delta.FullReadNeeded || len(got) != 1 || got[0] != "p1" {
			t.Errorf("users %v, full read needed %v; want p1", got, delta.FullReadNeeded)
		}
	})
}

// TestReadSyncreplRestart: the session log lives in memory, so after a
// restart the old cookie must still give the right answer (through a
// present phase), or FullReadNeeded; never a delta that misses a change.
func TestReadSyncreplRestart(t *testing.T) {
	s := newSyncDir(t, slapdtest.Options{SyncprovSessionlog: 100})
	first := s.sync(t, nil)
	known := map[string]bool{}
	apply(known, first)
	ids := map[string]string{}
	for _, u := range first.Users {
		ids[u.UserName] = u.ID
	}

	// Changes both before and after the restart: the first are in the
	// lost session log only, the second in none.
	s.write(t, func(c *ldap.Conn) error { return c.Del(ldap.NewDelRequest(s.dn("p1"), nil)) })
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := s.srv.Restart(ctx); err != nil {
		t.Fatalf("restart: %v", err)
	}
	s.write(t, func(c *ldap.Conn) error {
		m := ldap.NewModifyRequest(s.dn("p2"), nil)
		m.Replace("displayName", []string{"After Restart"})
		if err := c.Modify(m); err != nil {
			return err
		}
		return c.Del(ldap.NewDelRequest(s.dn("p3"), nil))
	})

	delta := s.sync(t, first.Cookie)
	if delta.FullReadNeeded {
		return
	}
	if delta.Incomplete != "" {
		t.Fatalf("incomplete: %s", delta.Incomplete)
	}
	if got := userNames(delta); len(got) != 1 || got[0] != "p2" || delta.Users[0].DisplayName != "After Restart" {
		t.Errorf("users %v, want p2 renamed", got)
	}
	gone := apply(known, delta)
	want := []string{ids["p1@corp.example.com"], ids["p3@corp.example.com"]}
	if fmt.Sprint(gone) != fmt.Sprint(sortedUnique(want)) {
		t.Errorf("gone %v, want p1 and p3 %v", gone, want)
	}
	if full := s.fullIDs(t); !maps.Equal(known, full) {
		t.Errorf("after the delta the caller knows %v, a full read gives %v", known, full)
	}
	// And the new cookie works on from there.
	if again := s.sync(t, delta.Cookie); again.FullReadNeeded || len(again.Users) != 0 || len(apply(known, again)) != 0 {
		t.Errorf("a refresh right after: %d users, full read needed %v; want nothing", len(again.Users), again.FullReadNeeded)
	}
}

// TestReadSyncreplSizeLimit: a refresh cut by the server's size limit is
// incomplete and keeps the old cookie; a partial present set must not make
// the unsent entries look deleted.
func TestReadSyncreplSizeLimit(t *testing.T) {
	const suffix = slapdtest.DefaultSuffix
	s := newSyncDir(t, slapdtest.Options{
		Config: fmt.Sprintf("limits dn.exact=%q size=3", bindDN(suffix)),
	})
	for _, cookie := range [][]byte{nil, sealed(s.d, "rid=000,csn=20000101000000.000000Z#000000#000#000000")} {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		delta, err := s.d.ReadSyncrepl(ctx, cookie)
		cancel()
		if err != nil {
			t.Fatalf("ReadSyncrepl(%q): %v", cookie, err)
		}
		t.Logf("cookie %q: incomplete %q", cookie, delta.Incomplete)
		if !strings.HasPrefix(delta.Incomplete, "size limit exceeded") {
			t.Errorf("cookie %q: Incomplete = %q, want size limit exceeded", cookie, delta.Incomplete)
		}
		if delta.PresentPhase || len(delta.Present) != 0 || len(delta.Deleted) != 0 || string(delta.Cookie) != string(cookie) {
			t.Errorf("cookie %q: present phase %v (%d), deleted %v, cookie %q; want none of them and the old cookie",
				cookie, delta.PresentPhase, len(delta.Present), delta.Deleted, delta.Cookie)
		}
		if len(delta.Users)+len(delta.Skipped) > 3 {
			t.Errorf("cookie %q: %d users and %d skipped past a limit of 3", cookie, len(delta.Users), len(delta.Skipped))
		}
	}
}

// TestSyncreplSupported: the rules that keep syncrepl to configurations it
// can serve, reported alike by SyncreplSupported and ReadSyncrepl.
func TestSyncreplSupported(t *testing.T) {
	const suffix = slapdtest.DefaultSuffix
	srv := slapdtest.Shared(t, "small", func() slapdtest.Options {
		return slapdtest.Options{LDIF: []byte(accountLDIF(bindDN(suffix), bindPassword))}
	})
	for _, tt := range []struct {
		name   string
		change func(*Config)
		ok     bool
		reason string
	}{
		{"one base DN", func(*Config) {}, true, "offers content synchronisation"},
		{"two base DNs", func(c *Config) { c.BaseDNs = []string{"ou=a," + suffix, "ou=b," + suffix} }, false, "exactly one users base DN"},
		{"id is not entryUUID", func(c *Config) { c.Attributes.ID = "uid" }, false, "must be entryUUID"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg := baseConfig(srv, dirgen.OpenLDAP, suffix)
			tt.change(&cfg)
			d := newDirectory(t, cfg, zerolog.Nop())
			ok, reason := d.SyncreplSupported(context.Background())
			t.Logf("%v: %s", ok, reason)
			if ok != tt.ok || !strings.Contains(reason, tt.reason) {
				t.Errorf("SyncreplSupported = %v, %q; want %v, %q", ok, reason, tt.ok, tt.reason)
			}
			_, err := d.ReadSyncrepl(context.Background(), nil)
			if tt.ok && err != nil {
				t.Errorf("ReadSyncrepl: %v", err)
			}
			if !tt.ok && (!errors.Is(err, ErrSyncreplUnsupported) || !strings.Contains(err.Error(), tt.reason)) {
				t.Errorf("ReadSyncrepl error %v, want ErrSyncreplUnsupported saying %q", err, tt.reason)
			}
		})
	}
}
