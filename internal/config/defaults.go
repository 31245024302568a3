package config

import (
	"time"

	"github.com/syncd-dev/syncd/internal/source"
)

// Flavors are the directory servers syncd knows the conventions of.
const (
	FlavorOpenLDAP        = "openldap"
	FlavorActiveDirectory = "activedirectory"
	FlavorFreeIPA         = "freeipa"
	Flavor389DS           = "389ds"
)

// Kinds of Disabled.Kind; the source defines what each means.
const (
	DisabledAttribute     = source.DisabledAttribute
	DisabledPresent       = source.DisabledPresent
	DisabledUAC           = source.DisabledUAC
	DisabledNSAccountLock = source.DisabledNSAccountLock
	DisabledNone          = source.DisabledNone
)

// Values of LDAP.Referrals.
const (
	ReferralsIncomplete = source.ReferralsIncomplete
	ReferralsIgnore     = source.ReferralsIgnore
)

// flavorDefaults are the per-directory conventions: which attribute holds the
// stable id, which entries are users and which groups, the account name
// memberUid lists, and how a disabled account is marked.
type flavorDefaults struct {
	id          string
	filter      string
	userName    string
	login       string
	groupFilter string
	disabled    Disabled
}

var flavors = map[string]flavorDefaults{
	FlavorOpenLDAP: {
		id:          "entryUUID",
		filter:      "(objectClass=inetOrgPerson)",
		login:       "uid",
		groupFilter: "(objectClass=groupOfNames)",
		disabled:    Disabled{Kind: DisabledPresent, Attribute: "pwdAccountLockedTime"},
	},
	FlavorActiveDirectory: {
		id:          "objectGUID",
		filter:      "(&(objectCategory=person)(objectClass=user))",
		userName:    "mail",
		login:       "sAMAccountName",
		groupFilter: "(objectClass=group)",
		disabled:    Disabled{Kind: DisabledUAC, Attribute: "userAccountControl"},
	},
	FlavorFreeIPA: {
		id:          "ipaUniqueID",
		filter:      "(objectClass=inetOrgPerson)",
		login:       "uid",
		groupFilter: "(objectClass=ipausergroup)",
		disabled:    Disabled{Kind: DisabledNSAccountLock, Attribute: "nsAccountLock"},
	},
	Flavor389DS: {
		id:          "nsUniqueId",
		filter:      "(objectClass=inetOrgPerson)",
		login:       "uid",
		groupFilter: "(|(objectClass=groupOfNames)(objectClass=groupOfUniqueNames))",
		disabled:    Disabled{Kind: DisabledNSAccountLock, Attribute: "nsAccountLock"},
	},
}

// Default returns every default, including those of the default flavor
// (openldap), so the result describes a complete configuration apart from
// the values only the operator can know (URLs, DNs, secrets).
func Default() Config {
	c := base()
	c.applyFlavorDefaults()
	return c
}

// base holds the defaults that do not depend on the flavor. Parse starts
// from it rather than from Default, so that a file choosing another flavor
// does not inherit OpenLDAP's id attribute and filter.
func base() Config {
	return Config{
		Schedule: "*/15 * * * *",
		LDAP: LDAP{
			Timeout:       Duration(source.DefaultTimeout),
			PageSize:      source.DefaultPageSize,
			Incremental:   source.IncrementalAuto,
			FullReadEvery: Duration(source.DefaultFullReadEvery),
			Flavor:        FlavorOpenLDAP,
			Users:         Users{Scope: source.ScopeSub},
			Groups: Groups{
				Scope:           source.ScopeSub,
				MemberAttribute: source.MemberAttributeMember,
				NameAttribute:   source.DefaultGroupNameAttribute,
				Nested:          true,
			},
			Attributes: Attributes{
				UserName:    "mail",
				DisplayName: "displayName",
				GivenName:   "givenName",
				FamilyName:  "sn",
			},
		},
		SCIM: SCIM{
			UsersPath:         "users",
			RequestsPerMinute: 60,
			Timeout:           Duration(30 * time.Second),
			MaxAttempts:       6,
			MaxElapsed:        Duration(5 * time.Minute),
			Deprovision:       "deactivate",
			GroupsPath:        "groups",
			GroupDeprovision:  "delete",
		},
		Safety: Safety{
			MaxDeprovisionsPerRun: 50,
			MaxDeprovisionPercent: 10,
			MinSourceFraction:     0.9,

			MaxGroupDeletionsPerRun: 5,
			MaxMemberRemovalPercent: 10,
		},
		Log:    Log{Level: "info", Format: "auto"},
		Notify: Notify{Timeout: Duration(10 * time.Second)},
	}
}

// fill sets a field the file left empty.
func fill(field *string, v string) {
	if *field == "" {
		*field = v
	}
}

// applyFlavorDefaults fills the fields the file left empty with the
// conventions of the configured flavor. An unknown flavor gets none; Validate
// reports it.
func (c *Config) applyFlavorDefaults() {
	l := &c.LDAP
	f, ok := flavors[l.Flavor]
	if ok {
		fill(&l.Attributes.ID, f.id)
		fill(&l.Users.Filter, f.filter)
		fill(&l.Attributes.UserName, f.userName)
		fill(&l.Attributes.Login, f.login)
		fill(&l.Groups.Filter, f.groupFilter)
		// The flavor's id, not ldap.attributes.id: an id chosen for users
		// (employeeNumber, say) is seldom one that groups carry.
		fill(&l.Groups.IDAttribute, f.id)
		if l.Referrals == "" && l.Flavor == FlavorActiveDirectory {
			l.Referrals = ReferralsIgnore
		}
	}
	if l.Referrals == "" {
		l.Referrals = ReferralsIncomplete
	}
	d := &l.Disabled
	if *d == (Disabled{}) && ok {
		*d = f.disabled
	}
	// The source's rule, so that the file and the source infer the same
	// kind: an attribute or a value alone means kind attribute.
	*d = Disabled(source.Disabled(*d).WithDefaults())
}
