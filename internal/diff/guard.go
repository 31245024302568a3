package diff

import (
	"fmt"
	"math"
	"strings"

	"github.com/go-ldap/ldap/v3"

	"github.com/syncd-dev/syncd/internal/identity"
)

// sourceGuards says why this run's directory result must not be read as
// "the users it lacks are gone". Any reason holds back every deprovision:
// an incomplete or implausible read is the classic way a sync tool
// deactivates a whole company, and Omni deactivation cannot be undone.
// lastGood is the last good run's in-scope count, or -1 when there was none.
// The fraction is rounded down to whole users, so that one departure from a
// small directory is not taken for a broken read.
func sourceGuards(res Read, n, active, lastGood int, s Policy) []string {
	var trips []string
	if res.Incomplete != "" {
		trips = append(trips, "directory search incomplete: "+res.Incomplete)
	}
	if n == 0 && active > 0 {
		trips = append(trips, "directory returned no users in scope")
	}
	if lastGood > 0 && n > 0 && float64(n) < math.Floor(s.MinSourceFraction*float64(lastGood)) {
		trips = append(trips, fmt.Sprintf("directory returned %d users in scope, fewer than %.0f%% of the last good run's %d (safety.minSourceFraction)",
			n, s.MinSourceFraction*100, lastGood))
	}
	if missing := missingCanaries(res, s.CanaryDNs); len(missing) > 0 {
		trips = append(trips, "canary entries not found: "+strings.Join(missing, "; "))
	}
	return trips
}

// missingCanaries returns the canary DNs the result does not hold. A canary
// counts as found when its entry was read, even if it was skipped.
func missingCanaries(res Read, canaries []string) []string {
	if len(canaries) == 0 {
		return nil
	}
	var seen []*ldap.DN
	add := func(dn string) {
		if d, err := ldap.ParseDN(dn); err == nil {
			seen = append(seen, d)
		}
	}
	for _, u := range res.Users {
		add(u.DN)
	}
	for _, sk := range res.Skipped {
		add(sk.DN)
	}
	var missing []string
	for _, c := range canaries {
		cd, err := ldap.ParseDN(c)
		found := false
		for _, d := range seen {
			if err == nil && d.EqualFold(cd) {
				found = true
				break
			}
		}
		if !found {
			missing = append(missing, c)
		}
	}
	return missing
}

// goneCanaries returns the canary DNs of the known users an incremental
// read names as deleted (or, after a present phase, not present), or as
// moved to another DN: a full read would not find them. A canary must be a
// linked user for an incremental read to see it go; the next full read
// checks every canary.
func goneCanaries(canaries []string, deleted map[string]bool, known map[string]identity.Linked, changed []identity.User) []string {
	if len(canaries) == 0 {
		return nil
	}
	parsed := make([]*ldap.DN, len(canaries))
	for i, c := range canaries {
		parsed[i], _ = ldap.ParseDN(c)
	}
	gone := make([]bool, len(canaries))
	is := func(dn string, i int) bool {
		d, err := ldap.ParseDN(dn)
		return err == nil && parsed[i] != nil && d.EqualFold(parsed[i])
	}
	mark := func(was string, still func(int) bool) {
		for i := range parsed {
			if is(was, i) && !still(i) {
				gone[i] = true
			}
		}
	}
	for id := range deleted {
		if k, ok := known[id]; ok {
			mark(k.DN, func(int) bool { return false })
		}
	}
	for _, u := range changed {
		if k, ok := known[u.ID]; ok && k.DN != u.DN {
			mark(k.DN, func(i int) bool { return is(u.DN, i) })
		}
	}
	var out []string
	for i, c := range canaries {
		if gone[i] {
			out = append(out, c)
		}
	}
	return out
}

// capGuard trips when a run would deprovision more users than the caps
// allow: more than maxDeprovisionsPerRun, or more than maxDeprovisionPercent
// of the active linked users (one deprovision is always within the percent
// cap, so that small organisations are not stuck).
func capGuard(n, active int, s Policy) string {
	if n == 0 {
		return ""
	}
	if n > s.MaxDeprovisionsPerRun {
		return fmt.Sprintf("%d deprovisions planned, above safety.maxDeprovisionsPerRun (%d)", n, s.MaxDeprovisionsPerRun)
	}
	limit := int(math.Floor(float64(active) * s.MaxDeprovisionPercent / 100))
	if limit < 1 {
		limit = 1
	}
	if n > limit {
		return fmt.Sprintf("%d deprovisions planned, %.1f%% of %d active users, above safety.maxDeprovisionPercent (%g%%)",
			n, 100*float64(n)/float64(max(active, 1)), active, s.MaxDeprovisionPercent)
	}
	return ""
}
