package diff

import (
	"fmt"
	"slices"
	"strings"

	"github.com/syncd-dev/syncd/internal/identity"
	"github.com/syncd-dev/syncd/internal/textutil"
)

// keepLinkedHolders settles shared emails in favour of the entry already
// linked to the Omni user that holds the email: a newcomer carrying someone
// else's mail is skipped, and the holder stays in sync. Only when no entry
// sharing the email holds it are they all skipped, since then none can be
// told apart from an impostor. The slices passed in are not changed.
func keepLinkedHolders(users []identity.User, skipped []identity.Skipped, known map[string]identity.Linked) ([]identity.User, []identity.Skipped) {
	var restored []identity.User
	rest := make([]identity.Skipped, 0, len(skipped))
	for _, sk := range skipped {
		c := sk.Candidate
		if sk.Reason == identity.SkipDuplicateEmail && c != nil {
			if k, ok := known[c.ID]; ok && k.Status == identity.StatusActive && k.UserName == c.UserName {
				restored = append(restored, *c)
				continue
			}
		}
		rest = append(rest, sk)
	}
	if len(restored) == 0 {
		return users, skipped
	}
	out := slices.Concat(users, restored)
	slices.SortFunc(out, func(a, b identity.User) int { return strings.Compare(a.ID, b.ID) })
	return out, rest
}

// presentSkipped finds the linked users whose entries were read but
// skipped: they are in the directory, so they must never be taken as gone.
// A skipped entry is matched by its stable id, or by DN when its id could
// not be read. When a skipped entry without an id matches no linked user,
// it may be any of them, and holdMissing says so: no user may then be
// deprovisioned as "not in directory" this run.
func presentSkipped(skipped []identity.Skipped, known map[string]identity.Linked) (present map[string]string, holdMissing string) {
	present = make(map[string]string)
	var byDN map[string]string
	var unmatched []string
	for _, sk := range skipped {
		why := string(sk.Reason)
		if sk.ID != "" {
			if _, ok := known[sk.ID]; ok {
				present[sk.ID] = why
			}
			continue
		}
		if byDN == nil {
			byDN = make(map[string]string, len(known))
			for id, k := range known {
				if k.DN != "" {
					byDN[identity.NormalizeDN(k.DN)] = id
				}
			}
		}
		if id, ok := byDN[identity.NormalizeDN(sk.DN)]; ok {
			present[id] = why
			continue
		}
		unmatched = append(unmatched, sk.DN)
	}
	if len(unmatched) > 0 {
		holdMissing = fmt.Sprintf("%d skipped entr%s without a readable id match no linked user (%s), so any missing user may be one of them",
			len(unmatched), plural(len(unmatched), "y", "ies"), textutil.Clip(strings.Join(unmatched, "; "), 300, "…"))
	}
	return present, holdMissing
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
