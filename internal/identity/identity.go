// Package identity defines the user value that the directory side and the Omni
// side agree on: how a directory entry is named, normalised and fingerprinted,
// and what syncd remembers about a user it has linked to Omni. It does no I/O,
// so every other package can depend on it.
package identity

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/mail"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// User is one directory user as Omni should see it.
type User struct {
	// ID is the directory's stable id (entryUUID, objectGUID in canonical
	// form, ipaUniqueID, nsUniqueId). Users are keyed by it, never by DN or
	// email, so renames and email changes are updates.
	ID string `json:"id"`
	// DN is where the entry was found; informational only.
	DN string `json:"dn,omitempty"`
	// UserName is the Omni userName: a lower-cased email address.
	UserName    string `json:"userName"`
	DisplayName string `json:"displayName"`
	GivenName   string `json:"givenName,omitempty"`
	FamilyName  string `json:"familyName,omitempty"`
	// Active is false when the directory marks the account disabled.
	Active bool `json:"active"`
	// Attributes are Omni user attributes (urn:omni:params:1.0:UserAttribute),
	// keyed by the attribute's reference id in Omni. Users with equal
	// attributes may share one map (see AttributeSet): it is never modified
	// in place, only replaced.
	Attributes map[string]string `json:"attributes,omitempty"`
	// Login is the account name (uid, sAMAccountName) that memberUid groups
	// list members by; it is not sent to Omni.
	Login string `json:"login,omitempty"`
}

// Group is one directory group as Omni should see it: its members are
// users only (Omni has no nested groups), so members of member groups are
// already flattened in.
type Group struct {
	// ID is the group's stable id, as for users; a renamed group keeps it.
	ID string `json:"id"`
	DN string `json:"dn,omitempty"`
	// Name becomes the Omni group's displayName.
	Name string `json:"name"`
	// MemberDNs are the DNs of the group's members, direct and through
	// member groups, that are not themselves groups read in scope: users,
	// or entries the user read may not know.
	MemberDNs []string `json:"memberDNs,omitempty"`
	// MemberLogins are the member account names of a memberUid group,
	// matched to users by User.Login.
	MemberLogins []string `json:"memberLogins,omitempty"`
}

// GroupEntry is one group entry as mapped, before flattening. Group holds
// the direct members; it is filled as far as the entry could be read even
// when Skip is set, so that a skipped group is still recognised, and
// expanded, as a member of other groups.
type GroupEntry struct {
	Group Group
	Skip  *Skipped
}

// Hash fingerprints what syncd sends to Omni for the user: userName,
// displayName and the Omni user attributes. Active state is tracked apart,
// because it drives deprovisioning rather than updates. Equal content gives an
// equal hash whatever the map order.
func (u User) Hash() string {
	// Length-prefix every field ("<len>:<value>;") so that no two distinct
	// users encode alike.
	var stack [256]byte
	b := stack[:0]
	field := func(s string) {
		b = strconv.AppendInt(b, int64(len(s)), 10)
		b = append(b, ':')
		b = append(b, s...)
		b = append(b, ';')
	}
	field(u.UserName)
	field(u.DisplayName)
	if len(u.Attributes) > 0 {
		keys := make([]string, 0, len(u.Attributes))
		for k := range u.Attributes {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			field(k)
			field(u.Attributes[k])
		}
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// Status is the lifecycle of a user syncd has linked to Omni.
type Status string

const (
	// StatusActive: syncd created or adopted the user and it is active in Omni.
	StatusActive Status = "active"
	// StatusDeprovisioned: syncd deactivated or deleted the user in Omni.
	StatusDeprovisioned Status = "deprovisioned"
)

// Origin says how a linked user came under syncd's management.
type Origin string

const (
	OriginCreated Origin = "created"
	OriginAdopted Origin = "adopted"
)

// Linked is what syncd remembers about a user it manages in Omni: the values
// it last pushed (in User), the Omni id, and how long the user has been
// missing from the directory.
type Linked struct {
	User
	SCIMID string `json:"scimId"`
	// Hash is User.Hash() of the values last pushed to Omni.
	Hash   string `json:"hash"`
	Status Status `json:"status"`
	Origin Origin `json:"origin"`
	// FirstMissingAt is when a good run first did not find the user in scope
	// (or found it disabled); zero while the user is present and enabled.
	FirstMissingAt time.Time `json:"firstMissingAt,omitzero"`
	// MissingRuns counts consecutive good runs that missed the user;
	// MissingReason says how (not in the directory, or disabled there).
	MissingRuns   int    `json:"missingRuns,omitempty"`
	MissingReason string `json:"missingReason,omitempty"`
}

// GroupStatus is the lifecycle of a group syncd has linked to Omni.
type GroupStatus string

const (
	GroupActive  GroupStatus = "active"
	GroupDeleted GroupStatus = "deleted"
)

// LinkedGroup is what syncd remembers about a group it manages in Omni: the
// Omni id and name, and the members syncd put there (directory user ids),
// which are the only members it may remove; members added by hand in Omni
// are not in it and stay.
type LinkedGroup struct {
	ID     string      `json:"id"`
	SCIMID string      `json:"scimId"`
	Name   string      `json:"name"`
	Status GroupStatus `json:"status"`
	Origin Origin      `json:"origin"`
	// Members are the directory ids of the users syncd manages in the
	// group, sorted.
	Members []string `json:"members,omitempty"`
	// FirstMissingAt and MissingRuns are the grace clock, as for users.
	FirstMissingAt time.Time `json:"firstMissingAt,omitzero"`
	MissingRuns    int       `json:"missingRuns,omitempty"`
}

// SkipReason is why a directory entry could not become a User.
type SkipReason string

const (
	SkipNoID           SkipReason = "no_id"
	SkipNoEmail        SkipReason = "no_email"
	SkipInvalidEmail   SkipReason = "invalid_email"
	SkipDuplicateEmail SkipReason = "duplicate_email"
	SkipInvalidUTF8    SkipReason = "invalid_utf8"
	SkipOversized      SkipReason = "oversized_value"
	SkipDuplicateID    SkipReason = "duplicate_id"
	// SkipNULByte: PostgreSQL cannot store a NUL in text, and Omni has no
	// use for one; the entry is skipped rather than the value altered.
	SkipNULByte SkipReason = "nul_byte"
)

// Skipped is a directory entry left out of a run, with the reason.
type Skipped struct {
	DN     string     `json:"dn"`
	ID     string     `json:"id,omitempty"`
	Reason SkipReason `json:"reason"`
	Detail string     `json:"detail,omitempty"`
	// Candidate is the user the entry maps to when only a conflict with
	// another entry (a shared email) kept it out, so that the planner can
	// keep the entry already linked to that email in sync.
	Candidate *User `json:"-"`
}

// MaxValueBytes bounds any single mapped value; Omni and the audit log have no
// use for larger ones, and an oversized value is more likely corruption.
const MaxValueBytes = 1024

var (
	ErrNoEmail      = errors.New("no email")
	ErrInvalidEmail = errors.New("invalid email")
)

// NormalizeEmail trims and lower-cases an email address and checks that it is
// a bare addr-spec with a dotted domain. Omni uses the email as the userName,
// and matching is treated as case-insensitive.
func NormalizeEmail(s string) (string, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return "", ErrNoEmail
	}
	if !utf8.ValidString(s) {
		return "", fmt.Errorf("%w: not valid UTF-8", ErrInvalidEmail)
	}
	a, err := mail.ParseAddress(s)
	if err != nil || a.Name != "" || a.Address != s {
		return "", fmt.Errorf("%w: %q", ErrInvalidEmail, s)
	}
	at := strings.LastIndexByte(s, '@')
	local, domain := s[:at], s[at+1:]
	if local == "" || !strings.Contains(domain, ".") || strings.HasPrefix(domain, ".") || strings.HasSuffix(domain, ".") {
		return "", fmt.Errorf("%w: %q", ErrInvalidEmail, s)
	}
	return strings.ToLower(s), nil
}
