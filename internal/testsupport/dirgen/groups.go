package dirgen

import (
	"crypto/sha256"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
)

// GroupClass is the kind of group entry generated.
type GroupClass string

const (
	// GroupOfNames lists member DNs (the default).
	GroupOfNames GroupClass = "groupOfNames"
	// GroupOfUniqueNames lists uniqueMember DNs; the first member of the
	// first group carries the optional unique identifier ("#'0101'B")
	// that the syntax allows.
	GroupOfUniqueNames GroupClass = "groupOfUniqueNames"
	// PosixGroup lists memberUid logins (User.Login) of its user members;
	// it cannot list groups, so it has no nesting.
	PosixGroup GroupClass = "posixGroup"
	// ADGroup is Active Directory's group: member DNs, keyed by a binary
	// objectGUID (Group.GUID), with a sAMAccountName.
	ADGroup GroupClass = "group"
)

func (c GroupClass) known() bool {
	switch c {
	case GroupOfNames, GroupOfUniqueNames, PosixGroup, ADGroup:
		return true
	}
	return false
}

// Group is one generated group.
type Group struct {
	DN, Name string
	Members  []string // user or group DNs
	// ID and GUID are the objectGUID of an ADGroup (canonical string and
	// raw bytes); other classes get their entryUUID from the server.
	ID   string
	GUID []byte
}

func (d *Directory) generateGroups(rng *rand.Rand) {
	if d.Options.Groups <= 0 {
		return
	}
	d.Groups = make([]Group, d.Options.Groups)
	for j := range d.Groups {
		g := &d.Groups[j]
		g.Name = strings.ToLower(departments[j%len(departments)]) + "-" + strconv.Itoa(j)
		g.DN = "cn=" + g.Name + "," + d.GroupsDN
		if d.Options.GroupClass == ADGroup {
			// Derived from the seed and the name, not drawn from rng, so
			// that the other classes' output stays as it always was.
			sum := sha256.Sum256([]byte(strconv.FormatInt(d.Options.Seed, 10) + "/" + g.Name))
			g.GUID = sum[:16]
			g.ID = GUIDString(g.GUID)
		}
	}
	for i := range d.Users {
		u := &d.Users[i]
		first := i % len(d.Groups)
		u.Groups = append(u.Groups, d.Groups[first].DN)
		d.Groups[first].Members = append(d.Groups[first].Members, u.DN)
		if rng.IntN(3) == 0 {
			if second := rng.IntN(len(d.Groups)); second != first {
				u.Groups = append(u.Groups, d.Groups[second].DN)
				d.Groups[second].Members = append(d.Groups[second].Members, u.DN)
			}
		}
	}
	if d.Options.GroupCycle && len(d.Groups) >= 2 {
		d.Groups[0].Members = append(d.Groups[0].Members, d.Groups[1].DN)
		d.Groups[1].Members = append(d.Groups[1].Members, d.Groups[0].DN)
	}
	for j := range d.Groups {
		g := &d.Groups[j]
		if j%3 == 2 {
			g.Members = append(g.Members, d.Groups[j-1].DN)
		}
		if len(g.Members) == 0 {
			// groupOfNames requires a member; the people OU is a harmless one.
			g.Members = append(g.Members, d.PeopleDN)
		}
	}
}

// ExpectedMembers are the member DNs a correct read derives for g: its
// direct members that are not groups, and with nested those of its member
// groups too, recursively. They are deduplicated and sorted by their
// lower-cased form; compare them case-insensitively.
func (d *Directory) ExpectedMembers(g Group, nested bool) []string {
	byDN := make(map[string]*Group, len(d.Groups))
	for i := range d.Groups {
		byDN[strings.ToLower(d.Groups[i].DN)] = &d.Groups[i]
	}
	seen := map[string]bool{strings.ToLower(g.DN): true}
	var out []string
	var walk func(*Group)
	walk = func(g *Group) {
		for _, m := range g.Members {
			key := strings.ToLower(m)
			sub, isGroup := byDN[key]
			switch {
			case !isGroup:
				out = append(out, key)
			case nested && !seen[key]:
				seen[key] = true
				walk(sub)
			}
		}
	}
	walk(&g)
	slices.Sort(out)
	return slices.Compact(out)
}

// ExpectedLogins are the memberUid values GroupsLDIF writes for g as a
// PosixGroup: the logins of its direct user members, sorted.
func (d *Directory) ExpectedLogins(g Group) []string {
	login := d.loginsByDN()
	var out []string
	for _, m := range g.Members {
		if l, ok := login[m]; ok {
			out = append(out, l)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

func (d *Directory) loginsByDN() map[string]string {
	login := make(map[string]string, len(d.Users))
	for _, u := range d.Users {
		login[u.DN] = u.Login
	}
	return login
}

// GroupsLDIF returns the groups as entries of Options.GroupClass. Add them
// online after the users so that the memberof overlay fills memberOf (for
// groupOfNames); nested groups come after the groups they list, but for a
// cycle's back reference.
func (d *Directory) GroupsLDIF() []byte {
	var w ldifWriter
	size := 0
	for _, g := range d.Groups {
		size += 100 + 2*len(g.DN)
		for _, m := range g.Members {
			size += len("uniqueMember: \n") + len(m)
		}
	}
	w.buf.Grow(size)
	var login map[string]string
	if d.Options.GroupClass == PosixGroup {
		login = d.loginsByDN()
	}
	for j, g := range d.Groups {
		w.entry(g.DN)
		switch d.Options.GroupClass {
		case GroupOfUniqueNames:
			w.attr("objectClass", "groupOfUniqueNames")
			w.attr("cn", g.Name)
			for k, m := range g.Members {
				if j == 0 && k == 0 {
					m += "#'0101'B"
				}
				w.attr("uniqueMember", m)
			}
		case PosixGroup:
			w.attr("objectClass", "posixGroup")
			w.attr("cn", g.Name)
			w.attr("gidNumber", strconv.Itoa(10000+j))
			for _, m := range g.Members {
				if l, ok := login[m]; ok {
					w.attr("memberUid", l)
				}
			}
		case ADGroup:
			w.attr("objectClass", "top")
			w.attr("objectClass", "group")
			w.attr("cn", g.Name)
			w.binary("objectGUID", g.GUID)
			w.attr("sAMAccountName", g.Name)
			for _, m := range g.Members {
				w.attr("member", m)
			}
		default:
			w.attr("objectClass", "groupOfNames")
			w.attr("cn", g.Name)
			for _, m := range g.Members {
				w.attr("member", m)
			}
		}
	}
	return w.buf.Bytes()
}
