package diff

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"

	"github.com/syncd-dev/syncd/internal/identity"
)

// ReasonTempName marks the first step of a rename cycle.
const ReasonTempName = "temporary userName, to free the address another user in a rename cycle takes"

// orderRenames orders the updates that change a userName so that each
// address is freed before it is taken: Omni holds an email for one user, so
// in a chain (A takes B's address while B takes C's) B must go first, and a
// cycle (A and B swap) cannot go at all without a temporary name. Every
// address is held by at most one user and wanted by at most one, so the
// renames form disjoint chains and cycles. Updates on none keep their order
// and go first; each chain follows, last link first; each cycle
// starts by moving one user to a temporary name and ends by giving it its
// target. A rename to an address a linked user keeps (one being
// deprovisioned this run, say) waits, as a create would.
func orderRenames(p *Plan, holders map[string]holder) {
	renames := map[string]int{} // the current userName of a renaming user -> its index
	for i, op := range p.Update {
		if op.Known.UserName != op.User.UserName {
			renames[op.Known.UserName] = i
		}
	}
	if len(renames) == 0 {
		return
	}
	// next[i] is the rename that must go before rename i: the one moving
	// away from the address i takes.
	next := map[int]int{}
	var kept []Op
	for i, op := range p.Update {
		if _, renaming := renames[op.Known.UserName]; !renaming {
			continue
		}
		j, freed := renames[op.User.UserName]
		switch {
		case freed:
			next[i] = j
		case heldByOther(holders, op.User):
			p.Blocked = append(p.Blocked, Op{Kind: Update, User: op.User, Known: op.Known, Changes: op.Changes, Reason: emailHeld(holders, op.User)})
			next[i] = -1 // blocked: nothing that waits on it may go either
		}
	}
	// Only renames on a chain or cycle move; the others keep their place.
	involved := map[int]bool{}
	for i, j := range next {
		involved[i] = true
		if j >= 0 {
			involved[j] = true
		}
	}
	kept = kept[:0]
	for i, op := range p.Update {
		if !involved[i] {
			kept = append(kept, op)
		}
	}
	// A rename blocked above leaves everyone waiting on it blocked too:
	// their addresses are never freed this run.
	blocked := func(i int) bool {
		for seen := 0; seen <= len(p.Update); seen++ {
			j, ok := next[i]
			switch {
			case !ok:
				return false
			case j == -1:
				return true
			}
			i = j
		}
		return false // a cycle
	}
	done := map[int]bool{}
	var ordered []Op
	// emit appends rename i after everything it waits on.
	var emit func(i int)
	emit = func(i int) {
		if done[i] {
			return
		}
		done[i] = true
		if j, ok := next[i]; ok && j >= 0 {
			emit(j)
		}
		ordered = append(ordered, p.Update[i])
	}
	for i, op := range p.Update {
		if !involved[i] || done[i] {
			continue
		}
		if blocked(i) {
			done[i] = true
			if next[i] != -1 {
				p.Blocked = append(p.Blocked, Op{Kind: Update, User: op.User, Known: op.Known, Changes: op.Changes,
					Reason: "waits for a rename that is blocked: " + op.User.UserName + " is not freed this run"})
			}
			continue
		}
		if c := cycle(i, next); c != nil {
			ordered = append(ordered, breakCycle(p.Update, c, done)...)
			continue
		}
		emit(i)
	}
	for i := range ordered {
		ordered[i].Sequenced = true
	}
	p.Update = append(kept, ordered...)
	sortOps(p.Blocked)
}

// cycle returns the renames of the cycle i is on, starting at i, or nil when
// i is on a chain.
func cycle(i int, next map[int]int) []int {
	c := []int{i}
	for j, ok := next[i]; ok && j >= 0; j, ok = next[j] {
		if j == i {
			return c
		}
		if len(c) > len(next) {
			return nil
		}
		c = append(c, j)
	}
	return nil
}

// breakCycle renames the cycle's first user to a temporary name, then each
// user in reverse order takes the address just freed, and last the first
// user takes its target.
func breakCycle(updates []Op, c []int, done map[int]bool) []Op {
	first := updates[c[0]]
	temp := tempName(*first.Known)
	tempUser := first.Known.User
	tempUser.UserName = temp
	known := *first.Known
	out := []Op{{Kind: Update, User: tempUser, Known: &known, Reason: ReasonTempName,
		Changes: []FieldChange{{"userName", first.Known.UserName, temp}}}}
	for k := len(c) - 1; k >= 1; k-- {
		out = append(out, updates[c[k]])
	}
	atTemp := *first.Known
	atTemp.User = tempUser
	atTemp.Hash = tempUser.Hash()
	final := first
	final.Known = &atTemp
	final.Changes = FieldChanges(tempUser, first.User)
	out = append(out, final)
	for _, i := range c {
		done[i] = true
	}
	return out
}

// tempName is a userName no one holds: derived from the Omni id, so a run
// that stops half-way and the next agree on it, in the user's own domain,
// which Omni accepts for it.
func tempName(k identity.Linked) string {
	sum := sha256.Sum256([]byte(k.SCIMID))
	domain := k.UserName[strings.LastIndexByte(k.UserName, '@')+1:]
	return "syncd-rename-" + hex.EncodeToString(sum[:6]) + "@" + domain
}
