package source

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"
	"github.com/rs/zerolog"

	"github.com/syncd-dev/syncd/internal/testsupport/dirgen"
	"github.com/syncd-dev/syncd/internal/testsupport/slapdtest"
)

// syncFilter leaves out entries marked as gone, so that a modify can take an
// entry out of scope without moving it.
const syncFilter = "(&(objectClass=inetOrgPerson)(!(description=left)))"

// syncDir is a small directory for syncrepl: people under the base DN, an
// OU outside it to move entries to, and one entry that maps to a skip.
type syncDir struct {
	srv     *slapdtest.Server
	people  string
	former  string
	cfg     Config
	d       *Directory
	initial []string // uids loaded at start
}

func newSyncDir(t *testing.T, opts slapdtest.Options) *syncDir {
	t.Helper()
	const suffix = slapdtest.DefaultSuffix
	s := &syncDir{people: "ou=people," + suffix, former: "ou=former," + suffix}
	var b strings.Builder
	b.WriteString(accountLDIF(bindDN(suffix), bindPassword))
	for _, ou := range []string{s.people, s.former} {
		name := strings.TrimPrefix(strings.SplitN(ou, ",", 2)[0], "ou=")
		fmt.Fprintf(&b, "dn: %s\nobjectClass: organizationalUnit\nou: %s\n\n", ou, name)
	}
	for i := 1; i <= 6; i++ {
		uid := fmt.Sprintf("p%d", i)
		s.initial = append(s.initial, uid)
		b.WriteString(personLDIF("uid="+uid+","+s.people, uid))
	}
	fmt.Fprintf(&b, "dn: uid=badmail,%s\nobjectClass: inetOrgPerson\nuid: badmail\ncn: badmail\nsn: badmail\nmail: not an email\n\n", s.people)
	opts.LDIF = []byte(b.String())
	s.srv = slapdtest.New(t, opts)
	s.cfg = baseConfig(s.srv, dirgen.OpenLDAP, s.people)
	s.cfg.Filter = syncFilter
	s.d = newDirectory(t, s.cfg, zerolog.Nop())
	return s
}

func (s *syncDir) sync(t *testing.T, cookie []byte) *Delta {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	delta, err := s.d.ReadSyncrepl(ctx, cookie)
	if err != nil {
		t.Fatalf("ReadSyncrepl: %v", err)
	}
	t.Logf("delta: %d entries, %d users, %d skipped, deleted %v, present phase %v (%d present), full read needed %v, incomplete %q",
		delta.Entries, len(delta.Users), len(delta.Skipped), delta.Deleted, delta.PresentPhase, len(delta.Present), delta.FullReadNeeded, delta.Incomplete)
	return delta
}

// write runs one change as the root DN; slapd has applied it when the
// request returns, so the next refresh sees it.
func (s *syncDir) write(t *testing.T, do func(*ldap.Conn) error) {
	t.Helper()
	conn, err := s.srv.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := do(conn); err != nil {
		t.Fatal(err)
	}
}

func (s *syncDir) dn(uid string) string { return "uid=" + uid + "," + s.people }

// fullIDs is what a full read says is in scope: mapped and skipped ids.
func (s *syncDir) fullIDs(t *testing.T) map[string]bool {
	t.Helper()
	res := read(t, s.d)
	ids := map[string]bool{}
	for _, u := range res.Users {
		ids[u.ID] = true
	}
	for _, sk := range res.Skipped {
		ids[sk.ID] = true
	}
	return ids
}

// apply is what a caller does with a delta: it drops what is gone and adds
// what changed, and returns what it dropped.
func apply(known map[string]bool, d *Delta) []string {
	var gone []string
	for _, id := range d.Deleted {
		if known[id] {
			gone = append(gone, id)
		}
		delete(known, id)
	}
	if d.PresentPhase {
		present := map[string]bool{}
		for _, id := range d.Present {
			present[id] = true
		}
		for id := range known {
			if !present[id] {
				gone = append(gone, id)
				delete(known, id)
			}
		}
	}
	for _, u := range d.Users {
		known[u.ID] = true
	}
	for _, sk := range d.Skipped {
		known[sk.ID] = true
	}
	slices.Sort(gone)
	return gone
}

func userNames(d *Delta) []string {
	var out []string
	for _, u := range d.Users {
		out = append(out, strings.TrimSuffix(u.UserName, "@corp.example.com"))
	}
	slices.Sort(out)
	return out
}

// TestReadSyncrepl follows a directory through changes, with and without a
// session log: with one, slapd can answer a refresh with deletes; without,
// it falls back to a present phase. Either way, applying each delta to what
// was known must give what a full read gives, and only the changed entries
// may come back as users.
func TestReadSyncrepl(t *testing.T) {
	for _, tt := range []struct {
		name       string
		sessionlog int
	}{
		{"sessionlog", 100},
		{"present phase", 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := newSyncDir(t, slapdtest.Options{SyncprovSessionlog: tt.sessionlog})

			first := s.sync(t, nil)
			if got := userNames(first); !slices.Equal(got, s.initial) {
				t.Fatalf("initial refresh: users %v, want %v", got, s.initial)
			}
			if len(first.Skipped) != 1 || first.Entries != len(s.initial)+1 {
				t.Errorf("initial refresh: %d skipped of %d entries, want 1 of %d", len(first.Skipped), first.Entries, len(s.initial)+1)
			}
			if !first.PresentPhase || len(first.Present) != len(s.initial)+1 || len(first.Cookie) == 0 || first.FullReadNeeded || first.Incomplete != "" {
				t.Fatalf("initial refresh: present phase %v with %d ids, cookie %q, full read needed %v, incomplete %q; want a complete present phase of %d ids with a cookie",
					first.PresentPhase, len(first.Present), first.Cookie, first.FullReadNeeded, first.Incomplete, len(s.initial)+1)
			}
			known := map[string]bool{}
			apply(known, first)
			if full := s.fullIDs(t); !maps.Equal(known, full) {
				t.Fatalf("initial refresh knows %v, full read %v", known, full)
			}
			idOf := map[string]string{}
			for _, u := range first.Users {
				idOf[strings.TrimSuffix(u.UserName, "@corp.example.com")] = u.ID
			}

			cookie := first.Cookie
			steps := []struct {
				name      string
				change    func(*ldap.Conn) error
				wantUsers []string // uids
				wantGone  []string // uids
			}{
				{"no change", func(*ldap.Conn) error { return nil }, nil, nil},
				{"modify", func(c *ldap.Conn) error {
					m := ldap.NewModifyRequest(s.dn("p1"), nil)
					m.Replace("displayName", []string{"Renamed One"})
					return c.Modify(m)
				}, []string{"p1"}, nil},
				{"add", func(c *ldap.Conn) error {
					a := ldap.NewAddRequest(s.dn("p7"), nil)
					a.Attribute("objectClass", []string{"inetOrgPerson"})
					for _, attr := range []string{"uid", "cn", "sn"} {
						a.Attribute(attr, []string{"p7"})
					}
					a.Attribute("mail", []string{"p7@corp.example.com"})
					return c.Add(a)
				}, []string{"p7"}, nil},
				{"delete", func(c *ldap.Conn) error {
					return c.Del(ldap.NewDelRequest(s.dn("p2"), nil))
				}, nil, []string{"p2"}},
				{"moved out of the base DN", func(c *ldap.Conn) error {
					return c.ModifyDN(ldap.NewModifyDNRequest(s.dn("p3"), "uid=p3", true, s.former))
				}, nil, []string{"p3"}},
				{"no longer matches the filter", func(c *ldap.Conn) error {
					m := ldap.NewModifyRequest(s.dn("p4"), nil)
					m.Replace("description", []string{"left"})
					return c.Modify(m)
				}, nil, []string{"p4"}},
				{"modify and delete", func(c *ldap.Conn) error {
					m := ldap.NewModifyRequest(s.dn("p5"), nil)
					m.Replace("displayName", []string{"Renamed Five"})
					if err := c.Modify(m); err != nil {
						return err
					}
					return c.Del(ldap.NewDelRequest(s.dn("p6"), nil))
				}, []string{"p5"}, []string{"p6"}},
			}
			for _, st := range steps {
				s.write(t, st.change)
				delta := s.sync(t, cookie)
				if delta.FullReadNeeded || delta.Incomplete != "" || len(delta.Cookie) == 0 {
					t.Fatalf("%s: cookie %q, full read needed %v, incomplete %q; want a complete delta with a cookie", st.name, delta.Cookie, delta.FullReadNeeded, delta.Incomplete)
				}
				if got := userNames(delta); !slices.Equal(got, st.wantUsers) {
					t.Errorf("%s: users %v, want %v", st.name, got, st.wantUsers)
				}
				if len(delta.Skipped) != 0 {
					t.Errorf("%s: skipped %+v, want none (the bad entry did not change)", st.name, delta.Skipped)
				}
				if p7 := slices.Index(userNames(delta), "p7"); p7 >= 0 {
					idOf["p7"] = delta.Users[p7].ID
				}
				var wantGone []string
				for _, uid := range st.wantGone {
					wantGone = append(wantGone, idOf[uid])
				}
				slices.Sort(wantGone)
				// How the server says it, which the session log decides.
				if len(st.wantGone) > 0 {
					if tt.sessionlog > 0 && (delta.PresentPhase || len(delta.Deleted) != len(st.wantGone)) {
						t.Errorf("%s: deleted %v, present phase %v; with a session log want the deletes named", st.name, delta.Deleted, delta.PresentPhase)
					}
					if tt.sessionlog == 0 && (!delta.PresentPhase || len(delta.Deleted) != 0) {
						t.Errorf("%s: deleted %v, present phase %v; without a session log want a present phase", st.name, delta.Deleted, delta.PresentPhase)
					}
				}
				if gone := apply(known, delta); !slices.Equal(gone, wantGone) {
					t.Errorf("%s: gone %v, want %v (%v)", st.name, gone, wantGone, st.wantGone)
				}
				if full := s.fullIDs(t); !maps.Equal(known, full) {
					t.Errorf("%s: after the delta the caller knows %v, a full read gives %v", st.name, known, full)
				}
				cookie = delta.Cookie
			}
		})
	}
}
