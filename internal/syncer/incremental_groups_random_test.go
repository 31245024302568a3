package syncer_test

import (
	"context"
	"fmt"
	"math/rand"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/go-ldap/ldap/v3"

	"github.com/syncd-dev/syncd/internal/testsupport/omnitest"
)

func (e *env) membersOf(dn string) []string {
	e.t.Helper()
	res, err := e.conn().Search(ldap.NewSearchRequest(dn, ldap.ScopeBaseObject, ldap.NeverDerefAliases, 0, 0, false, "(objectClass=*)", []string{"member"}, nil))
	if err != nil || len(res.Entries) == 0 {
		return nil
	}
	return res.Entries[0].GetAttributeValues("member")
}

func (e *env) holdersOf(dn string) []string {
	e.t.Helper()
	res, err := e.conn().Search(ldap.NewSearchRequest(e.dir.GroupsDN, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 0, 0, false,
		"(member="+ldap.EscapeFilter(dn)+")", []string{"dn"}, nil))
	if err != nil {
		return nil
	}
	var out []string
	for _, en := range res.Entries {
		out = append(out, en.DN)
	}
	return out
}

// Random sequences of directory changes (members added and removed,
// users and groups moved, renamed, disabled, deleted and added, names taken,
// mail broken and fixed), with failing and --full runs among them: after
// each change a run reading only the changes plans what a full read plans.
// SYNCD_RANDOM_SEEDS sets how many sequences run (2 by default).
func TestIncrementalGroupsRandomChanges(t *testing.T) {
	seeds := 2
	if s := os.Getenv("SYNCD_RANDOM_SEEDS"); s != "" {
		seeds, _ = strconv.Atoi(s)
	}
	for seed := range seeds {
		for _, sl := range []int{0, 100} {
			t.Run(fmt.Sprintf("seed=%d/sessionlog=%d", seed, sl), func(t *testing.T) { randomSequence(t, int64(seed), sl) })
		}
	}
}

func randomSequence(t *testing.T, seed int64, sl int) {
	e := newEnv(t, envOptions{users: 30, groups: 6, groupCycle: true, syncGroups: true, sessionlog: sl, before: func(e *env) {
		e.cfg.LDAP.Incremental = "syncrepl"
		e.cfg.Safety.MaxMemberRemovalPercent = 100
		e.cfg.Safety.MaxGroupDeletionsPerRun = 100
		e.cfg.Safety.DeprovisionAfterRuns = 2
		e.cfg.SCIM.GroupDeprovision = "delete"
		e.cfg.Safety.MinSourceFraction = 0.5
	}})
	e.mustRun()
	rng := rand.New(rand.NewSource(seed))
	var users, groups []string
	for _, u := range e.plain(30) {
		users = append(users, u.DN)
	}
	for _, g := range e.dir.Groups {
		groups = append(groups, g.DN)
	}
	more := "ou=more," + e.dir.GroupsDN
	e.addOU(more)
	elsewhere := "ou=elsewhere," + suffix
	e.addOU(elsewhere)
	pick := func(xs []string) string { return xs[rng.Intn(len(xs))] }
	n := 0
	for step := 0; step < 30; step++ {
		n++
		var desc string
		func() {
			defer func() {
				if r := recover(); r != nil {
					desc += fmt.Sprintf(" (failed: %v)", r)
				}
			}()
			switch op := rng.Intn(14); op {
			case 12:
				i := rng.Intn(len(users))
				rdn := users[i][:strings.Index(users[i], ",")]
				desc = "move user out of scope " + users[i]
				if err := e.conn().ModifyDN(ldap.NewModifyDNRequest(users[i], rdn, true, elsewhere)); err != nil {
					desc += " (" + err.Error() + ")"
					return
				}
				users = append(users[:i], users[i+1:]...)
			case 13:
				if len(groups) < 4 {
					desc = "noop"
					return
				}
				i := rng.Intn(len(groups))
				rdn := groups[i][:strings.Index(groups[i], ",")]
				desc = "move group out of scope " + groups[i]
				if err := e.conn().ModifyDN(ldap.NewModifyDNRequest(groups[i], rdn, true, elsewhere)); err != nil {
					desc += " (" + err.Error() + ")"
					return
				}
				groups = append(groups[:i], groups[i+1:]...)
			case 0, 1:
				g := pick(groups)
				m := pick(users)
				if rng.Intn(4) == 0 {
					m = pick(groups)
				}
				desc = "add " + m + " to " + g
				mod := ldap.NewModifyRequest(g, nil)
				mod.Add("member", []string{m})
				if err := e.conn().Modify(mod); err != nil {
					desc += " (" + err.Error() + ")"
				}
			case 2:
				g := pick(groups)
				ms := e.membersOf(g)
				if len(ms) < 2 {
					desc = "noop"
					return
				}
				m := pick(ms)
				desc = "remove " + m + " from " + g
				mod := ldap.NewModifyRequest(g, nil)
				mod.Delete("member", []string{m})
				if err := e.conn().Modify(mod); err != nil {
					desc += " (" + err.Error() + ")"
				}
			case 3:
				i := rng.Intn(len(users))
				old := users[i]
				rdn := fmt.Sprintf("uid=moved%d", n)
				nu := rdn + "," + e.dir.PeopleDN
				refint := rng.Intn(2) == 0
				desc = fmt.Sprintf("move %s to %s (refint %t)", old, nu, refint)
				if err := e.conn().ModifyDN(ldap.NewModifyDNRequest(old, rdn, true, "")); err != nil {
					desc += " (" + err.Error() + ")"
					return
				}
				users[i] = nu
				if refint {
					for _, h := range e.holdersOf(old) {
						mod := ldap.NewModifyRequest(h, nil)
						mod.Delete("member", []string{old})
						mod.Add("member", []string{nu})
						_ = e.conn().Modify(mod)
					}
				}
			case 4:
				u := pick(users)
				desc = "disable " + u
				mod := ldap.NewModifyRequest(u, nil)
				mod.Replace("pwdAccountLockedTime", []string{"20260101000000Z"})
				if err := e.conn().Modify(mod); err != nil {
					desc += " (" + err.Error() + ")"
				}
			case 5:
				u := pick(users)
				desc = "enable " + u
				mod := ldap.NewModifyRequest(u, nil)
				mod.Delete("pwdAccountLockedTime", nil)
				if err := e.conn().Modify(mod); err != nil {
					desc += " (" + err.Error() + ")"
				}
			case 6:
				if len(users) < 10 {
					desc = "noop"
					return
				}
				i := rng.Intn(len(users))
				desc = "delete " + users[i]
				e.deleteEntry(users[i])
				users = append(users[:i], users[i+1:]...)
			case 7:
				uid := fmt.Sprintf("new%d", n)
				dn := e.addPerson(uid, uid+"@corp.example.com", "New "+uid)
				users = append(users, dn)
				desc = "add user " + dn
				if rng.Intn(2) == 0 {
					g := pick(groups)
					desc += " into " + g
					mod := ldap.NewModifyRequest(g, nil)
					mod.Add("member", []string{dn})
					_ = e.conn().Modify(mod)
				}
			case 8:
				i := rng.Intn(len(groups))
				rdn := fmt.Sprintf("cn=renamed%d", n)
				desc = "rename " + groups[i] + " to " + rdn
				parent := groups[i][strings.Index(groups[i], ",")+1:]
				if err := e.conn().ModifyDN(ldap.NewModifyDNRequest(groups[i], rdn, true, "")); err != nil {
					desc += " (" + err.Error() + ")"
					return
				}
				groups[i] = rdn + "," + parent
			case 9:
				if len(groups) < 4 {
					desc = "noop"
					return
				}
				i := rng.Intn(len(groups))
				desc = "delete group " + groups[i]
				e.deleteEntry(groups[i])
				groups = append(groups[:i], groups[i+1:]...)
			case 10:
				dn := fmt.Sprintf("cn=added%d,%s", n, e.dir.GroupsDN)
				if rng.Intn(3) == 0 {
					// a taken name
					other := pick(groups)
					dn = other[:strings.Index(other, ",")] + "," + more
				}
				ms := []string{pick(users)}
				if rng.Intn(2) == 0 {
					ms = append(ms, pick(groups))
				}
				desc = "add group " + dn + " with " + strings.Join(ms, "; ")
				a := ldap.NewAddRequest(dn, nil)
				a.Attribute("objectClass", []string{"groupOfNames"})
				a.Attribute("cn", []string{strings.TrimPrefix(strings.SplitN(dn, ",", 2)[0], "cn=")})
				a.Attribute("member", ms)
				if err := e.conn().Add(a); err != nil {
					desc += " (" + err.Error() + ")"
					return
				}
				groups = append(groups, dn)
			case 11:
				u := pick(users)
				if rng.Intn(2) == 0 {
					desc = "break mail of " + u
					mod := ldap.NewModifyRequest(u, nil)
					mod.Replace("mail", []string{"not an address"})
					_ = e.conn().Modify(mod)
				} else {
					uid := strings.TrimPrefix(u[:strings.Index(u, ",")], "uid=")
					desc = "fix mail of " + u
					mod := ldap.NewModifyRequest(u, nil)
					mod.Replace("mail", []string{uid + ".fixed@corp.example.com"})
					_ = e.conn().Modify(mod)
				}
			}
		}()
		t.Logf("step %d: %s", step, desc)
		name := fmt.Sprintf("step %d: %s", step, desc)
		switch r := rng.Intn(10); {
		case r == 0:
			e.comparePlans(name, false)
			e.omni.SetFaults(omnitest.Faults{Seed: int64(step), ErrorRate: 0.5, LostReplyRate: 0.2})
			_, _, err := e.run(false)
			t.Logf("%s: faulty run: %v", name, err)
			e.omni.SetFaults(omnitest.Faults{})
		case r == 1:
			e.comparePlans(name, false)
			s := e.syncer(false)
			s.Options.FullRead = true
			_, err := s.Run(context.Background())
			t.Logf("%s: full real run: %v", name, err)
		default:
			e.comparePlans(name, true)
		}
		if t.Failed() {
			return
		}
	}
}
