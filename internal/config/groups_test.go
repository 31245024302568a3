package config

import (
	"math"
	"reflect"
	"testing"

	"github.com/syncd-dev/syncd/internal/source"
)

func TestGroupDefaults(t *testing.T) {
	c := Default()
	checks := []struct {
		name      string
		got, want any
	}{
		{"ldap.groups.baseDNs", c.LDAP.Groups.BaseDNs, []string(nil)},
		{"ldap.groups.scope", c.LDAP.Groups.Scope, "sub"},
		{"ldap.groups.memberAttribute", c.LDAP.Groups.MemberAttribute, "member"},
		{"ldap.groups.nameAttribute", c.LDAP.Groups.NameAttribute, "cn"},
		{"ldap.groups.nested", c.LDAP.Groups.Nested, true},
		{"scim.groupsPath", c.SCIM.GroupsPath, "groups"},
		{"scim.groupDeprovision", c.SCIM.GroupDeprovision, "delete"},
		{"safety.maxGroupDeletionsPerRun", c.Safety.MaxGroupDeletionsPerRun, 5},
		{"safety.maxMemberRemovalPercent", c.Safety.MaxMemberRemovalPercent, 10.0},
	}
	for _, tc := range checks {
		if !reflect.DeepEqual(tc.got, tc.want) {
			t.Errorf("%s = %v, want %v", tc.name, tc.got, tc.want)
		}
	}
}

func TestGroupFlavorDefaults(t *testing.T) {
	for _, tc := range []struct {
		flavor, login, filter, id string
	}{
		{FlavorOpenLDAP, "uid", "(objectClass=groupOfNames)", "entryUUID"},
		{FlavorActiveDirectory, "sAMAccountName", "(objectClass=group)", "objectGUID"},
		{FlavorFreeIPA, "uid", "(objectClass=ipausergroup)", "ipaUniqueID"},
		{Flavor389DS, "uid", "(|(objectClass=groupOfNames)(objectClass=groupOfUniqueNames))", "nsUniqueId"},
	} {
		t.Run(tc.flavor, func(t *testing.T) {
			c := mustParse(t, doc("  flavor: "+tc.flavor+"\n", "", ""), nil)
			l := c.LDAP
			if l.Attributes.Login != tc.login || l.Groups.Filter != tc.filter || l.Groups.IDAttribute != tc.id {
				t.Errorf("login %q, group filter %q, group id %q; want %q, %q, %q",
					l.Attributes.Login, l.Groups.Filter, l.Groups.IDAttribute, tc.login, tc.filter, tc.id)
			}
			if err := c.Validate(); err != nil {
				t.Errorf("Validate: %v", err)
			}
		})
	}
}

// The keys as the file writes them, and their way into source.Config.
func TestParseGroups(t *testing.T) {
	c := mustParse(t, doc(`  attributes:
    id: employeeNumber
    login: sAMAccountName
  groups:
    baseDNs: ["ou=teams,dc=corp,dc=example,dc=com"]
    scope: one
    filter: (objectClass=groupOfUniqueNames)
    memberAttribute: uniqueMember
    nameAttribute: displayName
    nested: false
`, "  groupsPath: Groups\n  groupDeprovision: none\n", "safety:\n  maxGroupDeletionsPerRun: 0\n  maxMemberRemovalPercent: 2.5\n"), nil)
	if err := c.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	want := source.Groups{
		BaseDNs:         []string{"ou=teams,dc=corp,dc=example,dc=com"},
		Scope:           "one",
		Filter:          "(objectClass=groupOfUniqueNames)",
		MemberAttribute: "uniqueMember",
		NameAttribute:   "displayName",
		// The flavor's id, not the users' employeeNumber.
		IDAttribute: "entryUUID",
		Nested:      false,
	}
	src := c.LDAP.Source()
	if !reflect.DeepEqual(src.Groups, want) {
		t.Errorf("source groups %+v, want %+v", src.Groups, want)
	}
	if src.Attributes.Login != "sAMAccountName" {
		t.Errorf("source login %q, want sAMAccountName", src.Attributes.Login)
	}
	if c.SCIM.GroupsPath != "Groups" || c.SCIM.GroupDeprovision != "none" {
		t.Errorf("scim %q %q, want Groups none", c.SCIM.GroupsPath, c.SCIM.GroupDeprovision)
	}
	if c.Safety.MaxGroupDeletionsPerRun != 0 || c.Safety.MaxMemberRemovalPercent != 2.5 {
		t.Errorf("safety %d %v, want 0 2.5", c.Safety.MaxGroupDeletionsPerRun, c.Safety.MaxMemberRemovalPercent)
	}
}

func TestValidateGroups(t *testing.T) {
	enable := func(c *Config) { c.LDAP.Groups.BaseDNs = []string{"ou=teams,dc=example,dc=com"} }
	for _, tc := range []struct {
		name    string
		mutate  func(*Config)
		field   string
		message string
	}{
		{"group baseDN not a DN", func(c *Config) { c.LDAP.Groups.BaseDNs = []string{"dc=x", "teams"} }, "ldap.groups.baseDNs[1]", ""},
		{"group scope", func(c *Config) { enable(c); c.LDAP.Groups.Scope = "base" }, "ldap.groups.scope", "must be sub or one"},
		{"group filter", func(c *Config) { enable(c); c.LDAP.Groups.Filter = "objectClass=group" }, "ldap.groups.filter", ""},
		{"member attribute", func(c *Config) { enable(c); c.LDAP.Groups.MemberAttribute = "members" }, "ldap.groups.memberAttribute",
			"must be member, uniqueMember or memberUid"},
		{"name attribute empty", func(c *Config) { enable(c); c.LDAP.Groups.NameAttribute = "" }, "ldap.groups.nameAttribute", "must name an LDAP attribute"},
		{"id attribute invalid", func(c *Config) { enable(c); c.LDAP.Groups.IDAttribute = "entry UUID" }, "ldap.groups.idAttribute", ""},
		{"login invalid", func(c *Config) { c.LDAP.Attributes.Login = "s AM" }, "ldap.attributes.login", ""},
		{"groupsPath", func(c *Config) { c.SCIM.GroupsPath = "GROUPS" }, "scim.groupsPath", "must be groups or Groups"},
		{"groupDeprovision", func(c *Config) { c.SCIM.GroupDeprovision = "deactivate" }, "scim.groupDeprovision", "must be delete or none"},
		{"maxGroupDeletionsPerRun negative", func(c *Config) { c.Safety.MaxGroupDeletionsPerRun = -1 }, "safety.maxGroupDeletionsPerRun", "must not be negative"},
		{"maxMemberRemovalPercent above 100", func(c *Config) { c.Safety.MaxMemberRemovalPercent = 101 }, "safety.maxMemberRemovalPercent", "must be from 0 to 100"},
		{"maxMemberRemovalPercent negative", func(c *Config) { c.Safety.MaxMemberRemovalPercent = -1 }, "safety.maxMemberRemovalPercent", ""},
		{"maxMemberRemovalPercent NaN", func(c *Config) { c.Safety.MaxMemberRemovalPercent = math.NaN() }, "safety.maxMemberRemovalPercent", ""},
	} {
		t.Run(tc.name, func(t *testing.T) { wantRule(t, tc.mutate, tc.field, tc.message) })
	}

	t.Run("every bad group field at once", func(t *testing.T) {
		c := validConfig(t)
		c.LDAP.Groups = Groups{BaseDNs: []string{"teams"}, Scope: "all", Filter: "(", MemberAttribute: "x", NameAttribute: "a b", IDAttribute: ""}
		c.SCIM.GroupsPath = ""
		c.Safety.MaxMemberRemovalPercent = 200
		wantFields(t, c.Validate(), "ldap.groups.baseDNs[0]", "ldap.groups.scope", "ldap.groups.filter",
			"ldap.groups.memberAttribute", "ldap.groups.nameAttribute", "ldap.groups.idAttribute",
			"scim.groupsPath", "safety.maxMemberRemovalPercent")
	})
	t.Run("group fields unchecked while groups are off", func(t *testing.T) {
		c := validConfig(t)
		c.LDAP.Groups = Groups{Scope: "all", MemberAttribute: "x"}
		if err := c.Validate(); err != nil {
			t.Errorf("Validate: %v", err)
		}
	})
	t.Run("edges accepted", func(t *testing.T) {
		c := validConfig(t)
		enable(c)
		c.LDAP.Groups.MemberAttribute = "MEMBERUID"
		c.LDAP.Groups.Scope = "One"
		c.Safety.MaxMemberRemovalPercent = 100
		c.Safety.MaxGroupDeletionsPerRun = 0
		if err := c.Validate(); err != nil {
			t.Errorf("Validate: %v", err)
		}
	})
}
