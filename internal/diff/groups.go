package diff

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/syncd-dev/syncd/internal/identity"
)

// GroupRead is what one read of the directory's groups gave.
type GroupRead struct {
	// Enabled is false when group sync is off: nothing is planned for
	// groups, linked ones included.
	Enabled    bool
	Groups     []identity.Group
	Skipped    []identity.Skipped
	Incomplete string
}

// Members resolves group members to directory users. A member DN or login
// resolves to a user when the user read, the skipped entries or the known
// links name it; a resolved user is eligible (may be added to Omni groups)
// only when it is a mapped, enabled user of this read, one syncd manages.
type Members struct {
	byDN, byLogin map[string]string
	eligible      map[string]bool
	// read are the users this read mapped: only they can be known to have
	// left a group. A user skipped or missing this run keeps its
	// memberships until it is back or deprovisioned.
	read map[string]bool
}

// NewMembers indexes the run's users for member resolution. A user read or
// skipped this run is at the DN the directory gave now; a linked user not
// in the read keeps the DN it had. A user is eligible when enabled in the
// directory and actively linked (known holds the links after the run's
// creates and reactivations): one whose create is blocked or failed is
// added by the run that creates it.
func NewMembers(users []identity.User, skipped []identity.Skipped, known map[string]identity.Linked) Members {
	m := Members{byDN: map[string]string{}, byLogin: map[string]string{}, eligible: map[string]bool{}, read: map[string]bool{}}
	for _, u := range users {
		m.read[u.ID] = true
		m.byDN[identity.NormalizeDN(u.DN)] = u.ID
		if u.Login != "" {
			m.byLogin[strings.ToLower(u.Login)] = u.ID
		}
		if k, ok := known[u.ID]; u.Active && ok && k.Status == identity.StatusActive && k.SCIMID != "" {
			m.eligible[u.ID] = true
		}
	}
	now := make(map[string]bool, len(skipped))
	for _, sk := range skipped {
		if sk.ID != "" && sk.DN != "" {
			now[sk.ID] = true
			if key := identity.NormalizeDN(sk.DN); m.byDN[key] == "" {
				m.byDN[key] = sk.ID
			}
		}
	}
	for id, k := range known {
		if k.DN == "" || m.read[id] || now[id] {
			continue
		}
		if key := identity.NormalizeDN(k.DN); m.byDN[key] == "" {
			m.byDN[key] = id
		}
	}
	return m
}

// resolve returns the users a group names (every one resolved, and those
// eligible) and the members that name no user.
func (m Members) resolve(g identity.Group) (all, eligible []string, unresolved []string) {
	add := func(id string, ok bool, name string) {
		if !ok {
			unresolved = append(unresolved, name)
			return
		}
		all = append(all, id)
		if m.eligible[id] {
			eligible = append(eligible, id)
		}
	}
	for _, dn := range g.MemberDNs {
		id, ok := m.byDN[identity.NormalizeDN(dn)]
		add(id, ok, dn)
	}
	for _, l := range g.MemberLogins {
		id, ok := m.byLogin[strings.ToLower(l)]
		add(id, ok, l)
	}
	slices.Sort(all)
	slices.Sort(eligible)
	return slices.Compact(all), slices.Compact(eligible), unresolved
}

// GroupPolicy is the safety policy for groups.
type GroupPolicy struct {
	DeprovisionAfter     time.Duration
	DeprovisionAfterRuns int
	MinSourceFraction    float64
	// MaxDeletions caps group deletions per run; MaxRemovalPercent caps
	// member removals as a share of the memberships syncd manages (one is
	// always allowed).
	MaxDeletions      int
	MaxRemovalPercent float64
	// Delete deletes a group syncd created that left the directory;
	// otherwise such a group is held.
	Delete               bool
	AllowMassDeprovision bool
}

// GroupInput is everything a run's group decision depends on.
type GroupInput struct {
	Read  GroupRead
	Known map[string]identity.LinkedGroup
	// LastGood is the last good group read's count, -1 if none.
	LastGood int
	Members  Members
	// Leaving are the users this run deprovisions: Omni drops their
	// memberships itself, so none is removed by request.
	Leaving map[string]bool
	// UsersUntrusted: the user read tripped a guard, so it cannot say who
	// left a group either; no member is removed.
	UsersUntrusted bool
	Now            time.Time

	// Partial: Read.Groups are only the groups an incremental read had
	// to work out again, and Known only the linked ones among them, those
	// Deleted and those marked missing; any other linked group is
	// unchanged. SourceCount, ActiveGroups and Memberships then stand in
	// for the read's count of groups and the counts over every linked
	// group.
	Partial                                bool
	Deleted                                map[string]bool
	SourceCount, ActiveGroups, Memberships int
}

// GroupOp is one planned group operation. Add and Remove are directory user
// ids; Rename is the new name when the group was renamed.
type GroupOp struct {
	Kind   Kind                  `json:"kind"`
	Group  identity.Group        `json:"group"`
	Known  *identity.LinkedGroup `json:"-"`
	Rename string                `json:"rename,omitempty"`
	Add    []string              `json:"add,omitempty"`
	Remove []string              `json:"remove,omitempty"`
	Reason string                `json:"reason,omitempty"`
	Due    time.Time             `json:"due,omitzero"`
}

// Unresolved is a group member that names no user in scope: reported, not
// fatal.
type Unresolved struct {
	Group  string `json:"group"`
	Member string `json:"member"`
}

// GroupPlan is what a run does to groups.
type GroupPlan struct {
	Create, Update, Delete, Waiting, Held []GroupOp
	Unchanged                             int
	Marks                                 []Mark
	Trips, Overrides                      []string
	Unresolved                            []Unresolved
}

// Changes reports whether the plan sends anything.
func (p *GroupPlan) Changes() bool { return len(p.Create)+len(p.Update)+len(p.Delete) > 0 }

// PlanGroups decides what a run does to groups: create the new ones with
// their eligible members, rename and bring the managed membership of the
// linked ones in line (adding only users syncd manages, removing only users
// syncd added), and delete the ones that left, under the same guards as
// users: a read that cannot be trusted removes no member and deletes no
// group, deletions wait out the grace period, and both are capped.
func PlanGroups(in GroupInput, p GroupPolicy) GroupPlan {
	var plan GroupPlan
	if !in.Read.Enabled {
		return plan
	}
	trips := groupGuards(in, p)
	trust := len(trips) == 0
	present, holdMissing := presentGroups(in.Read.Skipped, in.Known)
	seen := make(map[string]bool, len(in.Read.Groups))
	for _, g := range in.Read.Groups {
		seen[g.ID] = true
		all, eligible, unresolved := in.Members.resolve(g)
		for _, u := range unresolved {
			plan.Unresolved = append(plan.Unresolved, Unresolved{Group: g.Name, Member: u})
		}
		k, linked := in.Known[g.ID]
		if !linked || k.Status != identity.GroupActive {
			plan.Create = append(plan.Create, GroupOp{Kind: Create, Group: g, Add: eligible})
			continue
		}
		if !k.FirstMissingAt.IsZero() || k.MissingRuns > 0 {
			plan.Marks = append(plan.Marks, Mark{ID: k.ID})
		}
		kk := k
		op := GroupOp{Kind: Update, Group: g, Known: &kk, Add: minus(eligible, setOf(k.Members))}
		if k.Name != g.Name {
			op.Rename = g.Name
		}
		if trust && !in.UsersUntrusted {
			op.Remove = minus(k.Members, setOf(all), in.Leaving, notIn(in.Members.read, k.Members))
		}
		if op.Rename == "" && len(op.Add) == 0 && len(op.Remove) == 0 {
			plan.Unchanged++
			continue
		}
		plan.Update = append(plan.Update, op)
	}
	for id, k := range in.Known {
		if seen[id] || k.Status != identity.GroupActive {
			continue
		}
		why, skippedNow := present[id]
		if in.Partial && !skippedNow && !in.Deleted[id] && k.FirstMissingAt.IsZero() && k.MissingRuns == 0 {
			continue // unchanged since the last read
		}
		kk := k
		op := GroupOp{Kind: Deprovision, Group: identity.Group{ID: k.ID, Name: k.Name}, Known: &kk, Reason: ReasonMissing}
		switch {
		case skippedNow:
			op.Reason = ReasonSkipped + ": " + why
			plan.Held = append(plan.Held, op)
		case !trust:
			plan.Held = append(plan.Held, op)
		case holdMissing != "":
			op.Reason += "; " + holdMissing
			plan.Held = append(plan.Held, op)
		default:
			plan.absentGroup(op, in.Now, p)
		}
	}
	plan.capGroups(in.memberships(), p, &trips)
	plan.Trips = trips
	for _, ops := range [][]GroupOp{plan.Create, plan.Update, plan.Delete, plan.Waiting, plan.Held} {
		slices.SortFunc(ops, func(a, b GroupOp) int {
			if c := strings.Compare(a.Group.Name, b.Group.Name); c != 0 {
				return c
			}
			return strings.Compare(a.Group.ID, b.Group.ID)
		})
	}
	slices.SortFunc(plan.Marks, func(a, b Mark) int { return strings.Compare(a.ID, b.ID) })
	return plan
}

// absentGroup plans for a linked group the directory no longer has.
func (p *GroupPlan) absentGroup(op GroupOp, now time.Time, pol GroupPolicy) {
	k := op.Known
	first := k.FirstMissingAt
	if first.IsZero() {
		first = now
	}
	runs := k.MissingRuns + 1
	if now.Sub(first) < pol.DeprovisionAfter || runs < pol.DeprovisionAfterRuns {
		if pol.DeprovisionAfter > 0 {
			op.Due = first.Add(pol.DeprovisionAfter)
		}
		p.Waiting = append(p.Waiting, op)
		p.Marks = append(p.Marks, Mark{ID: k.ID, FirstMissingAt: first, MissingRuns: runs})
		return
	}
	switch {
	case !pol.Delete:
		op.Reason += "; scim.groupDeprovision is none"
		p.Held = append(p.Held, op)
	case k.Origin != identity.OriginCreated:
		op.Reason += "; adopted, so not syncd's to delete"
		p.Held = append(p.Held, op)
	default:
		p.Delete = append(p.Delete, op)
	}
}

// groupGuards says why this group read must not be read as "the groups and
// members it lacks are gone".
func groupGuards(in GroupInput, p GroupPolicy) []string {
	var trips []string
	if in.Read.Incomplete != "" {
		trips = append(trips, "group search incomplete: "+in.Read.Incomplete)
	}
	n, active := len(in.Read.Groups), 0
	for _, k := range in.Known {
		if k.Status == identity.GroupActive {
			active++
		}
	}
	if in.Partial {
		n, active = in.SourceCount, in.ActiveGroups
	}
	if n == 0 && active > 0 {
		trips = append(trips, "directory returned no groups in scope")
	}
	if in.LastGood > 0 && n > 0 && float64(n) < math.Floor(p.MinSourceFraction*float64(in.LastGood)) {
		trips = append(trips, fmt.Sprintf("directory returned %d groups in scope, fewer than %.0f%% of the last good read's %d (safety.minSourceFraction)",
			n, p.MinSourceFraction*100, in.LastGood))
	}
	return trips
}

// capGroups holds every deletion, or every removal, when there are more
// than the caps allow, unless the run may go over them.
// memberships counts the memberships syncd manages in active groups.
func (in GroupInput) memberships() int {
	if in.Partial {
		return in.Memberships
	}
	n := 0
	for _, k := range in.Known {
		if k.Status == identity.GroupActive {
			n += len(k.Members)
		}
	}
	return n
}

func (p *GroupPlan) capGroups(managed int, pol GroupPolicy, trips *[]string) {
	if n := len(p.Delete); n > pol.MaxDeletions {
		trip := fmt.Sprintf("%d group deletions planned, above safety.maxGroupDeletionsPerRun (%d)", n, pol.MaxDeletions)
		if pol.AllowMassDeprovision {
			p.Overrides = append(p.Overrides, trip)
		} else {
			*trips = append(*trips, trip)
			p.Held = append(p.Held, p.Delete...)
			p.Delete = nil
		}
	}
	removals := 0
	for _, op := range p.Update {
		removals += len(op.Remove)
	}
	limit := max(int(math.Floor(float64(managed)*pol.MaxRemovalPercent/100)), 1)
	if removals == 0 || removals <= limit {
		return
	}
	trip := fmt.Sprintf("%d member removals planned, %.1f%% of %d managed memberships, above safety.maxMemberRemovalPercent (%g%%)",
		removals, 100*float64(removals)/float64(max(managed, 1)), managed, pol.MaxRemovalPercent)
	if pol.AllowMassDeprovision {
		p.Overrides = append(p.Overrides, trip)
		return
	}
	*trips = append(*trips, trip)
	kept := p.Update[:0]
	for _, op := range p.Update {
		op.Remove = nil
		if op.Rename == "" && len(op.Add) == 0 {
			p.Unchanged++
			continue
		}
		kept = append(kept, op)
	}
	p.Update = kept
}

// presentGroups finds linked groups whose entries were read but skipped.
func presentGroups(skipped []identity.Skipped, known map[string]identity.LinkedGroup) (map[string]string, string) {
	present := map[string]string{}
	var unmatched []string
	for _, sk := range skipped {
		if sk.ID == "" {
			unmatched = append(unmatched, sk.DN)
			continue
		}
		if _, ok := known[sk.ID]; ok {
			present[sk.ID] = string(sk.Reason)
		}
	}
	if len(unmatched) > 0 {
		return present, fmt.Sprintf("%d skipped group entr%s without a readable id, so any missing group may be one of them",
			len(unmatched), plural(len(unmatched), "y", "ies"))
	}
	return present, ""
}

// minus returns the sorted elements of a that are in none of the sets.
func minus(a []string, not ...map[string]bool) []string {
	var out []string
	for _, x := range a {
		in := false
		for _, set := range not {
			in = in || set[x]
		}
		if !in {
			out = append(out, x)
		}
	}
	slices.Sort(out)
	return out
}

// notIn is the set of xs not in read.
func notIn(read map[string]bool, xs []string) map[string]bool {
	out := map[string]bool{}
	for _, x := range xs {
		if !read[x] {
			out[x] = true
		}
	}
	return out
}

func setOf(xs []string) map[string]bool {
	m := make(map[string]bool, len(xs))
	for _, x := range xs {
		m[x] = true
	}
	return m
}
