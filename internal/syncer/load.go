package syncer

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/syncd-dev/syncd/internal/identity"
	"github.com/syncd-dev/syncd/internal/sink"
)

// lastGood is the last good run's count of users in scope, -1 if none.
func (r *run) lastGood(ctx context.Context) (int, error) {
	last, ok, err := r.store.LastGoodRun(ctx)
	if err != nil {
		return 0, fmt.Errorf("load last good run: %w", err)
	}
	if !ok {
		return -1, nil
	}
	return last.SourceCount, nil
}

// userSizer is a source that can size a full read for the users it will
// find.
type userSizer interface{ ExpectUsers(n int) }

// loading is the state loaded while the directory is read.
type loading struct {
	done  chan struct{}
	known map[string]identity.Linked
	err   error
}

// startLoadKnown loads the known users from the store in the background.
func (r *run) startLoadKnown(ctx context.Context) *loading {
	l := &loading{done: make(chan struct{})}
	go func() {
		defer close(l.done)
		l.known, l.err = r.loadKnown(ctx, nil)
	}()
	return l
}

// wait returns the loaded state once it is there; it may be called again.
func (l *loading) wait() (map[string]identity.Linked, error) {
	<-l.done
	return l.known, l.err
}

// loadKnown returns the linked users. Without a database (dry run only) it
// matches the directory to a listing of Omni users by userName instead.
func (r *run) loadKnown(ctx context.Context, users []identity.User) (map[string]identity.Linked, error) {
	if !r.fromOmni {
		known, err := r.store.LoadUsers(ctx)
		if err != nil {
			return nil, fmt.Errorf("load state: %w", err)
		}
		return known, nil
	}
	if r.lister == nil {
		return nil, errors.New("a dry run without a database needs an Omni listing")
	}
	byName := make(map[string]sink.User)
	if err := r.lister.List(ctx, func(u sink.User) error {
		byName[strings.ToLower(u.UserName)] = u
		return nil
	}); err != nil {
		return nil, fmt.Errorf("list Omni users: %w", err)
	}
	known := make(map[string]identity.Linked)
	for _, u := range users {
		ou, ok := byName[u.UserName]
		if !ok {
			continue
		}
		delete(byName, u.UserName)
		known[u.ID] = linkFromOmni(u.ID, ou, identity.OriginAdopted)
	}
	for _, ou := range byName {
		r.rep.Unmanaged = append(r.rep.Unmanaged, ou)
	}
	sortUsers(r.rep.Unmanaged)
	return known, nil
}

// linkFromOmni builds the link for directory user id from what Omni holds,
// so that the plan compares the directory with Omni's actual values.
func linkFromOmni(id string, ou sink.User, origin identity.Origin) identity.Linked {
	u := identity.User{ID: id, UserName: strings.ToLower(ou.UserName), DisplayName: ou.DisplayName, Active: ou.Active, Attributes: ou.Attributes}
	st := identity.StatusActive
	if !ou.Active {
		st = identity.StatusDeprovisioned
	}
	return identity.Linked{User: u, SCIMID: ou.ID, Hash: u.Hash(), Status: st, Origin: origin}
}
