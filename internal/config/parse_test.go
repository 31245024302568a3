package config

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestDefault(t *testing.T) {
	c := Default()
	checks := []struct {
		name      string
		got, want any
	}{
		{"schedule", c.Schedule, "*/15 * * * *"},
		{"ldap.timeout", c.LDAP.Timeout.D(), 30 * time.Second},
		{"ldap.pageSize", c.LDAP.PageSize, 1000},
		{"ldap.flavor", c.LDAP.Flavor, "openldap"},
		{"ldap.users.scope", c.LDAP.Users.Scope, "sub"},
		{"ldap.users.filter", c.LDAP.Users.Filter, "(objectClass=inetOrgPerson)"},
		{"ldap.attributes.id", c.LDAP.Attributes.ID, "entryUUID"},
		{"ldap.attributes.userName", c.LDAP.Attributes.UserName, "mail"},
		{"ldap.attributes.displayName", c.LDAP.Attributes.DisplayName, "displayName"},
		{"ldap.attributes.givenName", c.LDAP.Attributes.GivenName, "givenName"},
		{"ldap.attributes.familyName", c.LDAP.Attributes.FamilyName, "sn"},
		{"ldap.disabled", c.LDAP.Disabled, Disabled{Kind: "present", Attribute: "pwdAccountLockedTime"}},
		{"scim.usersPath", c.SCIM.UsersPath, "users"},
		{"scim.requestsPerMinute", c.SCIM.RequestsPerMinute, 60},
		{"scim.timeout", c.SCIM.Timeout.D(), 30 * time.Second},
		{"scim.maxAttempts", c.SCIM.MaxAttempts, 6},
		{"scim.maxElapsed", c.SCIM.MaxElapsed.D(), 5 * time.Minute},
		{"scim.deprovision", c.SCIM.Deprovision, "deactivate"},
		{"safety.deprovisionAfter", c.Safety.DeprovisionAfter.D(), time.Duration(0)},
		{"safety.deprovisionAfterRuns", c.Safety.DeprovisionAfterRuns, 0},
		{"safety.maxDeprovisionsPerRun", c.Safety.MaxDeprovisionsPerRun, 50},
		{"safety.maxDeprovisionPercent", c.Safety.MaxDeprovisionPercent, 10.0},
		{"safety.minSourceFraction", c.Safety.MinSourceFraction, 0.9},
		{"log.level", c.Log.Level, "info"},
		{"log.format", c.Log.Format, "auto"},
		{"http.listen", c.HTTP.Listen, ""},
	}
	for _, tc := range checks {
		t.Run(tc.name, func(t *testing.T) {
			if !reflect.DeepEqual(tc.got, tc.want) {
				t.Errorf("got %v, want %v", tc.got, tc.want)
			}
		})
	}
}

func TestParseKeepsDefaultsForFieldsLeftOut(t *testing.T) {
	c := mustParse(t, doc("", "  requestsPerMinute: 500\n", ""), nil)
	want := Default()
	want.LDAP.URL = "ldaps://ldap.example.com"
	want.LDAP.Users.BaseDNs = []string{"ou=people,dc=example,dc=com"}
	want.SCIM.URL = "https://acme.omniapp.co/api/scim/v2"
	want.SCIM.Token = "t0k3n-minimal"
	want.SCIM.RequestsPerMinute = 500
	if !reflect.DeepEqual(*c, want) {
		t.Errorf("got\n%+v\nwant\n%+v", *c, want)
	}
}

func TestParseDurations(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want time.Duration
	}{
		{"30s", 30 * time.Second},
		{"15m", 15 * time.Minute},
		{"24h", 24 * time.Hour},
		{"1h30m", 90 * time.Minute},
		{`"2m"`, 2 * time.Minute},
		{"0s", 0},
	} {
		t.Run(tc.in, func(t *testing.T) {
			c := mustParse(t, doc("", "", "safety:\n  deprovisionAfter: "+tc.in+"\n"), nil)
			if got := c.Safety.DeprovisionAfter.D(); got != tc.want {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}

func TestParseSyntaxErrors(t *testing.T) {
	for _, tc := range []struct {
		name     string
		data     string
		wantLine int
		wantMsg  string
	}{
		{"empty", "", 0, "empty"},
		{"blank", "\n\n  \n", 0, "empty"},
		{"only comments", "# nothing here\n", 0, "empty"},
		{"null document", "~\n", 1, "empty"},
		{"two documents", minimal + "---\nschedule: '@hourly'\n", 8, "more than one YAML document"},
		{"bad indentation", "ldap:\n  url: x\n bad: y\n", 2, "did not find expected key"},
		{"unclosed quote", "schedule: \"@hourly\nlog: {}\n", 0, ""},
		{"tab indentation", "ldap:\n\turl: x\n", 2, ""},
		{"scalar root", "just words\n", 1, "must be a mapping"},
		{"list root", "- a\n- b\n", 1, "must be a mapping"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.data), nil)
			var se *SyntaxError
			if !errors.As(err, &se) {
				t.Fatalf("got %T %v, want a *SyntaxError", err, err)
			}
			if tc.wantLine != 0 && se.Line != tc.wantLine {
				t.Errorf("line %d, want %d (%v)", se.Line, tc.wantLine, err)
			}
			if !strings.Contains(se.Msg, tc.wantMsg) {
				t.Errorf("message %q does not say %q", se.Msg, tc.wantMsg)
			}
		})
	}
}

func TestParseUnknownKeys(t *testing.T) {
	for _, tc := range []struct {
		name, data, field, message string
	}{
		{"top level", minimal + "schedul: '@hourly'\n", "schedul", "line 8: unknown key"},
		{"nested", minimal + "  retries: 3\n", "scim.retries", "line 8: unknown key"},
		{"deeper", "ldap:\n  url: ldap://h\n  users:\n    baseDN: dc=x\n", "ldap.users.baseDN", "line 4: unknown key"},
		{"case slip", minimal + "log:\n  Level: debug\n", "log.Level", "line 9: unknown key (did you mean level?)"},
		{"separator slip", "ldap:\n  users:\n    base_dns: []\n", "ldap.users.base_dns", "line 3: unknown key (did you mean baseDNs?)"},
		{"in disabled", "ldap:\n  disabled:\n    kind: none\n    attr: x\n", "ldap.disabled.attr", "line 4: unknown key"},
		{"through a merge key", "x: &base\n  level: info\n", "x", "line 1: unknown key"},
		{"in a merged mapping", "log:\n  <<: {level: info, colour: true}\n", "log.colour", "line 2: unknown key"},
		{"repeated key", minimal + "scim:\n  timeout: 10s\n", "scim", "line 8: key repeated (first at line 5)"},
		{"repeated nested key", "log:\n  level: info\n  level: debug\n", "log.level", "line 3: key repeated (first at line 2)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.data), nil)
			wantProblem(t, err, tc.field, tc.message)
		})
	}
}

func TestParseMergeKeys(t *testing.T) {
	c := mustParse(t, "ldap:\n  url: ldaps://h\n  users:\n    baseDNs: [dc=x]\n  timeout: &t 45s\nscim:\n  <<: {token: abc, url: 'https://h/scim'}\n  timeout: *t\n", nil)
	if c.SCIM.Timeout.D() != 45*time.Second || c.SCIM.Token.Reveal() != "abc" {
		t.Errorf("merge and alias not applied: timeout %v token set %v", c.SCIM.Timeout, c.SCIM.Token != "")
	}
}

func TestParseTypeErrors(t *testing.T) {
	for _, tc := range []struct {
		name, data, field, message string
	}{
		{"int from words", "ldap:\n  pageSize: lots\n", "ldap.pageSize", `line 2: must be a whole number, not "lots"`},
		{"bare number duration", "ldap:\n  timeout: 30\n", "ldap.timeout", `line 2: must be a duration such as 30s, 15m or 24h, not "30"`},
		{"duration from a list", "scim:\n  timeout: [30s]\n", "scim.timeout", "line 2: must be a duration such as 30s, 15m or 24h, not a list"},
		{"bool from words", "ldap:\n  startTLS: maybe\n", "ldap.startTLS", `line 2: must be true or false, not "maybe"`},
		{"float from words", "safety:\n  minSourceFraction: most\n", "safety.minSourceFraction", `line 2: must be a number, not "most"`},
		{"list from a value", "ldap:\n  users:\n    baseDNs: dc=example,dc=com\n", "ldap.users.baseDNs", "line 3: must be a list, not a single value"},
		{"mapping from a value", "ldap: ldap://h\n", "ldap", "line 1: must be a mapping, not a single value"},
		{"string from a mapping", "schedule: {every: 5m}\n", "schedule", "line 1: must be a string, not a mapping"},
		{"map from a list", "ldap:\n  omniAttributes: [a, b]\n", "ldap.omniAttributes", "line 2: must be a mapping, not a list"},
		{"list item from a mapping", "ldap:\n  users:\n    baseDNs:\n      - dc=x\n      - {dn: dc=y}\n", "ldap.users.baseDNs[1]", "line 5: must be a string, not a mapping"},
		{"secret from a mapping", "scim:\n  token: {value: x}\n", "scim.token", "line 2: must be a string, not a mapping"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.data), nil)
			wantProblem(t, err, tc.field, tc.message)
		})
	}
}

func TestParseExpandsEnvironment(t *testing.T) {
	getenv := env(map[string]string{
		"TOKEN":   `a: b #c "d" 'e' {f} [g] & *h ! | > % @ ` + "`\nnext line",
		"HOST":    "ldap.example.com",
		"PAGE":    "250",
		"TLS":     "true",
		"NUMERIC": "12345",
		"TILDE":   "~",
		"DOLLAR":  "x${HOST}",
	})
	for _, tc := range []struct {
		name, yaml string
		get        func(*Config) any
		want       any
	}{
		{"YAML-special characters survive", "scim:\n  token: ${TOKEN}\n", func(c *Config) any { return c.SCIM.Token.Reveal() }, getenv("TOKEN")},
		{"inside a value", "ldap:\n  url: ldaps://${HOST}:636\n", func(c *Config) any { return c.LDAP.URL }, "ldaps://ldap.example.com:636"},
		{"quoted", "ldap:\n  url: \"ldaps://${HOST}\"\n", func(c *Config) any { return c.LDAP.URL }, "ldaps://ldap.example.com"},
		{"$$ is a literal $", "scim:\n  token: pa$$${HOST}$$\n", func(c *Config) any { return c.SCIM.Token.Reveal() }, "pa$ldap.example.com$"},
		{"$$ before a brace", "scim:\n  token: $${HOST}\n", func(c *Config) any { return c.SCIM.Token.Reveal() }, "${HOST}"},
		{"lone $ is kept", "scim:\n  token: a$b$\n", func(c *Config) any { return c.SCIM.Token.Reveal() }, "a$b$"},
		{"int field", "ldap:\n  pageSize: ${PAGE}\n", func(c *Config) any { return c.LDAP.PageSize }, 250},
		{"quoted int field", "ldap:\n  pageSize: \"${PAGE}\"\n", func(c *Config) any { return c.LDAP.PageSize }, 250},
		{"bool field", "ldap:\n  url: ldap://h\n  startTLS: ${TLS}\n", func(c *Config) any { return c.LDAP.StartTLS }, true},
		{"numeric secret stays text", "scim:\n  token: ${NUMERIC}\n", func(c *Config) any { return c.SCIM.Token.Reveal() }, "12345"},
		{"tilde stays text", "scim:\n  token: ${TILDE}\n", func(c *Config) any { return c.SCIM.Token.Reveal() }, "~"},
		{"expanded once", "scim:\n  token: ${DOLLAR}\n", func(c *Config) any { return c.SCIM.Token.Reveal() }, "x${HOST}"},
		{"list item", "ldap:\n  users:\n    baseDNs: [\"ou=${HOST},dc=x\"]\n", func(c *Config) any { return c.LDAP.Users.BaseDNs[0] }, "ou=ldap.example.com,dc=x"},
		{"map value", "ldap:\n  omniAttributes:\n    dept: ${TLS}\n", func(c *Config) any { return c.LDAP.OmniAttributes["dept"] }, "true"},
		{"map key is not expanded", "ldap:\n  omniAttributes:\n    ${HOST}: departmentNumber\n", func(c *Config) any { _, ok := c.LDAP.OmniAttributes["${HOST}"]; return ok }, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := parse(context.Background(), []byte(tc.yaml), getenv)
			if err != nil || len(p.ps) > 0 {
				t.Fatalf("parse: %v %v", err, p.ps)
			}
			if got := tc.get(p.c); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestParseExpansionProblems(t *testing.T) {
	getenv := env(map[string]string{"EMPTY": "", "WORDS": "not-a-number-s3cr3t"})
	for _, tc := range []struct {
		name, yaml, field, message string
	}{
		{"unset", "  token: ${SYNCD_SCIM_TOKEN}\n", "scim.token", "line 2: environment variable SYNCD_SCIM_TOKEN is not set"},
		{"empty", "  token: ${EMPTY}\n", "scim.token", "line 2: environment variable EMPTY is not set"},
		{"unterminated", "  token: abc${TOKEN\n", "scim.token", "line 2: unterminated ${ (write $$ for a literal $)"},
		{"bad name", "  token: ${1X}\n", "scim.token", "line 2: invalid environment variable name in ${...} (names are letters, digits and _; write $$ for a literal $)"},
		{"empty name", "  token: ${}\n", "scim.token", "line 2: invalid environment variable name in ${...} (names are letters, digits and _; write $$ for a literal $)"},
		{"env value of the wrong type is not echoed", "  maxAttempts: ${WORDS}\n", "scim.maxAttempts", "line 2: must be a whole number"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte("scim:\n"+tc.yaml), getenv)
			wantProblem(t, err, tc.field, tc.message)
			noLeak(t, "error", err.Error(), "s3cr3t")
		})
	}
}

func TestFlavorDefaults(t *testing.T) {
	for _, tc := range []struct {
		name, yaml string
		id, filter string
		disabled   Disabled
	}{
		{"openldap", "  flavor: openldap\n", "entryUUID", "(objectClass=inetOrgPerson)", Disabled{Kind: "present", Attribute: "pwdAccountLockedTime"}},
		{"activedirectory", "  flavor: activedirectory\n", "objectGUID", "(&(objectCategory=person)(objectClass=user))", Disabled{Kind: "uac", Attribute: "userAccountControl"}},
		{"freeipa", "  flavor: freeipa\n", "ipaUniqueID", "(objectClass=inetOrgPerson)", Disabled{Kind: "nsaccountlock", Attribute: "nsAccountLock"}},
		{"389ds", "  flavor: 389ds\n", "nsUniqueId", "(objectClass=inetOrgPerson)", Disabled{Kind: "nsaccountlock", Attribute: "nsAccountLock"}},
		{"file values win", "  flavor: activedirectory\n  attributes:\n    id: objectSid\n  disabled:\n    kind: none\n", "objectSid", "(&(objectCategory=person)(objectClass=user))", Disabled{Kind: "none"}},
		{"attribute and value mean kind attribute", "  flavor: activedirectory\n  disabled:\n    attribute: employeeStatus\n    value: Terminated\n", "objectGUID", "(&(objectCategory=person)(objectClass=user))", Disabled{Kind: "attribute", Attribute: "employeeStatus", Value: "Terminated"}},
		{"uac kind fills its attribute", "  disabled:\n    kind: uac\n", "entryUUID", "(objectClass=inetOrgPerson)", Disabled{Kind: "uac", Attribute: "userAccountControl"}},
		{"nsaccountlock kind fills its attribute", "  flavor: openldap\n  disabled: {kind: nsaccountlock}\n", "entryUUID", "(objectClass=inetOrgPerson)", Disabled{Kind: "nsaccountlock", Attribute: "nsAccountLock"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := mustParse(t, doc(tc.yaml, "", ""), nil)
			if c.LDAP.Attributes.ID != tc.id {
				t.Errorf("id %q, want %q", c.LDAP.Attributes.ID, tc.id)
			}
			if c.LDAP.Users.Filter != tc.filter {
				t.Errorf("filter %q, want %q", c.LDAP.Users.Filter, tc.filter)
			}
			if c.LDAP.Disabled != tc.disabled {
				t.Errorf("disabled %+v, want %+v", c.LDAP.Disabled, tc.disabled)
			}
			if c.LDAP.Attributes.UserName != "mail" {
				t.Errorf("userName %q, want mail", c.LDAP.Attributes.UserName)
			}
			wantReferrals := ReferralsIncomplete
			if strings.Contains(tc.yaml, "activedirectory") {
				wantReferrals = ReferralsIgnore
			}
			if c.LDAP.Referrals != wantReferrals {
				t.Errorf("referrals %q, want %q", c.LDAP.Referrals, wantReferrals)
			}
		})
	}
}

func TestFlavorDefaultsKeepTheFileFilter(t *testing.T) {
	data := strings.Replace(doc("  flavor: freeipa\n", "", ""), "  users:\n", "  users:\n    filter: (uid=*)\n", 1)
	c := mustParse(t, data, nil)
	if c.LDAP.Users.Filter != "(uid=*)" {
		t.Errorf("filter %q, want the file's (uid=*)", c.LDAP.Users.Filter)
	}
	if c.LDAP.Attributes.ID != "ipaUniqueID" {
		t.Errorf("id %q, want the flavor's ipaUniqueID", c.LDAP.Attributes.ID)
	}
}
