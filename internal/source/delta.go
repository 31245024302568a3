package source

import "github.com/syncd-dev/syncd/internal/identity"

// Delta is what an incremental read reports: the entries that changed since
// the read that gave Cookie's predecessor, mapped as a full read maps them,
// and the entries that are gone.
type Delta struct {
	// Users are entries added or modified, in scope and mapped.
	Users []identity.User
	// Skipped are entries added or modified that could not be mapped: they
	// are present, as in a full read.
	Skipped []identity.Skipped
	// Groups, in a read of the groups, are the group entries added or
	// modified, mapped but not flattened (Users and Skipped are then
	// empty).
	Groups []identity.GroupEntry
	// Deleted are the stable ids of entries deleted or moved out of scope.
	// They may name objects that were never in scope: Active Directory's
	// tombstones are of any object (a tombstone no longer shows its class
	// or place), and syncprov names the entries under the base DN that
	// changed without matching the filter; only the ids the caller knows
	// were in scope count.
	Deleted []string
	// DeletionsUnknown, when set, says why deletions could not be read (the
	// bind account may not see tombstones, say): Deleted is then empty
	// whatever was deleted, and deletions wait for the periodic full read.
	DeletionsUnknown string
	// Present, when PresentPhase is set, are the ids of every entry still
	// in scope (RFC 4533's refreshPresent phase): any known id not among
	// them, nor among Users, is gone.
	Present      []string
	PresentPhase bool
	// FullReadNeeded: the server cannot say what changed (a stale cookie,
	// e-syncRefreshRequired, another domain controller or a restored one);
	// the caller does a full read, which replaces the baseline.
	FullReadNeeded bool
	// Cookie is the position to resume from, stored only once the run that
	// consumed this delta has committed.
	Cookie []byte
	// Incomplete says why the read did not run to its end; an incomplete
	// delta changes nothing and the old cookie is kept.
	Incomplete string
	// Entries counts the entries the server sent.
	Entries int
}
