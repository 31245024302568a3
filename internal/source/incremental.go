package source

import (
	"context"
	"fmt"
)

// IncrementalMode says which mechanism reads only what changed, or "" when
// every run reads in full, and why: ldap.incremental picks one or leaves it
// to auto, which takes syncrepl when the server offers it for this scope.
func (d *Directory) IncrementalMode(ctx context.Context) (mechanism, reason string) {
	switch d.incremental {
	case IncrementalOff:
		return "", "ldap.incremental is off"
	case IncrementalUSN:
		if ok, why := d.USNSupported(ctx); ok {
			return IncrementalUSN, why
		} else {
			return "", "ldap.incremental is usn, but " + why
		}
	case IncrementalSyncrepl:
		if ok, why := d.SyncreplSupported(ctx); ok {
			return IncrementalSyncrepl, why
		} else {
			return "", "ldap.incremental is syncrepl, but " + why
		}
	case IncrementalAuto, "":
		if d.activeDirectory {
			if ok, why := d.USNSupported(ctx); ok {
				return IncrementalUSN, "auto, Active Directory: " + why
			} else {
				return "", "auto, Active Directory: " + why
			}
		}
		if ok, why := d.SyncreplSupported(ctx); ok {
			return IncrementalSyncrepl, "auto: " + why
		} else {
			return "", "auto: " + why
		}
	}
	return "", fmt.Sprintf("ldap.incremental %q is not known", d.incremental)
}

// ReadIncremental reads the changes since cookie with the mechanism
// IncrementalMode chose; a nil cookie reads from the start.
func (d *Directory) ReadIncremental(ctx context.Context, mechanism string, cookie []byte) (*Delta, []byte, error) {
	switch mechanism {
	case IncrementalSyncrepl:
		delta, err := d.ReadSyncrepl(ctx, cookie)
		if err != nil {
			return nil, nil, err
		}
		return delta, delta.Cookie, nil
	case IncrementalUSN:
		last, err := DecodeUSNMark(cookie)
		if err != nil {
			// A position this syncd cannot read: start afresh.
			last = USNMark{}
		}
		delta, mark, err := d.ReadUSN(ctx, last)
		if err != nil {
			return nil, nil, err
		}
		return delta, mark.Encode(), nil
	}
	return nil, nil, fmt.Errorf("incremental read %q is not supported", mechanism)
}

// GroupChangesProblem says why the groups cannot be read only as they
// change with the mechanism IncrementalMode chose, or "" when they can.
func (d *Directory) GroupChangesProblem(mechanism string) string {
	if mechanism != IncrementalSyncrepl {
		return fmt.Sprintf("only syncrepl reads groups as they change; with %s they are read in full", mechanism)
	}
	return d.groupSyncreplProblem()
}

// ReadGroupChanges reads the group entries changed since cookie (nil: every
// group entry, as a present phase) and returns them with the cookie to
// resume from.
func (d *Directory) ReadGroupChanges(ctx context.Context, mechanism string, cookie []byte) (*Delta, []byte, error) {
	if p := d.GroupChangesProblem(mechanism); p != "" {
		return nil, nil, fmt.Errorf("%w: %s", ErrSyncreplUnsupported, p)
	}
	delta, err := d.ReadGroupsSyncrepl(ctx, cookie)
	if err != nil {
		return nil, nil, err
	}
	return delta, delta.Cookie, nil
}
