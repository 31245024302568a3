package syncer

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/syncd-dev/syncd/internal/identity"
	"github.com/syncd-dev/syncd/internal/state"
)

// Store is the state a run reads and writes; *state.Store implements it. A
// dry run wraps it in dryStore, which reads through and discards every
// write, just as it wraps the sink, so a dry run is the real run's code with
// nothing kept.
type Store interface {
	stateReader
	journal
	runRecorder
	marker
}

// stateReader is what a run reads before it decides.
type stateReader interface {
	MigrationStatus(ctx context.Context) (applied, pending []string, err error)
	LoadUsers(ctx context.Context) (map[string]identity.Linked, error)
	LastGoodRun(ctx context.Context) (state.Run, bool, error)
	PendingOps(ctx context.Context) ([]state.Op, error)
	HeldOps(ctx context.Context) (map[string]state.HeldOp, error)
	LoadGroups(ctx context.Context) (map[string]identity.LinkedGroup, error)
	LastGoodGroupCount(ctx context.Context) (int, bool, error)
	LoadCursor(ctx context.Context, name string) (state.Cursor, bool, error)
	LoadChangedUsers(ctx context.Context, ids, userNames []string) (changed, holders map[string]identity.Linked, err error)
	CountActiveUsers(ctx context.Context) (int, error)
	LinkedTo(ctx context.Context, scimID string) (string, bool, error)
	ActiveUserIDs(ctx context.Context) ([]string, error)
	SkippedAmong(ctx context.Context, ids []string) ([]string, error)
	GroupEntries(ctx context.Context, by state.GroupEntryKey, keys []string) (map[string]identity.GroupEntry, error)
	GroupEntryIDs(ctx context.Context) ([]string, error)
	SkippedGroupEntries(ctx context.Context) ([]string, error)
	LinkedAt(ctx context.Context, dnKeys, ids []string) (map[string]identity.Linked, error)
	DirectoryUsers(ctx context.Context, dnKeys, ids []string) (map[string]state.DirectoryUser, error)
	CountGroupEntries(ctx context.Context, entries []identity.GroupEntry, deleted []string) (int, error)
	LoadChangedGroups(ctx context.Context, ids []string) (map[string]identity.LinkedGroup, error)
	GroupCounts(ctx context.Context) (groups, memberships int, err error)
	GroupLinkedTo(ctx context.Context, scimID, self string) (string, error)
}

// journal records each write before it is sent and completes it, with the
// state change and the audit row, after the answer.
type journal interface {
	BeginOp(ctx context.Context, op state.Op) (state.Op, error)
	CompleteOp(ctx context.Context, op state.Op, link *identity.Linked, ev state.AuditEvent) error
	CompleteGroupOp(ctx context.Context, op state.Op, g *identity.LinkedGroup, ev state.AuditEvent) error
}

// runRecorder holds the run lock and records the run and its audit events.
type runRecorder interface {
	TakeLock(ctx context.Context) (*state.Lock, bool, error)
	CheckAuditIntegrity(ctx context.Context) error
	StartRun(ctx context.Context, r state.Run) (state.Run, error)
	FinishRun(ctx context.Context, r state.Run) error
	Audit(ctx context.Context, evs ...state.AuditEvent) error
	RecordSkips(ctx context.Context, runID int64, at time.Time, skips []identity.Skipped, complete bool) (int, error)
}

// marker keeps what a run learnt about users beyond their values: how long
// they have been missing, and which operations Omni refused for good.
type marker interface {
	SetMissing(ctx context.Context, marks []state.MissingMark) error
	HoldOp(ctx context.Context, op state.HeldOp) error
	ReleaseHeldOps(ctx context.Context, ldapIDs ...string) error
	SetGroupMissing(ctx context.Context, marks []state.MissingMark) error
	DropMemberships(ctx context.Context, userIDs []string) error
	SavePosition(ctx context.Context, p state.Position) error
	SetUserDNs(ctx context.Context, dns map[string]string) error
}

var _ Store = (*state.Store)(nil)

// dryStore reads through to the real state and discards every write. It
// takes no lock and settles nothing (settling asks Omni). Against a database
// syncd never migrated it reads as empty state, so a dry run can plan there
// without creating a table.
type dryStore struct {
	Store
	empty bool
}

func newDryStore(ctx context.Context, st Store) (*dryStore, error) {
	applied, pending, err := st.MigrationStatus(ctx)
	if err != nil {
		return nil, fmt.Errorf("load state: %w", err)
	}
	if len(applied) > 0 && len(pending) > 0 {
		return nil, fmt.Errorf("load state: the database lacks migrations %s; run syncd migrate", strings.Join(pending, ", "))
	}
	return &dryStore{Store: st, empty: len(applied) == 0}, nil
}

func (d *dryStore) LoadUsers(ctx context.Context) (map[string]identity.Linked, error) {
	if d.empty {
		return map[string]identity.Linked{}, nil
	}
	return d.Store.LoadUsers(ctx)
}

func (d *dryStore) LastGoodRun(ctx context.Context) (state.Run, bool, error) {
	if d.empty {
		return state.Run{}, false, nil
	}
	return d.Store.LastGoodRun(ctx)
}

func (d *dryStore) HeldOps(ctx context.Context) (map[string]state.HeldOp, error) {
	if d.empty {
		return map[string]state.HeldOp{}, nil
	}
	return d.Store.HeldOps(ctx)
}

func (d *dryStore) LoadGroups(ctx context.Context) (map[string]identity.LinkedGroup, error) {
	if d.empty {
		return map[string]identity.LinkedGroup{}, nil
	}
	return d.Store.LoadGroups(ctx)
}

func (d *dryStore) LastGoodGroupCount(ctx context.Context) (int, bool, error) {
	if d.empty {
		return 0, false, nil
	}
	return d.Store.LastGoodGroupCount(ctx)
}

func (d *dryStore) LoadCursor(ctx context.Context, name string) (state.Cursor, bool, error) {
	if d.empty {
		return state.Cursor{}, false, nil
	}
	return d.Store.LoadCursor(ctx, name)
}

func (d *dryStore) LoadChangedUsers(ctx context.Context, ids, names []string) (map[string]identity.Linked, map[string]identity.Linked, error) {
	if d.empty {
		return map[string]identity.Linked{}, map[string]identity.Linked{}, nil
	}
	return d.Store.LoadChangedUsers(ctx, ids, names)
}

func (d *dryStore) CountActiveUsers(ctx context.Context) (int, error) {
	if d.empty {
		return 0, nil
	}
	return d.Store.CountActiveUsers(ctx)
}

func (d *dryStore) SkippedAmong(ctx context.Context, ids []string) ([]string, error) {
	if d.empty {
		return nil, nil
	}
	return d.Store.SkippedAmong(ctx, ids)
}

func (d *dryStore) ActiveUserIDs(ctx context.Context) ([]string, error) {
	if d.empty {
		return nil, nil
	}
	return d.Store.ActiveUserIDs(ctx)
}

func (d *dryStore) LinkedTo(ctx context.Context, scimID string) (string, bool, error) {
	if d.empty {
		return "", false, nil
	}
	return d.Store.LinkedTo(ctx, scimID)
}

func (d *dryStore) GroupEntries(ctx context.Context, by state.GroupEntryKey, keys []string) (map[string]identity.GroupEntry, error) {
	if d.empty {
		return map[string]identity.GroupEntry{}, nil
	}
	return d.Store.GroupEntries(ctx, by, keys)
}

func (d *dryStore) SkippedGroupEntries(ctx context.Context) ([]string, error) {
	if d.empty {
		return nil, nil
	}
	return d.Store.SkippedGroupEntries(ctx)
}

func (d *dryStore) GroupEntryIDs(ctx context.Context) ([]string, error) {
	if d.empty {
		return nil, nil
	}
	return d.Store.GroupEntryIDs(ctx)
}

func (d *dryStore) LinkedAt(ctx context.Context, dnKeys, ids []string) (map[string]identity.Linked, error) {
	if d.empty {
		return map[string]identity.Linked{}, nil
	}
	return d.Store.LinkedAt(ctx, dnKeys, ids)
}

func (d *dryStore) DirectoryUsers(ctx context.Context, dnKeys, ids []string) (map[string]state.DirectoryUser, error) {
	if d.empty {
		return map[string]state.DirectoryUser{}, nil
	}
	return d.Store.DirectoryUsers(ctx, dnKeys, ids)
}

func (d *dryStore) CountGroupEntries(ctx context.Context, entries []identity.GroupEntry, deleted []string) (int, error) {
	if d.empty {
		return 0, nil
	}
	return d.Store.CountGroupEntries(ctx, entries, deleted)
}

func (d *dryStore) LoadChangedGroups(ctx context.Context, ids []string) (map[string]identity.LinkedGroup, error) {
	if d.empty {
		return map[string]identity.LinkedGroup{}, nil
	}
	return d.Store.LoadChangedGroups(ctx, ids)
}

func (d *dryStore) GroupCounts(ctx context.Context) (int, int, error) {
	if d.empty {
		return 0, 0, nil
	}
	return d.Store.GroupCounts(ctx)
}

func (d *dryStore) GroupLinkedTo(ctx context.Context, scimID, self string) (string, error) {
	if d.empty {
		return "", nil
	}
	return d.Store.GroupLinkedTo(ctx, scimID, self)
}

func (d *dryStore) SavePosition(context.Context, state.Position) error { return nil }

func (d *dryStore) PendingOps(context.Context) ([]state.Op, error) { return nil, nil }
func (d *dryStore) CompleteGroupOp(context.Context, state.Op, *identity.LinkedGroup, state.AuditEvent) error {
	return nil
}
func (d *dryStore) SetGroupMissing(context.Context, []state.MissingMark) error { return nil }
func (d *dryStore) DropMemberships(context.Context, []string) error            { return nil }

// TakeLock takes no lock: a nil *state.Lock is always alive.
func (d *dryStore) TakeLock(context.Context) (*state.Lock, bool, error) { return nil, true, nil }
func (d *dryStore) CheckAuditIntegrity(context.Context) error           { return nil }
func (d *dryStore) StartRun(_ context.Context, r state.Run) (state.Run, error) {
	return r, nil
}
func (d *dryStore) FinishRun(context.Context, state.Run) error               { return nil }
func (d *dryStore) Audit(context.Context, ...state.AuditEvent) error         { return nil }
func (d *dryStore) BeginOp(_ context.Context, op state.Op) (state.Op, error) { return op, nil }
func (d *dryStore) CompleteOp(context.Context, state.Op, *identity.Linked, state.AuditEvent) error {
	return nil
}
func (d *dryStore) RecordSkips(context.Context, int64, time.Time, []identity.Skipped, bool) (int, error) {
	return 0, nil
}
func (d *dryStore) SetMissing(context.Context, []state.MissingMark) error { return nil }
func (d *dryStore) SetUserDNs(context.Context, map[string]string) error   { return nil }
func (d *dryStore) HoldOp(context.Context, state.HeldOp) error            { return nil }
func (d *dryStore) ReleaseHeldOps(context.Context, ...string) error       { return nil }
