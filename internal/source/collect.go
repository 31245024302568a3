package source

import (
	"fmt"
	"slices"
	"strings"

	"github.com/go-ldap/ldap/v3"

	"github.com/syncd-dev/syncd/internal/identity"
)

// collector gathers mapped users as entries stream in and settles the
// conflicts that only show across entries: the same id twice and the same
// userName twice.
type collector struct {
	users []identity.User
	// byID and byEmail index users; dupEmail lists the userNames held by
	// more than one user, in the order they were first seen twice.
	byID     map[string]int
	byEmail  map[string]int
	dupEmail []string
	dupSeen  map[string]bool

	skipped []identity.Skipped
	// attrs shares one attribute map among the users whose maps are equal.
	attrs identity.AttributeSet
	// skippedDN keeps an entry found under two overlapping base DNs from
	// being reported twice.
	skippedDN map[string]bool
}

// newCollector makes a collector for about size users (0: unknown), so a
// large read does not grow its slice and indexes over and over.
func newCollector(size int) *collector {
	return &collector{
		users:     make([]identity.User, 0, size),
		byID:      make(map[string]int, size),
		byEmail:   make(map[string]int, size),
		dupSeen:   map[string]bool{},
		skippedDN: map[string]bool{},
	}
}

// addEntry maps e with m and adds the result.
func (c *collector) addEntry(m *Mapper, e *ldap.Entry) {
	c.add(m.MapWith(e, &c.attrs))
}

func (c *collector) add(u identity.User, s *identity.Skipped) {
	if s != nil {
		c.skip(*s)
		return
	}
	if i, ok := c.byID[u.ID]; ok {
		if strings.EqualFold(c.users[i].DN, u.DN) {
			// The same entry again, through an overlapping base DN.
			return
		}
		c.skip(identity.Skipped{
			DN:     u.DN,
			ID:     u.ID,
			Reason: identity.SkipDuplicateID,
			Detail: "id also held by " + bounded(c.users[i].DN),
		})
		return
	}
	c.byID[u.ID] = len(c.users)
	if _, ok := c.byEmail[u.UserName]; ok {
		if !c.dupSeen[u.UserName] {
			c.dupSeen[u.UserName] = true
			c.dupEmail = append(c.dupEmail, u.UserName)
		}
	} else {
		c.byEmail[u.UserName] = len(c.users)
	}
	c.users = append(c.users, u)
}

func (c *collector) skip(s identity.Skipped) {
	key := strings.ToLower(s.DN)
	if c.skippedDN[key] {
		return
	}
	c.skippedDN[key] = true
	c.skipped = append(c.skipped, s)
}

// finish drops every user whose userName is shared, then sorts: users by
// id, skipped entries by DN, so that equal directories give equal results.
func (c *collector) finish() ([]identity.User, []identity.Skipped) {
	users := c.users
	if len(c.dupEmail) > 0 {
		groups := make(map[string][]int, len(c.dupEmail))
		for i, u := range users {
			if c.dupSeen[u.UserName] {
				groups[u.UserName] = append(groups[u.UserName], i)
			}
		}
		kept := users[:0:0]
		for i, u := range users {
			g, dup := groups[u.UserName]
			if !dup {
				kept = append(kept, u)
				continue
			}
			other := g[0]
			if other == i {
				other = g[1]
			}
			detail := fmt.Sprintf("userName %s also used by %s", u.UserName, bounded(users[other].DN))
			if len(g) > 2 {
				detail += fmt.Sprintf(" and %d more", len(g)-2)
			}
			cand := u
			c.skipped = append(c.skipped, identity.Skipped{
				DN: u.DN, ID: u.ID, Reason: identity.SkipDuplicateEmail, Detail: detail, Candidate: &cand,
			})
		}
		users = kept
	}
	if cap(users)-len(users) > len(users)/8 {
		// The run keeps the read to its end: not the room appends left.
		users = slices.Clone(users)
	}
	slices.SortFunc(users, func(a, b identity.User) int { return strings.Compare(a.ID, b.ID) })
	slices.SortStableFunc(c.skipped, func(a, b identity.Skipped) int { return strings.Compare(a.DN, b.DN) })
	return users, c.skipped
}
