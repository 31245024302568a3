package source

import (
	"time"
)

// Defaults of the fields that have one. New fills a zero field with its
// default; internal/config starts the YAML from the same values, so that a
// file and a Config built in code read the directory alike.
const (
	DefaultTimeout  = 30 * time.Second
	DefaultPageSize = 1000
	// MaxPageSize bounds ldap.pageSize: servers cap pages far below it
	// (Active Directory's MaxPageSize is 1000), and a bigger one only
	// holds more of the directory in flight.
	MaxPageSize = 10000
)

// Search scopes, as written in Config.Scope (case-insensitively).
const (
	ScopeSub = "sub"
	ScopeOne = "one"
)

// Values of Config.Incremental.
const (
	// IncrementalAuto uses syncrepl when the server offers it, usn on
	// Active Directory, and full reads otherwise.
	IncrementalAuto = "auto"
	// IncrementalSyncrepl reads changes with RFC 4533 content
	// synchronisation (refreshOnly), resuming from a stored cookie.
	IncrementalSyncrepl = "syncrepl"
	// IncrementalUSN polls Active Directory for uSNChanged above the last
	// seen, on one domain controller.
	IncrementalUSN = "usn"
	// IncrementalOff reads the whole scope every run.
	IncrementalOff = "off"
)

// DefaultFullReadEvery is how often a full read replaces the incremental
// baseline when the configuration does not say.
const DefaultFullReadEvery = 24 * time.Hour

// Values of Config.Referrals.
const (
	// ReferralsIncomplete: a continuation reference makes the read
	// incomplete, so no deprovision follows from it.
	ReferralsIncomplete = "incomplete"
	// ReferralsIgnore: continuation references are logged and dropped.
	ReferralsIgnore = "ignore"
)

// Kinds of Disabled.Kind.
const (
	DisabledAttribute     = "attribute"
	DisabledPresent       = "present"
	DisabledUAC           = "uac"
	DisabledNSAccountLock = "nsaccountlock"
	DisabledNone          = "none"
)

// Config is what the source needs to read a directory. It holds values
// only: secrets are resolved and flavour defaults applied by whoever builds
// it (internal/config for the daemon).
type Config struct {
	// URL is ldap://host[:port] or ldaps://host[:port].
	URL string
	// StartTLS upgrades an ldap:// connection to TLS before binding.
	StartTLS bool
	// RootCAFile is a PEM bundle trusted for the server instead of the
	// system roots.
	RootCAFile         string
	InsecureSkipVerify bool
	// BindDN and BindPassword are the simple bind; an empty BindDN reads
	// anonymously.
	BindDN       string
	BindPassword string
	// Timeout bounds the connect (dial, TLS, bind) and each search's time
	// limit; zero means DefaultTimeout.
	Timeout time.Duration
	// PageSize is the paged-results page size; zero means DefaultPageSize.
	PageSize int

	// BaseDNs are searched one after the other, each with Scope (sub or
	// one; empty means sub) and Filter.
	BaseDNs []string
	Scope   string
	Filter  string
	// MemberOf lists group DNs; a user in any of them is in scope.
	MemberOf []string
	// Referrals is ReferralsIncomplete (also when empty) or ReferralsIgnore.
	Referrals string
	// Incremental is IncrementalAuto (also when empty), IncrementalSyncrepl,
	// IncrementalUSN or IncrementalOff.
	Incremental string
	// FullReadEvery is the longest time between full reads; zero means
	// DefaultFullReadEvery.
	FullReadEvery time.Duration
	// ActiveDirectory makes MemberOf match nested groups too, through AD's
	// in-chain matching rule.
	ActiveDirectory bool

	Attributes Attributes
	// Groups says which groups to read; group reading is off while
	// Groups.BaseDNs is empty.
	Groups Groups
	// OmniAttributes maps an Omni user attribute reference to an LDAP
	// attribute.
	OmniAttributes map[string]string
	Disabled       Disabled
}

// Attributes names the LDAP attributes the mapper reads. ID and UserName are
// required; the others may be empty.
type Attributes struct {
	ID          string
	UserName    string
	DisplayName string
	GivenName   string
	FamilyName  string
	// Login is the account name (uid, sAMAccountName) that memberUid
	// groups list; optional, and not sent to Omni.
	Login string
}

// Values of Groups.MemberAttribute (matched case-insensitively): member and
// uniqueMember hold DNs, memberUid holds logins.
const (
	MemberAttributeMember       = "member"
	MemberAttributeUniqueMember = "uniqueMember"
	MemberAttributeMemberUID    = "memberUid"
)

// Defaults of the group fields that do not depend on the directory.
const (
	DefaultGroupNameAttribute = "cn"
	// MaxGroupNameLength bounds a group name, in characters: Omni's group
	// names are short labels, and a longer one is more likely a description
	// put in the wrong attribute.
	MaxGroupNameLength = 64
)

// Groups describes the group search. The field names match
// internal/config's ldap.groups keys.
type Groups struct {
	// BaseDNs are searched one after the other with Scope (sub or one;
	// empty means sub) and Filter; empty turns group reading off.
	BaseDNs []string
	Scope   string
	Filter  string
	// MemberAttribute is member (the default), uniqueMember or memberUid.
	MemberAttribute string
	// NameAttribute holds the group's name (default cn).
	NameAttribute string
	// IDAttribute holds the stable id; empty means the users' id
	// attribute. objectGUID is formatted as for users.
	IDAttribute string
	// Nested makes the members of a member group (one read in scope)
	// members too. The zero value reads direct members only; the YAML
	// default is true. memberUid groups cannot nest and ignore it.
	Nested bool
}

// Enabled reports whether groups are to be read at all.
func (g Groups) Enabled() bool { return len(g.BaseDNs) > 0 }

// Disabled says how a disabled account is recognised; see the Disabled*
// kinds. WithDefaults fills what may be left out.
type Disabled struct {
	Kind      string
	Attribute string
	Value     string
}

// kindAttributes are the attributes that kinds tied to one server's
// convention read when none is named.
var kindAttributes = map[string]string{
	DisabledUAC:           "userAccountControl",
	DisabledNSAccountLock: "nsAccountLock",
}

// WithDefaults infers and fills what a Disabled may leave out: an empty Kind
// with an Attribute or a Value is "attribute" (so that half a pair is
// reported as such rather than silently ignored), and uac and nsaccountlock
// read their server's attribute when none is named. An empty Disabled stays
// empty: which kind applies then depends on the directory, which only the
// caller knows.
func (d Disabled) WithDefaults() Disabled {
	if d.Kind == "" && (d.Attribute != "" || d.Value != "") {
		d.Kind = DisabledAttribute
	}
	if d.Attribute == "" {
		d.Attribute = kindAttributes[d.Kind]
	}
	return d
}

// withDefaults fills the zero fields that have a default.
func (c Config) withDefaults() Config {
	if c.Timeout == 0 {
		c.Timeout = DefaultTimeout
	}
	if c.PageSize == 0 {
		c.PageSize = DefaultPageSize
	}
	if c.Scope == "" {
		c.Scope = ScopeSub
	}
	if c.Incremental == "" {
		c.Incremental = IncrementalAuto
	}
	if c.FullReadEvery == 0 {
		c.FullReadEvery = DefaultFullReadEvery
	}
	if c.Referrals == "" {
		c.Referrals = ReferralsIncomplete
	}
	c.Disabled = c.Disabled.WithDefaults()
	g := &c.Groups
	if g.Scope == "" {
		g.Scope = ScopeSub
	}
	if g.MemberAttribute == "" {
		g.MemberAttribute = MemberAttributeMember
	}
	if g.NameAttribute == "" {
		g.NameAttribute = DefaultGroupNameAttribute
	}
	if g.IDAttribute == "" {
		g.IDAttribute = c.Attributes.ID
	}
	return c
}
