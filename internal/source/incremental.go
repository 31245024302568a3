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
