package diff

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/syncd-dev/syncd/internal/identity"
)

// Read is what one directory read gave: the users in scope, the entries in
// scope that could not be mapped, and why the read was incomplete, if it was.
type Read struct {
	Users      []identity.User
	Skipped    []identity.Skipped
	Incomplete string
}

// Policy is the safety policy a run decides under.
type Policy struct {
	// DeprovisionAfter and DeprovisionAfterRuns are the grace period: see
	// Options.
	DeprovisionAfter     time.Duration
	DeprovisionAfterRuns int
	// MinSourceFraction: a read with fewer users in scope than this share of
	// the last good run's deprovisions no one.
	MinSourceFraction float64
	// CanaryDNs must all be read (mapped or skipped), or no one is
	// deprovisioned.
	CanaryDNs []string
	// MaxDeprovisionsPerRun and MaxDeprovisionPercent cap deprovisions: above
	// either, none is carried out.
	MaxDeprovisionsPerRun int
	MaxDeprovisionPercent float64
	// NoDeprovision (deprovision mode none) holds every deprovision.
	NoDeprovision bool
	// AllowMassDeprovision lets this run go over the caps.
	AllowMassDeprovision bool
	// Protected lists userNames (lower case) never deprovisioned, whatever
	// the directory says.
	Protected []string
	// OwnedAttributes are the Omni user attribute keys syncd maps; the
	// others are someone else's and never compared or sent. Nil owns all.
	OwnedAttributes []string
}

// Refusal is an operation Omni refused in a way no retry can fix.
type Refusal struct {
	Kind        Kind
	DesiredHash string
	Reason      string
	Action      string
	Attempts    int
	FirstAt     time.Time
	LastTriedAt time.Time
}

// RefusalRetryAfter is how long an operation Omni refused for good waits
// before it is tried again with the same values: long enough not to spend
// the rate budget on a known refusal every run, short enough that a fix
// made in Omni by hand is picked up within a day.
const RefusalRetryAfter = 24 * time.Hour

// Input is everything a run's decision depends on.
type Input struct {
	Read Read
	// Known is the state after settlement, keyed by directory id.
	Known map[string]identity.Linked
	// LastGood is the last good run's count of users in scope, -1 if none.
	LastGood int
	// Refused lists the operations Omni refused for good, by directory id.
	Refused map[string]Refusal
	Now     time.Time

	// Partial marks an incremental read: Read holds only what changed,
	// Known only the users it concerns (see Options.Partial), Deleted the
	// ids gone, Holders the holders of the changed emails; SourceCount and
	// ActiveLinked stand in for the counts a full read and a full state
	// would give.
	Partial      bool
	Deleted      map[string]bool
	Holders      map[string]identity.Linked
	SourceCount  int
	ActiveLinked int
}

// Decision is what a run is to do, and why it holds back what it holds
// back.
type Decision struct {
	Plan Plan
	// Users and Skipped are the read after shared emails were settled in
	// favour of their linked holders.
	Users   []identity.User
	Skipped []identity.Skipped
	// Trips says why deprovisions were held back; empty when none were.
	Trips []string
	// Overrides lists the guards this run was allowed past.
	Overrides []string
}

// Decide turns a directory read and the known state into the run's plan,
// with every safety rule applied: which entries are present though skipped,
// whether the read may be trusted to say who is gone, the grace period, the
// deprovision mode and the caps. It does no I/O.
func Decide(in Input, p Policy) Decision {
	in.Known = ownedOnly(in.Known, p.OwnedAttributes)
	users, skipped := keepLinkedHolders(in.Read.Users, in.Read.Skipped, in.Known)
	read := Read{Users: users, Skipped: skipped, Incomplete: in.Read.Incomplete}
	present, holdMissing := presentSkipped(skipped, in.Known)
	count, active := len(users), activeLinked(in.Known)
	if in.Partial {
		count, active = in.SourceCount, in.ActiveLinked
	}
	guards := p
	if in.Partial {
		// The count carried forward (the last full read's, with what the
		// changes add and remove) is what a full read would count now, so
		// minSourceFraction judges it as it would judge that read. The
		// canaries are in an incremental read only when they changed: one
		// is missing when the read names it gone.
		guards.CanaryDNs = nil
	}
	trips := sourceGuards(read, count, active, in.LastGood, guards)
	if in.Partial {
		if gone := goneCanaries(p.CanaryDNs, in.Deleted, in.Known, in.Read.Users); len(gone) > 0 {
			trips = append(trips, "canary entries not found: "+strings.Join(gone, "; "))
		}
	}
	plan := Compute(users, in.Known, Options{
		Now:                  in.Now,
		DeprovisionAfter:     p.DeprovisionAfter,
		DeprovisionAfterRuns: p.DeprovisionAfterRuns,
		TrustAbsence:         len(trips) == 0,
		Present:              present,
		HoldMissing:          holdMissing,
		Partial:              in.Partial,
		Deleted:              in.Deleted,
		Holders:              in.Holders,
	})
	blockRefused(&plan, in.Refused, in.Now)
	holdProtected(&plan, p.Protected)
	d := Decision{Users: users, Skipped: skipped}
	if p.NoDeprovision {
		for _, op := range plan.Deprovision {
			op.Reason += "; deprovision mode is none"
			plan.Held = append(plan.Held, op)
		}
		plan.Deprovision = nil
	}
	if trip := capGuard(len(plan.Deprovision), active, p); trip != "" {
		if p.AllowMassDeprovision {
			d.Overrides = append(d.Overrides, trip)
		} else {
			trips = append(trips, trip)
			plan.Held = append(plan.Held, plan.Deprovision...)
			plan.Deprovision = nil
		}
	}
	sortOps(plan.Held)
	d.Plan, d.Trips = plan, trips
	return d
}

// blockRefused moves out of the plan the operations Omni refused for good
// while the directory still asks for the very values it refused: sending
// them again could only be refused again. They are listed as blocked, with
// what the admin must do, until the entry changes or RefusalRetryAfter
// passes.
func blockRefused(p *Plan, refused map[string]Refusal, now time.Time) {
	if len(refused) == 0 {
		return
	}
	keep := func(ops []Op) []Op {
		out := ops[:0]
		for _, op := range ops {
			r, ok := refused[op.User.ID]
			if ok && r.Kind == op.Kind && r.DesiredHash == op.User.Hash() && now.Sub(r.LastTriedAt) < RefusalRetryAfter {
				op.Reason = fmt.Sprintf("%s; to fix: %s (refused %d time(s) since %s; tried again when the entry changes or after %s)",
					r.Reason, r.Action, r.Attempts, r.FirstAt.UTC().Format(time.RFC3339), RefusalRetryAfter)
				p.Blocked = append(p.Blocked, op)
				continue
			}
			out = append(out, op)
		}
		return out
	}
	p.Create, p.Update, p.Reactivate = keep(p.Create), keep(p.Update), keep(p.Reactivate)
	sortOps(p.Blocked)
}

// ReasonProtected is why a protected user is held.
const ReasonProtected = "protected (safety.protectedUsers)"

// holdProtected holds every deprovision, due or waiting, of a protected
// user, and stops its grace clock: no run may deactivate or delete it.
func holdProtected(p *Plan, protected []string) {
	if len(protected) == 0 {
		return
	}
	isProtected := func(op Op) bool { return slices.Contains(protected, strings.ToLower(op.User.UserName)) }
	var ids []string
	keep := func(ops []Op) []Op {
		out := ops[:0]
		for _, op := range ops {
			if isProtected(op) {
				op.Reason, op.Due = op.Reason+"; "+ReasonProtected, time.Time{}
				p.Held = append(p.Held, op)
				ids = append(ids, op.User.ID)
				continue
			}
			out = append(out, op)
		}
		return out
	}
	p.Deprovision, p.Waiting = keep(p.Deprovision), keep(p.Waiting)
	p.Marks = slices.DeleteFunc(p.Marks, func(m Mark) bool { return !m.FirstMissingAt.IsZero() && slices.Contains(ids, m.ID) })
}

// ownedOnly drops from the known users the attributes syncd no longer owns
// (a key removed from ldap.omniAttributes), so that their last values stay
// in Omni untouched instead of being planned as removals.
func ownedOnly(known map[string]identity.Linked, owned []string) map[string]identity.Linked {
	if owned == nil {
		return known
	}
	var out map[string]identity.Linked
	for id, k := range known {
		attrs := Owned(k.Attributes, owned)
		if len(attrs) == len(k.Attributes) {
			continue
		}
		if out == nil {
			out = maps.Clone(known)
		}
		k.Attributes = attrs
		k.Hash = k.User.Hash()
		out[id] = k
	}
	if out == nil {
		return known
	}
	return out
}

func activeLinked(known map[string]identity.Linked) int {
	n := 0
	for _, k := range known {
		if k.Status == identity.StatusActive {
			n++
		}
	}
	return n
}
