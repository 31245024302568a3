package config

import (
	"errors"
	"math"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestValidateAcceptsTheMinimalFile(t *testing.T) {
	if err := validConfig(t).Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
}

// Each case breaks one rule of a valid configuration and names the one field
// that must be reported; message, when set, is the exact message.
func TestValidateRules(t *testing.T) {
	dir := t.TempDir()
	noPEM := writeFile(t, dir, "not-pem.txt", "hello\n")
	keyOnly := writeFile(t, dir, "key.pem", "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")
	badCert := writeFile(t, dir, "bad-cert.pem", "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")

	for _, tc := range []struct {
		name    string
		mutate  func(*Config)
		field   string
		message string
	}{
		{"schedule empty", func(c *Config) { c.Schedule = "" }, "schedule", ""},
		{"schedule six fields", func(c *Config) { c.Schedule = "0 */15 * * * *" }, "schedule", ""},
		{"schedule unknown descriptor", func(c *Config) { c.Schedule = "@fortnightly" }, "schedule", ""},
		{"schedule out of range", func(c *Config) { c.Schedule = "61 * * * *" }, "schedule", ""},

		{"ldap url empty", func(c *Config) { c.LDAP.URL = "" }, "ldap.url", ""},
		{"ldap referrals unknown", func(c *Config) { c.LDAP.Referrals = "follow" }, "ldap.referrals", "must be incomplete or ignore"},
		{"ldap url scheme", func(c *Config) { c.LDAP.URL = "https://ldap.example.com" }, "ldap.url", "scheme must be ldap or ldaps"},
		{"ldap url without scheme", func(c *Config) { c.LDAP.URL = "ldap.example.com:389" }, "ldap.url", ""},
		{"ldap url without host", func(c *Config) { c.LDAP.URL = "ldaps:///" }, "ldap.url", "must name a host"},
		{"ldap url bad port", func(c *Config) { c.LDAP.URL = "ldap://h:99999" }, "ldap.url", ""},
		{"ldap url unparsable", func(c *Config) { c.LDAP.URL = "ldap://h:%zz" }, "ldap.url", ""},
		{"startTLS with ldaps", func(c *Config) { c.LDAP.StartTLS = true }, "ldap.startTLS", ""},
		{"rootCAFile missing", func(c *Config) { c.LDAP.RootCAFile = filepath.Join(dir, "nope.pem") }, "ldap.rootCAFile", ""},
		{"rootCAFile not PEM", func(c *Config) { c.LDAP.RootCAFile = noPEM }, "ldap.rootCAFile", "holds no PEM certificate"},
		{"rootCAFile key only", func(c *Config) { c.LDAP.RootCAFile = keyOnly }, "ldap.rootCAFile", "holds no PEM certificate"},
		{"rootCAFile bad certificate", func(c *Config) { c.LDAP.RootCAFile = badCert }, "ldap.rootCAFile", ""},
		{"scim rootCAFile missing", func(c *Config) { c.SCIM.RootCAFile = filepath.Join(dir, "nope.pem") }, "scim.rootCAFile", ""},
		{"scim rootCAFile not PEM", func(c *Config) { c.SCIM.RootCAFile = noPEM }, "scim.rootCAFile", "holds no PEM certificate"},
		{"scim rootCAFile key only", func(c *Config) { c.SCIM.RootCAFile = keyOnly }, "scim.rootCAFile", "holds no PEM certificate"},
		{"scim rootCAFile bad certificate", func(c *Config) { c.SCIM.RootCAFile = badCert }, "scim.rootCAFile", ""},
		{"bindDN not a DN", func(c *Config) { c.LDAP.BindDN, c.LDAP.BindPassword = "admin", "pw" }, "ldap.bindDN", ""},
		{"bindDN without password", func(c *Config) { c.LDAP.BindDN = "cn=admin,dc=example,dc=com" }, "ldap.bindPassword", ""},
		{"bind password and file", func(c *Config) {
			c.LDAP.BindDN, c.LDAP.BindPassword, c.LDAP.BindPasswordFile = "cn=admin,dc=x", "pw", "/run/pw"
		}, "ldap.bindPasswordFile", "set together with ldap.bindPassword; use one"},
		{"bind password without DN", func(c *Config) { c.LDAP.BindPassword = "pw" }, "ldap.bindDN", ""},
		{"bind password file without DN", func(c *Config) { c.LDAP.BindPasswordFile = "pw" }, "ldap.bindDN", ""},
		{"ldap timeout zero", func(c *Config) { c.LDAP.Timeout = 0 }, "ldap.timeout", "must be above zero"},
		{"ldap timeout negative", func(c *Config) { c.LDAP.Timeout = Duration(-time.Second) }, "ldap.timeout", ""},
		{"pageSize zero", func(c *Config) { c.LDAP.PageSize = 0 }, "ldap.pageSize", "must be from 1 to 10000"},
		{"pageSize too big", func(c *Config) { c.LDAP.PageSize = 10001 }, "ldap.pageSize", ""},
		{"flavor unknown", func(c *Config) { c.LDAP.Flavor = "novell" }, "ldap.flavor", ""},
		{"flavor wrong case", func(c *Config) { c.LDAP.Flavor = "OpenLDAP" }, "ldap.flavor", ""},
		{"baseDNs empty", func(c *Config) { c.LDAP.Users.BaseDNs = nil }, "ldap.users.baseDNs", ""},
		{"baseDN blank", func(c *Config) { c.LDAP.Users.BaseDNs = []string{"dc=x", " "} }, "ldap.users.baseDNs[1]", ""},
		{"baseDN not a DN", func(c *Config) { c.LDAP.Users.BaseDNs = []string{"dc=x", "dc=y", "people"} }, "ldap.users.baseDNs[2]", ""},
		{"scope", func(c *Config) { c.LDAP.Users.Scope = "base" }, "ldap.users.scope", "must be sub or one"},
		{"filter without parentheses", func(c *Config) { c.LDAP.Users.Filter = "objectClass=person" }, "ldap.users.filter", ""},
		{"filter unbalanced", func(c *Config) { c.LDAP.Users.Filter = "(&(objectClass=person)" }, "ldap.users.filter", ""},
		{"filter empty", func(c *Config) { c.LDAP.Users.Filter = "" }, "ldap.users.filter", ""},
		{"memberOf not a DN", func(c *Config) { c.LDAP.Users.MemberOf = []string{"admins"} }, "ldap.users.memberOf[0]", ""},
		{"id empty", func(c *Config) { c.LDAP.Attributes.ID = "" }, "ldap.attributes.id", "must name an LDAP attribute"},
		{"id invalid", func(c *Config) { c.LDAP.Attributes.ID = "entry UUID" }, "ldap.attributes.id", ""},
		{"userName empty", func(c *Config) { c.LDAP.Attributes.UserName = "" }, "ldap.attributes.userName", ""},
		{"userName invalid", func(c *Config) { c.LDAP.Attributes.UserName = "mail,cn" }, "ldap.attributes.userName", ""},
		{"displayName invalid", func(c *Config) { c.LDAP.Attributes.DisplayName = "givenName sn" }, "ldap.attributes.displayName", ""},
		{"givenName invalid", func(c *Config) { c.LDAP.Attributes.GivenName = "1st" }, "ldap.attributes.givenName", ""},
		{"familyName invalid", func(c *Config) { c.LDAP.Attributes.FamilyName = "s_n" }, "ldap.attributes.familyName", ""},
		{"disabled kind unknown", func(c *Config) { c.LDAP.Disabled.Kind = "locked" }, "ldap.disabled.kind", ""},
		{"disabled kind empty", func(c *Config) { c.LDAP.Disabled = Disabled{} }, "ldap.disabled.kind", ""},
		{"disabled present without attribute", func(c *Config) { c.LDAP.Disabled = Disabled{Kind: "present"} }, "ldap.disabled.attribute", ""},
		{"disabled attribute without value", func(c *Config) { c.LDAP.Disabled = Disabled{Kind: "attribute", Attribute: "status"} }, "ldap.disabled.value", ""},
		{"disabled attribute without attribute", func(c *Config) { c.LDAP.Disabled = Disabled{Kind: "attribute", Value: "x"} }, "ldap.disabled.attribute", ""},
		{"disabled value for another kind", func(c *Config) { c.LDAP.Disabled.Value = "TRUE" }, "ldap.disabled.value", ""},
		{"omniAttributes empty key", func(c *Config) { c.LDAP.OmniAttributes = map[string]string{"": "mail"} }, `ldap.omniAttributes[""]`, ""},
		{"omniAttributes URN key", func(c *Config) {
			c.LDAP.OmniAttributes = map[string]string{"urn:omni:params:1.0:UserAttribute:dept": "department"}
		}, `ldap.omniAttributes["urn:omni:params:1.0:UserAttribute:dept"]`, "key must be the attribute's reference alone, without the urn:omni:params:1.0:UserAttribute: prefix"},
		{"omniAttributes colon key", func(c *Config) { c.LDAP.OmniAttributes = map[string]string{"a:b": "department"} }, `ldap.omniAttributes["a:b"]`, ""},
		{"omniAttributes bad value", func(c *Config) { c.LDAP.OmniAttributes = map[string]string{"dept": "depart ment"} }, "ldap.omniAttributes.dept", ""},
		{"omniAttributes empty value", func(c *Config) { c.LDAP.OmniAttributes = map[string]string{"dept": ""} }, "ldap.omniAttributes.dept", ""},

		{"scim url empty", func(c *Config) { c.SCIM.URL = "" }, "scim.url", ""},
		{"scim url relative", func(c *Config) { c.SCIM.URL = "/api/scim/v2" }, "scim.url", ""},
		{"scim url http", func(c *Config) { c.SCIM.URL = "http://acme.omniapp.co/api/scim/v2" }, "scim.url", "must be https unless the host is loopback"},
		{"scim url http private address", func(c *Config) { c.SCIM.URL = "http://10.0.0.1/api/scim/v2" }, "scim.url", "must be https unless the host is loopback"},
		{"scim url http lookalike", func(c *Config) { c.SCIM.URL = "http://localhost.evil.example/scim" }, "scim.url", "must be https unless the host is loopback"},
		{"scim url ftp", func(c *Config) { c.SCIM.URL = "ftp://acme.omniapp.co/" }, "scim.url", ""},
		{"scim url with credentials", func(c *Config) { c.SCIM.URL = "https://u:p@acme.omniapp.co/" }, "scim.url", ""},
		{"token missing", func(c *Config) { c.SCIM.Token = "" }, "scim.token", ""},
		{"token and file", func(c *Config) { c.SCIM.TokenFile = "/run/token" }, "scim.tokenFile", ""},
		{"usersPath", func(c *Config) { c.SCIM.UsersPath = "USERS" }, "scim.usersPath", "must be users or Users"},
		{"requestsPerMinute zero", func(c *Config) { c.SCIM.RequestsPerMinute = 0 }, "scim.requestsPerMinute", ""},
		{"requestsPerMinute too high", func(c *Config) { c.SCIM.RequestsPerMinute = 10001 }, "scim.requestsPerMinute", ""},
		{"scim timeout zero", func(c *Config) { c.SCIM.Timeout = 0 }, "scim.timeout", ""},
		{"maxAttempts zero", func(c *Config) { c.SCIM.MaxAttempts = 0 }, "scim.maxAttempts", "must be from 1 to 20"},
		{"maxAttempts too many", func(c *Config) { c.SCIM.MaxAttempts = 21 }, "scim.maxAttempts", ""},
		{"maxElapsed below timeout", func(c *Config) { c.SCIM.MaxElapsed = Duration(10 * time.Second) }, "scim.maxElapsed", "must be at least scim.timeout (30s)"},
		{"deprovision", func(c *Config) { c.SCIM.Deprovision = "suspend" }, "scim.deprovision", ""},

		{"databaseURL not a URL or DSN", func(c *Config) { c.State.DatabaseURL = "nonsense" }, "state.databaseURL", ""},
		{"databaseURL bad port", func(c *Config) { c.State.DatabaseURL = "postgres://h:abc/db" }, "state.databaseURL", ""},
		{"databaseURL and file", func(c *Config) {
			c.State.DatabaseURL, c.State.DatabaseURLFile = "postgres://h/db", "/run/db"
		}, "state.databaseURLFile", ""},

		{"deprovisionAfter negative", func(c *Config) { c.Safety.DeprovisionAfter = Duration(-time.Hour) }, "safety.deprovisionAfter", ""},
		{"deprovisionAfterRuns negative", func(c *Config) { c.Safety.DeprovisionAfterRuns = -1 }, "safety.deprovisionAfterRuns", ""},
		{"maxDeprovisionsPerRun negative", func(c *Config) { c.Safety.MaxDeprovisionsPerRun = -1 }, "safety.maxDeprovisionsPerRun", ""},
		{"maxDeprovisionPercent negative", func(c *Config) { c.Safety.MaxDeprovisionPercent = -1 }, "safety.maxDeprovisionPercent", ""},
		{"maxDeprovisionPercent above 100", func(c *Config) { c.Safety.MaxDeprovisionPercent = 100.5 }, "safety.maxDeprovisionPercent", ""},
		{"maxDeprovisionPercent NaN", func(c *Config) { c.Safety.MaxDeprovisionPercent = math.NaN() }, "safety.maxDeprovisionPercent", ""},
		{"minSourceFraction above 1", func(c *Config) { c.Safety.MinSourceFraction = 1.1 }, "safety.minSourceFraction", ""},
		{"minSourceFraction negative", func(c *Config) { c.Safety.MinSourceFraction = -0.1 }, "safety.minSourceFraction", ""},
		{"minSourceFraction NaN", func(c *Config) { c.Safety.MinSourceFraction = math.NaN() }, "safety.minSourceFraction", ""},
		{"canaryDN not a DN", func(c *Config) { c.Safety.CanaryDNs = []string{"uid=a,dc=x", "bob"} }, "safety.canaryDNs[1]", ""},
		{"protected user not an email", func(c *Config) { c.Safety.ProtectedUsers = []string{"admin@corp.example.com", "admin"} }, "safety.protectedUsers[1]", "must be an Omni userName (an email address)"},

		{"log level", func(c *Config) { c.Log.Level = "verbose" }, "log.level", ""},
		{"log format", func(c *Config) { c.Log.Format = "text" }, "log.format", ""},
		{"http listen without port", func(c *Config) { c.HTTP.Listen = "127.0.0.1" }, "http.listen", ""},
		{"http listen bad port", func(c *Config) { c.HTTP.Listen = ":http-alt" }, "http.listen", ""},
		{"http listen port too big", func(c *Config) { c.HTTP.Listen = ":65536" }, "http.listen", ""},
	} {
		t.Run(tc.name, func(t *testing.T) { wantRule(t, tc.mutate, tc.field, tc.message) })
	}
}

// Each case is a value near a rule's edge that must pass.
func TestValidateAccepts(t *testing.T) {
	ca := writeFile(t, t.TempDir(), "ca.pem", "# corporate CA\n"+caPEM(t))
	for _, tc := range []struct {
		name   string
		mutate func(*Config)
	}{
		{"schedule descriptor", func(c *Config) { c.Schedule = "@hourly" }},
		{"schedule every", func(c *Config) { c.Schedule = "@every 10m" }},
		{"schedule with time zone", func(c *Config) { c.Schedule = "CRON_TZ=Europe/Paris 0 3 * * 1-5" }},
		{"ldap with startTLS", func(c *Config) { c.LDAP.URL, c.LDAP.StartTLS = "ldap://ldap.example.com:389", true }},
		{"ldap IPv6", func(c *Config) { c.LDAP.URL = "ldaps://[2001:db8::1]:636" }},
		{"rootCAFile with a certificate", func(c *Config) { c.LDAP.RootCAFile = ca }},
		{"scim rootCAFile with a certificate", func(c *Config) { c.SCIM.RootCAFile = ca }},
		{"bind with a password", func(c *Config) { c.LDAP.BindDN, c.LDAP.BindPassword = "cn=syncd,ou=svc,dc=x", "pw" }},
		{"bind with a password file", func(c *Config) { c.LDAP.BindDN, c.LDAP.BindPasswordFile = "cn=syncd,dc=x", "ldap-bind-password" }},
		{"pageSize edges", func(c *Config) { c.LDAP.PageSize = 10000 }},
		{"every flavor", func(c *Config) { c.LDAP.Flavor = "389ds" }},
		{"scope one", func(c *Config) { c.LDAP.Users.Scope = "one" }},
		{"scope in another case", func(c *Config) { c.LDAP.Users.Scope = "Sub" }},
		{"multi-valued RDN and escapes", func(c *Config) {
			c.LDAP.Users.BaseDNs = []string{`cn=Smith\, John+uid=js,ou=People,dc=example,dc=com`}
		}},
		{"AD nested group filter", func(c *Config) {
			c.LDAP.Users.Filter = "(&(objectClass=user)(memberOf:1.2.840.113556.1.4.1941:=cn=g,dc=x))"
		}},
		{"attribute with option and OID", func(c *Config) {
			c.LDAP.Attributes.DisplayName, c.LDAP.Attributes.ID = "displayName;lang-en", "1.3.6.1.1.16.4"
		}},
		{"optional attributes empty", func(c *Config) {
			c.LDAP.Attributes.GivenName, c.LDAP.Attributes.FamilyName, c.LDAP.Attributes.DisplayName = "", "", ""
		}},
		{"disabled attribute", func(c *Config) {
			c.LDAP.Disabled = Disabled{Kind: "attribute", Attribute: "employeeStatus", Value: "Terminated"}
		}},
		{"disabled none", func(c *Config) { c.LDAP.Disabled = Disabled{Kind: "none"} }},
		{"omniAttributes", func(c *Config) {
			c.LDAP.OmniAttributes = map[string]string{"department": "departmentNumber", "cost_center": "x-costCenter"}
		}},
		{"scim http on 127.0.0.1", func(c *Config) { c.SCIM.URL = "http://127.0.0.1:8080/api/scim/v2" }},
		{"scim http on 127.1.2.3", func(c *Config) { c.SCIM.URL = "http://127.1.2.3/scim" }},
		{"scim http on ::1", func(c *Config) { c.SCIM.URL = "http://[::1]:8080/scim" }},
		{"scim http on localhost", func(c *Config) { c.SCIM.URL = "http://localhost:8080/scim" }},
		{"scim http on LOCALHOST", func(c *Config) { c.SCIM.URL = "http://LOCALHOST/scim" }},
		{"token file only", func(c *Config) { c.SCIM.Token, c.SCIM.TokenFile = "", "scim-token" }},
		{"usersPath Users", func(c *Config) { c.SCIM.UsersPath = "Users" }},
		{"maxElapsed equals timeout", func(c *Config) { c.SCIM.MaxElapsed = c.SCIM.Timeout }},
		{"deprovision none", func(c *Config) { c.SCIM.Deprovision = "none" }},
		{"database URL", func(c *Config) {
			c.State.DatabaseURL = "postgres://syncd:p%23ss@db.example.com:5432/syncd?sslmode=disable"
		}},
		{"database DSN", func(c *Config) { c.State.DatabaseURL = "host=db.example.com user=syncd dbname=syncd sslmode=disable" }},
		{"database file only", func(c *Config) { c.State.DatabaseURLFile = "database-url" }},
		{"safety edges", func(c *Config) {
			c.Safety = Safety{MaxDeprovisionPercent: 100, MinSourceFraction: 1, CanaryDNs: []string{"uid=canary,dc=x"}}
		}},
		{"safety zeros", func(c *Config) { c.Safety = Safety{} }},
		{"log", func(c *Config) { c.Log = Log{Level: "trace", Format: "console"} }},
		{"http listen any address", func(c *Config) { c.HTTP.Listen = ":9090" }},
		{"http listen IPv6", func(c *Config) { c.HTTP.Listen = "[::1]:9090" }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := validConfig(t)
			tc.mutate(c)
			if err := c.Validate(); err != nil {
				t.Fatalf("Validate: %v", err)
			}
		})
	}
}

func TestValidateReportsEveryProblemAtOnce(t *testing.T) {
	data := `schedule: every five minutes
ldap:
  url: http://ldap.example.com
  pageSize: 0
  users:
    baseDNs: [people]
    scope: subtree
scim:
  url: http://acme.omniapp.co/api/scim/v2
  maxAttempts: 0
log:
  level: loud
`
	_, err := Parse([]byte(data), nil)
	ps := wantFields(t, err,
		"schedule", "ldap.url", "ldap.pageSize", "ldap.users.baseDNs[0]", "ldap.users.scope",
		"scim.url", "scim.token", "scim.maxAttempts", "log.level")
	lines := strings.Split(err.Error(), "\n")
	if len(lines) != len(ps) {
		t.Fatalf("error has %d lines for %d problems:\n%v", len(lines), len(ps), err)
	}
	for i, p := range ps {
		if want := p.Field + ": " + p.Message; lines[i] != want {
			t.Errorf("line %d is %q, want %q", i, lines[i], want)
		}
	}
	var ve *ValidationError
	if !errors.As(err, &ve) {
		t.Fatal("errors.As found no *ValidationError")
	}
}

func TestValidateNamesDecodeProblemsOnce(t *testing.T) {
	// The token failed to expand; Validate would also call it missing.
	_, err := Parse([]byte(strings.Replace(minimal, "t0k3n-minimal", "${UNSET}", 1)), nil)
	wantFields(t, err, "scim.token")
}

func TestParseSCIMRootCAFile(t *testing.T) {
	dir := t.TempDir()
	ca := writeFile(t, dir, "ca.pem", caPEM(t))
	c := mustParse(t, doc("", "  rootCAFile: "+ca+"\n", ""), nil)
	if c.SCIM.RootCAFile != ca {
		t.Errorf("scim.rootCAFile %q, want %q", c.SCIM.RootCAFile, ca)
	}
	_, err := Parse([]byte(doc("", "  rootCAFile: "+filepath.Join(dir, "nope.pem")+"\n", "")), nil)
	wantFields(t, err, "scim.rootCAFile")
}
