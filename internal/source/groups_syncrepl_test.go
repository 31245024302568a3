package source

import (
	"context"
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/go-ldap/ldap/v3"
	"github.com/rs/zerolog"

	"github.com/syncd-dev/syncd/internal/testsupport/dirgen"
)

// The groups read as they change: an initial refresh gives every group
// entry, which flattened is what a full read gives; after it, only the
// group entries changed, or the ids of those deleted.
func TestReadGroupChanges(t *testing.T) {
	dir := dirgen.Generate(dirgen.Options{Seed: 5, Users: 30, Groups: 5, GroupClass: dirgen.GroupOfNames, GroupCycle: true})
	srv := groupServer(t, dir, "", "")
	cfg := groupConfig(srv, dir, true)
	cfg.Groups.IDAttribute = "entryUUID"
	d := newDirectory(t, cfg, zerolog.Nop())
	if p := d.GroupChangesProblem(IncrementalSyncrepl); p != "" {
		t.Fatalf("GroupChangesProblem: %s", p)
	}
	ctx := context.Background()
	changes := func(cookie []byte) (*Delta, []byte) {
		t.Helper()
		delta, next, err := d.ReadGroupChanges(ctx, IncrementalSyncrepl, cookie)
		if err != nil || delta.Incomplete != "" || delta.FullReadNeeded {
			t.Fatalf("ReadGroupChanges: %v (%+v)", err, delta)
		}
		return delta, next
	}
	first, cookie := changes(nil)
	if len(first.Groups) != len(dir.Groups) || !first.PresentPhase || len(first.Users) != 0 {
		t.Fatalf("initial refresh: %d group entries of %d, present phase %t", len(first.Groups), len(dir.Groups), first.PresentPhase)
	}
	groups, skipped := FlattenGroups(first.Groups, true)
	full := readGroups(t, d)
	if !reflect.DeepEqual(groups, full.Groups) || !reflect.DeepEqual(skipped, full.Skipped) {
		t.Errorf("the initial refresh flattened differs from a full read:\n%+v\n%+v", groups, full.Groups)
	}

	if delta, next := changes(cookie); len(delta.Groups)+len(delta.Deleted) != 0 || !slices.Equal(next, cookie) {
		t.Errorf("nothing changed: %d groups, deleted %v, cookie moved %t", len(delta.Groups), delta.Deleted, !slices.Equal(next, cookie))
	}
	conn, err := srv.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	g, newcomer := dir.Groups[2], dir.Users[0]
	m := ldap.NewModifyRequest(g.DN, nil)
	m.Replace("member", []string{newcomer.DN})
	if err := conn.Modify(m); err != nil {
		t.Fatal(err)
	}
	delta, cookie := changes(cookie)
	if len(delta.Groups) != 1 || delta.Groups[0].Group.Name != g.Name || !slices.Equal(normalized(delta.Groups[0].Group.MemberDNs), normalized([]string{newcomer.DN})) {
		t.Fatalf("a member change gave %+v", delta.Groups)
	}
	changedID := delta.Groups[0].Group.ID
	if err := conn.Del(ldap.NewDelRequest(g.DN, nil)); err != nil {
		t.Fatal(err)
	}
	delta, _ = changes(cookie)
	gone := slices.Contains(delta.Deleted, changedID) || delta.PresentPhase && !slices.Contains(delta.Present, changedID)
	if len(delta.Groups) != 0 || !gone {
		t.Errorf("a deletion gave %d groups, deleted %v, present phase %t", len(delta.Groups), delta.Deleted, delta.PresentPhase)
	}
}

// The groups are read as they change only where a cookie can say so.
func TestGroupChangesProblem(t *testing.T) {
	dir := dirgen.Generate(dirgen.Options{Seed: 5, Users: 3, Groups: 1})
	srv := groupServer(t, dir, "", "")
	for _, tt := range []struct {
		name, mech, want string
		change           func(*Config)
	}{
		{"usn", IncrementalUSN, "only syncrepl", nil},
		{"two base DNs", IncrementalSyncrepl, "exactly one groups base DN", func(c *Config) { c.Groups.BaseDNs = append(c.Groups.BaseDNs, "ou=more,"+dir.Options.Suffix) }},
		{"another id", IncrementalSyncrepl, "ldap.groups.idAttribute must be entryUUID", func(c *Config) { c.Groups.IDAttribute = "cn" }},
		{"memberUid", IncrementalSyncrepl, "memberUid", func(c *Config) {
			c.Groups.MemberAttribute, c.Groups.IDAttribute = MemberAttributeMemberUID, "entryUUID"
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg := groupConfig(srv, dir, true)
			cfg.Groups.IDAttribute = "entryUUID"
			if tt.change != nil {
				tt.change(&cfg)
			}
			d := newDirectory(t, cfg, zerolog.Nop())
			if p := d.GroupChangesProblem(tt.mech); !strings.Contains(p, tt.want) {
				t.Errorf("problem %q, want %q", p, tt.want)
			}
			if _, _, err := d.ReadGroupChanges(context.Background(), tt.mech, nil); !errors.Is(err, ErrSyncreplUnsupported) {
				t.Errorf("ReadGroupChanges: %v", err)
			}
		})
	}
}
