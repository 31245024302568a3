package syncer

import (
	"context"
	"slices"
	"strings"

	"github.com/syncd-dev/syncd/internal/identity"
	"github.com/syncd-dev/syncd/internal/state"
)

// groupWalk gathers the group entries an incremental run flattens: pool,
// with the changed entries in place of their stored ones and the deleted
// ones left out.
type groupWalk struct {
	r       *run
	changed map[string]identity.GroupEntry
	deleted map[string]bool
	pool    map[string]identity.GroupEntry
	// seen are the DNs (normalized) already walked from.
	seen map[string]bool
}

// add puts the current form of group id in the pool, and reports whether
// it is new there.
func (w *groupWalk) add(id string, stored identity.GroupEntry) bool {
	if _, ok := w.pool[id]; ok || w.deleted[id] {
		return false
	}
	e := stored
	if c, ok := w.changed[id]; ok {
		e = c
	}
	w.pool[id] = e
	return true
}

// fresh normalizes dns and keeps those not walked from yet.
func (w *groupWalk) fresh(dns []string) []string {
	var out []string
	for _, dn := range dns {
		if dn == "" {
			continue
		}
		k := identity.NormalizeDN(dn)
		if !w.seen[k] {
			w.seen[k] = true
			out = append(out, k)
		}
	}
	return out
}

// up adds the groups listing any of dns as a member, and the groups
// listing those, to the top.
func (w *groupWalk) up(ctx context.Context, dns []string) error {
	for frontier := w.fresh(dns); len(frontier) > 0; {
		found, err := w.r.store.GroupEntries(ctx, state.ByMember, frontier)
		if err != nil {
			return err
		}
		in := setOf(frontier)
		for id, e := range w.changed {
			if slices.ContainsFunc(e.Group.MemberDNs, func(dn string) bool { return in[identity.NormalizeDN(dn)] }) {
				found[id] = e
			}
		}
		var next []string
		for id, e := range found {
			if w.add(id, e) {
				next = append(next, e.Group.DN, w.pool[id].Group.DN)
			}
		}
		frontier = w.fresh(next)
	}
	return nil
}

// sameName adds the groups that share a name with the pool's, or with a
// changed or deleted group's former name.
func (w *groupWalk) sameName(ctx context.Context, names []string) error {
	slices.Sort(names)
	found, err := w.r.store.GroupEntries(ctx, state.ByName, slices.Compact(names))
	if err != nil {
		return err
	}
	for id, e := range found {
		w.add(id, e)
	}
	in := setOf(names)
	for id, e := range w.changed {
		if in[strings.ToLower(e.Group.Name)] {
			w.add(id, e)
		}
	}
	return nil
}

// down adds the member groups of the pool's groups, to the bottom, so that
// each can be flattened.
func (w *groupWalk) down(ctx context.Context) error {
	byDN := make(map[string]string, len(w.changed))
	for id, e := range w.changed {
		byDN[identity.NormalizeDN(e.Group.DN)] = id
	}
	w.seen = map[string]bool{}
	var start []string
	for _, e := range w.pool {
		w.seen[identity.NormalizeDN(e.Group.DN)] = true
		start = append(start, e.Group.MemberDNs...)
	}
	for frontier := w.fresh(start); len(frontier) > 0; {
		found, err := w.r.store.GroupEntries(ctx, state.ByDN, frontier)
		if err != nil {
			return err
		}
		for id := range found {
			// A changed group is found at its DN now, below, not at the
			// one stored.
			if _, ok := w.changed[id]; ok {
				delete(found, id)
			}
		}
		for _, dn := range frontier {
			if id, ok := byDN[dn]; ok {
				found[id] = w.changed[id]
			}
		}
		var next []string
		for id, e := range found {
			if w.add(id, e) {
				next = append(next, w.pool[id].Group.MemberDNs...)
			}
		}
		frontier = w.fresh(next)
	}
	return nil
}
