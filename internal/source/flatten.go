package source

import (
	"fmt"
	"slices"
	"strings"

	"github.com/syncd-dev/syncd/internal/identity"
)

// FlattenGroups settles what only shows across group entries and resolves
// membership. The same entry twice (overlapping base DNs) is kept once; two
// entries with one id keep the first and skip the other with
// SkipDuplicateID; two or more groups with one name (ignoring case) are all
// skipped with SkipDuplicateGroupName.
//
// A member DN that is another group entry (skipped or not) is never listed
// itself: with nested, the members of that group count instead,
// recursively, each group at most once, so cycles end; without nested it is
// dropped. MemberDNs come out in NormalizeDN form, deduplicated and sorted,
// MemberLogins deduplicated and sorted, groups sorted by id and skipped
// entries by DN, so that equal directories give equal results.
//
// Active Directory could do this server-side with the in-chain matching
// rule (member:1.2.840.113556.1.4.1941:=<group DN>), one search per group;
// flattening here instead works the same on every server and costs a single
// read of the groups.
func FlattenGroups(entries []GroupEntry, nested bool) ([]identity.Group, []identity.Skipped) {
	// byDN indexes every distinct group entry read, by normalised DN.
	byDN := make(map[string]int, len(entries))
	var distinct []GroupEntry
	for _, e := range entries {
		var key string
		if e.Group.DN != "" {
			key = identity.NormalizeDN(e.Group.DN)
			if _, dup := byDN[key]; dup {
				continue
			}
			byDN[key] = len(distinct)
		}
		// Normalised once here, so that the walks below compare strings.
		dns := make([]string, len(e.Group.MemberDNs))
		for k, dn := range e.Group.MemberDNs {
			dns[k] = identity.NormalizeDN(dn)
		}
		e.Group.MemberDNs = dns
		distinct = append(distinct, e)
	}

	var skipped []identity.Skipped
	var kept []int
	byID := map[string]int{}
	byName := map[string][]int{}
	for i, e := range distinct {
		if e.Skip != nil {
			skipped = append(skipped, *e.Skip)
			continue
		}
		g := e.Group
		if j, dup := byID[g.ID]; dup {
			skipped = append(skipped, identity.Skipped{
				DN: bounded(g.DN), ID: g.ID, Reason: identity.SkipDuplicateID,
				Detail: "id also held by " + bounded(distinct[j].Group.DN),
			})
			continue
		}
		byID[g.ID] = i
		name := strings.ToLower(g.Name)
		byName[name] = append(byName[name], i)
		kept = append(kept, i)
	}

	var groups []identity.Group
	for _, i := range kept {
		g := distinct[i].Group
		if holders := byName[strings.ToLower(g.Name)]; len(holders) > 1 {
			other := holders[0]
			if other == i {
				other = holders[1]
			}
			detail := fmt.Sprintf("name %s also used by %s", quoteBounded(g.Name), bounded(distinct[other].Group.DN))
			if len(holders) > 2 {
				detail += fmt.Sprintf(" and %d more", len(holders)-2)
			}
			skipped = append(skipped, identity.Skipped{DN: bounded(g.DN), ID: g.ID, Reason: SkipDuplicateGroupName, Detail: detail})
			continue
		}
		g.MemberDNs = flattenMembers(distinct, byDN, i, nested)
		g.MemberLogins = sortedSet(g.MemberLogins)
		groups = append(groups, g)
	}
	slices.SortFunc(groups, func(a, b identity.Group) int { return strings.Compare(a.ID, b.ID) })
	slices.SortStableFunc(skipped, func(a, b identity.Skipped) int { return strings.Compare(a.DN, b.DN) })
	return groups, skipped
}

// flattenMembers collects the non-group member DNs of distinct[root],
// walking member groups when nested. visited holds the groups already
// walked, the root included, so a cycle back to any of them adds nothing.
func flattenMembers(distinct []GroupEntry, byDN map[string]int, root int, nested bool) []string {
	var out []string
	visited := map[int]bool{root: true}
	stack := []int{root}
	for len(stack) > 0 {
		i := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		for _, dn := range distinct[i].Group.MemberDNs {
			j, isGroup := byDN[dn]
			switch {
			case !isGroup:
				out = append(out, dn)
			case nested && !visited[j]:
				visited[j] = true
				stack = append(stack, j)
			}
		}
	}
	return sortedSet(out)
}

// sortedSet sorts values and drops repeats; nil stays nil.
func sortedSet(values []string) []string {
	if len(values) == 0 {
		return nil
	}
	values = slices.Clone(values)
	slices.Sort(values)
	return slices.Compact(values)
}
