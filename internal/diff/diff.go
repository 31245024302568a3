// Package diff plans a sync: given the users the directory wants and the users
// syncd has linked in Omni, it decides what to create, update, reactivate and
// deprovision. It is a pure function with no I/O, so the whole decision can be
// table- and property-tested, and a dry run shows exactly what a real run
// would do.
package diff

import (
	"fmt"
	"slices"
	"sort"
	"time"

	"github.com/syncd-dev/syncd/internal/identity"
)

// Kind is the kind of a planned operation.
type Kind string

const (
	Create      Kind = "create"
	Update      Kind = "update"
	Reactivate  Kind = "reactivate"
	Deprovision Kind = "deprovision"
)

// Reasons a linked user is planned for deprovisioning.
const (
	ReasonMissing  = "not in directory"
	ReasonDisabled = "disabled in directory"
	// ReasonSkipped: the entry is in scope but was skipped.
	ReasonSkipped = "in directory but skipped"
)

// FieldChange is one field that differs between what was last pushed to Omni
// and what the directory now says.
type FieldChange struct {
	Field  string `json:"field"`
	Before string `json:"before"`
	After  string `json:"after"`
}

// Op is one planned operation.
type Op struct {
	Kind Kind `json:"kind"`
	// User holds the desired values; for a deprovision, the values last pushed.
	User identity.User `json:"user"`
	// Known is the linked user, nil for a create.
	Known *identity.Linked `json:"-"`
	// Changes lists what an update or reactivation changes.
	Changes []FieldChange `json:"changes,omitempty"`
	// Reason says why a user is deprovisioned, waiting or held.
	Reason string `json:"reason,omitempty"`
	// Due is when a waiting user becomes due for deprovisioning (zero when
	// only a run count is awaited).
	Due time.Time `json:"due,omitzero"`
	// Sequenced operations (renames on a chain or cycle) must be applied
	// one after another in plan order: each frees an address the next
	// takes.
	Sequenced bool `json:"-"`
}

// Mark records, for a linked user, how long a good run has missed it. A zero
// FirstMissingAt clears the mark.
type Mark struct {
	ID             string
	FirstMissingAt time.Time
	MissingRuns    int
	// Reason is the absence's (ReasonMissing or ReasonDisabled).
	Reason string
}

// Options tune a plan.
type Options struct {
	Now time.Time
	// DeprovisionAfter is the grace period: a user missing (or disabled) for
	// less than this is not deprovisioned yet.
	DeprovisionAfter time.Duration
	// DeprovisionAfterRuns, when above zero, also requires that many
	// consecutive good runs to have missed the user.
	DeprovisionAfterRuns int
	// TrustAbsence says whether the source result may be read as "users not
	// in it are gone". When false (incomplete, empty or implausible source)
	// nothing is deprovisioned, no missing mark advances, and users that would
	// otherwise count as missing are listed in Held.
	TrustAbsence bool
	// Present lists linked users whose directory entry was read but could
	// not be mapped (skipped), keyed by directory id, with why. Such a user
	// is in the directory: it is held, never deprovisioned and never marked
	// missing.
	Present map[string]string
	// HoldMissing, when not empty, says why no user may be taken as absent
	// this run (an entry was skipped that matches no linked user, so it may
	// be any of them): every "not in directory" deprovision is held.
	HoldMissing string
	// Partial says desired holds only the entries that changed since the
	// last read, and known only the users they concern: a known user not
	// in desired is gone only when Deleted says so, or when it was already
	// missing (its grace clock runs on); any other is unchanged.
	Partial bool
	Deleted map[string]bool
	// Holders are active linked users beyond known that hold emails the
	// changed entries carry, so that no change takes another's email.
	Holders map[string]identity.Linked
}

// Plan is the outcome of planning.
type Plan struct {
	Create      []Op `json:"create"`
	Update      []Op `json:"update"`
	Reactivate  []Op `json:"reactivate"`
	Deprovision []Op `json:"deprovision"`
	// Waiting users are missing or disabled but inside the grace period.
	Waiting []Op `json:"waiting"`
	// Held users would be missing, but the source result is not trusted for
	// absences this run, or their entry is present but was skipped.
	Held []Op `json:"held"`
	// Blocked operations are not sent this run, with the reason: a create
	// whose email another linked user still holds, or an operation Omni
	// refused for good that the directory has not changed since.
	Blocked []Op `json:"blocked"`
	// Unchanged counts linked, active users whose content matches.
	Unchanged int `json:"unchanged"`
	// Ignored counts disabled directory users that syncd never linked, or
	// that it already deprovisioned: nothing is to be done for them.
	Ignored int `json:"ignored"`
	// Marks are the missing-mark changes to store after a good run.
	Marks []Mark `json:"-"`
}

// Changes reports whether the plan would send anything to Omni.
func (p *Plan) Changes() bool {
	return len(p.Create)+len(p.Update)+len(p.Reactivate)+len(p.Deprovision) > 0
}

// Compute plans a sync of desired (the directory's users, keyed by ID, at most
// one per ID) against known (linked users keyed by directory ID).
func Compute(desired []identity.User, known map[string]identity.Linked, opts Options) Plan {
	var p Plan
	seen := make(map[string]bool, len(desired))
	holders := activeUserNames(known)
	for _, h := range opts.Holders {
		if h.Status == identity.StatusActive {
			holders[h.UserName] = holder{ID: h.ID, SCIMID: h.SCIMID}
		}
	}
	for _, u := range desired {
		seen[u.ID] = true
		k, linked := known[u.ID]
		switch {
		case !linked:
			switch {
			case !u.Active:
				p.Ignored++
			case heldByOther(holders, u):
				p.Blocked = append(p.Blocked, Op{Kind: Create, User: u, Reason: emailHeld(holders, u)})
			default:
				p.Create = append(p.Create, Op{Kind: Create, User: u})
			}
		case k.Status == identity.StatusDeprovisioned:
			kk := k
			switch {
			case !u.Active:
				p.Ignored++
			case heldByOther(holders, u):
				p.Blocked = append(p.Blocked, Op{Kind: Reactivate, User: u, Known: &kk, Reason: emailHeld(holders, u)})
			default:
				p.Reactivate = append(p.Reactivate, Op{Kind: Reactivate, User: u, Known: &kk, Changes: FieldChanges(k.User, u)})
			}
		case !u.Active:
			p.absent(k, ReasonDisabled, opts)
		default:
			if !k.FirstMissingAt.IsZero() || k.MissingRuns > 0 {
				p.Marks = append(p.Marks, Mark{ID: k.ID})
			}
			if u.Hash() == k.Hash {
				p.Unchanged++
				continue
			}
			kk := k
			p.Update = append(p.Update, Op{Kind: Update, User: u, Known: &kk, Changes: FieldChanges(k.User, u)})
		}
	}
	for id, k := range known {
		if seen[id] || k.Status != identity.StatusActive {
			continue
		}
		why, skippedNow := opts.Present[id]
		if opts.Partial && !skippedNow && !opts.Deleted[id] && k.FirstMissingAt.IsZero() && k.MissingRuns == 0 {
			continue // unchanged since the last read
		}
		if skippedNow {
			// In the directory, only unmappable: present, so the grace
			// clock it may have started is reset, as for any present user.
			kk := k
			p.Held = append(p.Held, Op{Kind: Deprovision, User: k.User, Known: &kk, Reason: ReasonSkipped + ": " + why})
			if !k.FirstMissingAt.IsZero() || k.MissingRuns > 0 {
				p.Marks = append(p.Marks, Mark{ID: k.ID})
			}
			continue
		}
		if opts.HoldMissing != "" {
			kk := k
			p.Held = append(p.Held, Op{Kind: Deprovision, User: k.User, Known: &kk, Reason: ReasonMissing + "; " + opts.HoldMissing})
			continue
		}
		reason := ReasonMissing
		if opts.Partial && !opts.Deleted[id] && k.MissingReason != "" {
			// Not read again since it was found so.
			reason = k.MissingReason
		}
		p.absent(k, reason, opts)
	}
	for _, ops := range [][]Op{p.Create, p.Update, p.Reactivate, p.Deprovision, p.Waiting, p.Held, p.Blocked} {
		sortOps(ops)
	}
	orderRenames(&p, holders)
	sort.Slice(p.Marks, func(i, j int) bool { return p.Marks[i].ID < p.Marks[j].ID })
	return p
}

// absent plans for a linked, active user that the directory no longer offers
// as an active user in scope.
func (p *Plan) absent(k identity.Linked, reason string, opts Options) {
	kk := k
	op := Op{Kind: Deprovision, User: k.User, Known: &kk, Reason: reason}
	if !opts.TrustAbsence {
		p.Held = append(p.Held, op)
		return
	}
	first := k.FirstMissingAt
	if first.IsZero() {
		first = opts.Now
	}
	runs := k.MissingRuns + 1
	dueByTime := opts.Now.Sub(first) >= opts.DeprovisionAfter
	dueByRuns := runs >= opts.DeprovisionAfterRuns
	if dueByTime && dueByRuns {
		p.Deprovision = append(p.Deprovision, op)
		return
	}
	if opts.DeprovisionAfter > 0 {
		op.Due = first.Add(opts.DeprovisionAfter)
	}
	p.Waiting = append(p.Waiting, op)
	p.Marks = append(p.Marks, Mark{ID: k.ID, FirstMissingAt: first, MissingRuns: runs, Reason: reason})
}

// activeUserNames indexes the active linked users by userName: Omni holds
// each email for one user, and while a linked user holds it, no other
// directory entry may take it.
func activeUserNames(known map[string]identity.Linked) map[string]holder {
	m := make(map[string]holder, len(known))
	for _, k := range known {
		if k.Status == identity.StatusActive {
			m[k.UserName] = holder{ID: k.ID, SCIMID: k.SCIMID}
		}
	}
	return m
}

// holder is the linked user holding an email: what a plan says of it.
type holder struct{ ID, SCIMID string }

func heldByOther(holders map[string]holder, u identity.User) bool {
	h, ok := holders[u.UserName]
	return ok && h.ID != u.ID
}

func emailHeld(holders map[string]holder, u identity.User) string {
	h := holders[u.UserName]
	return fmt.Sprintf("email %s is held by linked user %s (Omni %s); waiting until that user is deprovisioned", u.UserName, h.ID, h.SCIMID)
}

func sortOps(ops []Op) {
	sort.Slice(ops, func(i, j int) bool {
		if ops[i].User.UserName != ops[j].User.UserName {
			return ops[i].User.UserName < ops[j].User.UserName
		}
		return ops[i].User.ID < ops[j].User.ID
	})
}

// AttributePrefix begins the Field of a change to an Omni user attribute,
// followed by the attribute's key.
const AttributePrefix = "attributes."

// Owned returns the attributes whose keys are in owned: the ones syncd maps
// and so may set or remove. Keys anyone else set are left out, so they are
// never compared, sent or reset. A nil owned owns every key. When every key
// is owned the map itself is returned, not a copy: callers do not modify it.
func Owned(attrs map[string]string, owned []string) map[string]string {
	if owned == nil || len(attrs) == 0 {
		return attrs
	}
	all := true
	for k := range attrs {
		if !slices.Contains(owned, k) {
			all = false
			break
		}
	}
	if all {
		return attrs // the common case: nothing to drop, nothing to copy
	}
	var out map[string]string
	for k, v := range attrs {
		if slices.Contains(owned, k) {
			if out == nil {
				out = make(map[string]string, len(attrs))
			}
			out[k] = v
		}
	}
	return out
}

// FieldChanges lists the fields that differ between two versions of a user,
// in a fixed order: userName, displayName, then attributes by key.
func FieldChanges(before, after identity.User) []FieldChange {
	var cs []FieldChange
	if before.UserName != after.UserName {
		cs = append(cs, FieldChange{"userName", before.UserName, after.UserName})
	}
	if before.DisplayName != after.DisplayName {
		cs = append(cs, FieldChange{"displayName", before.DisplayName, after.DisplayName})
	}
	keys := make(map[string]bool, len(before.Attributes)+len(after.Attributes))
	for k := range before.Attributes {
		keys[k] = true
	}
	for k := range after.Attributes {
		keys[k] = true
	}
	sorted := make([]string, 0, len(keys))
	for k := range keys {
		sorted = append(sorted, k)
	}
	sort.Strings(sorted)
	for _, k := range sorted {
		b, a := before.Attributes[k], after.Attributes[k]
		if b != a {
			cs = append(cs, FieldChange{AttributePrefix + k, b, a})
		}
	}
	return cs
}
