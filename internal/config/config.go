// Package config reads syncd's YAML configuration: defaults first, then the
// file (unknown keys are an error, ${VAR} expands from the environment), then
// secrets from files or systemd credentials, then Validate, which names every
// bad field at once. A configuration that fails here fails before any network
// call.
package config

import (
	"fmt"
	"time"

	"github.com/syncd-dev/syncd/internal/textutil"
	"go.yaml.in/yaml/v3"
)

// Config is the whole configuration file.
type Config struct {
	// Schedule is a cron expression (5 fields, or a descriptor such as
	// @hourly) used by the daemon; ignored with --once.
	Schedule string `yaml:"schedule"`
	// ScheduleJitter delays each tick by a random time up to it, so that
	// a fleet of replicas does not hit the directory at the same second.
	ScheduleJitter Duration `yaml:"scheduleJitter"`
	LDAP           LDAP     `yaml:"ldap"`
	SCIM           SCIM     `yaml:"scim"`
	State          State    `yaml:"state"`
	Safety         Safety   `yaml:"safety"`
	Log            Log      `yaml:"log"`
	// HTTP is the opt-in listen address for /healthz, /readyz and /metrics.
	HTTP HTTP `yaml:"http"`
	// Notify is where syncd tells a person of runs that need one.
	Notify Notify `yaml:"notify"`
}

type LDAP struct {
	URL                string   `yaml:"url"`
	StartTLS           bool     `yaml:"startTLS"`
	RootCAFile         string   `yaml:"rootCAFile"`
	InsecureSkipVerify bool     `yaml:"insecureSkipVerify"`
	BindDN             string   `yaml:"bindDN"`
	BindPassword       Secret   `yaml:"bindPassword"`
	BindPasswordFile   string   `yaml:"bindPasswordFile"`
	Timeout            Duration `yaml:"timeout"`
	PageSize           int      `yaml:"pageSize"`
	// Flavor is openldap, activedirectory, freeipa or 389ds; it sets the
	// defaults of Attributes.ID and Login, Disabled, Users.Filter,
	// Groups.Filter and Groups.IDAttribute.
	Flavor     string     `yaml:"flavor"`
	Users      Users      `yaml:"users"`
	Groups     Groups     `yaml:"groups"`
	Attributes Attributes `yaml:"attributes"`
	Disabled   Disabled   `yaml:"disabled"`
	// Referrals says what a continuation reference in the results means:
	// "incomplete" (the default; the read is treated as incomplete, so no
	// deprovision follows from it) or "ignore" (the default for Active
	// Directory, whose domain root always refers to DomainDnsZones,
	// ForestDnsZones and Configuration). References are never followed. A
	// base DN that is itself a referral is always incomplete.
	Referrals string `yaml:"referrals"`
	// Incremental is how runs read only what changed: auto, syncrepl, usn
	// or off.
	Incremental string `yaml:"incremental"`
	// FullReadEvery is the longest time between full reads, which catch
	// what an incremental mechanism cannot report.
	FullReadEvery Duration `yaml:"fullReadEvery"`
	// OmniAttributes maps an Omni user attribute reference to an LDAP attribute.
	OmniAttributes map[string]string `yaml:"omniAttributes"`
}

type Users struct {
	BaseDNs []string `yaml:"baseDNs"`
	// Scope is sub or one, in any case.
	Scope  string `yaml:"scope"`
	Filter string `yaml:"filter"`
	// MemberOf lists group DNs; a user in any of them is in scope (on Active
	// Directory through nested groups too).
	MemberOf []string `yaml:"memberOf"`
}

// Groups is the group search; group sync is on when BaseDNs is set. The
// flavor sets the defaults of Filter and IDAttribute.
type Groups struct {
	BaseDNs []string `yaml:"baseDNs"`
	// Scope is sub or one, in any case.
	Scope  string `yaml:"scope"`
	Filter string `yaml:"filter"`
	// MemberAttribute is member or uniqueMember (member DNs) or memberUid
	// (member logins, see Attributes.Login).
	MemberAttribute string `yaml:"memberAttribute"`
	// NameAttribute becomes the Omni group's displayName.
	NameAttribute string `yaml:"nameAttribute"`
	IDAttribute   string `yaml:"idAttribute"`
	// Nested counts the members of member groups as members (default true).
	Nested bool `yaml:"nested"`
}

type Attributes struct {
	ID          string `yaml:"id"`
	UserName    string `yaml:"userName"`
	DisplayName string `yaml:"displayName"`
	GivenName   string `yaml:"givenName"`
	FamilyName  string `yaml:"familyName"`
	// Login is the account name memberUid groups list (default uid, or
	// sAMAccountName on Active Directory).
	Login string `yaml:"login"`
}

// Disabled says how a disabled account is recognised. Kind is one of
// "attribute" (Attribute equals Value, case-insensitively), "present"
// (Attribute has any value, e.g. pwdAccountLockedTime), "uac" (Active
// Directory userAccountControl bit 0x2), "nsaccountlock" (389-DS/FreeIPA,
// value TRUE) or "none". When Kind is left out and Attribute or Value is
// set, Kind is "attribute" (so half a pair is reported, not ignored);
// source.Disabled.WithDefaults holds that rule.
type Disabled struct {
	Kind      string `yaml:"kind"`
	Attribute string `yaml:"attribute"`
	Value     string `yaml:"value"`
}

// Keys returns every API key, scim.token first, in the order given.
func (s SCIM) Keys() []string {
	var keys []string
	if s.Token != "" {
		keys = append(keys, s.Token.Reveal())
	}
	for _, t := range s.Tokens {
		keys = append(keys, t.Reveal())
	}
	return keys
}

type SCIM struct {
	// URL is the SCIM base, e.g. https://acme.omniapp.co/api/scim/v2.
	URL string `yaml:"url"`
	// RootCAFile is a PEM file of certificates trusted for scim.url besides
	// the system's, for an Omni behind a proxy with a private CA.
	RootCAFile string `yaml:"rootCAFile"`
	Token      Secret `yaml:"token"`
	TokenFile  string `yaml:"tokenFile"`
	// Tokens and TokenFiles are more organisation API keys, beside Token:
	// each has its own rate budget, so K keys give K times the requests.
	Tokens     []Secret `yaml:"tokens"`
	TokenFiles []string `yaml:"tokenFiles"`
	// UsersPath is "users" (as Omni documents) or "Users".
	UsersPath         string   `yaml:"usersPath"`
	RequestsPerMinute int      `yaml:"requestsPerMinute"`
	Timeout           Duration `yaml:"timeout"`
	// MaxAttempts bounds the tries of one request (first try included).
	MaxAttempts int `yaml:"maxAttempts"`
	// MaxElapsed bounds the total time spent on one operation with retries.
	MaxElapsed Duration `yaml:"maxElapsed"`
	// Deprovision is deactivate, delete or none.
	Deprovision string `yaml:"deprovision"`
	// GroupsPath is "groups" or "Groups", as UsersPath.
	GroupsPath string `yaml:"groupsPath"`
	// GroupDeprovision is what happens to a group syncd created once it
	// leaves the directory: delete or none.
	GroupDeprovision string `yaml:"groupDeprovision"`
}

type State struct {
	DatabaseURL     Secret `yaml:"databaseURL"`
	DatabaseURLFile string `yaml:"databaseURLFile"`
}

type Safety struct {
	// DeprovisionAfter is the grace period before a missing or disabled user
	// is deprovisioned.
	DeprovisionAfter Duration `yaml:"deprovisionAfter"`
	// DeprovisionAfterRuns, when above zero, also requires that many
	// consecutive good runs to have missed the user.
	DeprovisionAfterRuns  int     `yaml:"deprovisionAfterRuns"`
	MaxDeprovisionsPerRun int     `yaml:"maxDeprovisionsPerRun"`
	MaxDeprovisionPercent float64 `yaml:"maxDeprovisionPercent"`
	// MinSourceFraction: a source with fewer in-scope users than this
	// fraction of the last good run plans no deprovisions.
	MinSourceFraction float64 `yaml:"minSourceFraction"`
	// CanaryDNs must all be found in scope, or no deprovisions are planned.
	CanaryDNs []string `yaml:"canaryDNs"`
	// ProtectedUsers are Omni userNames syncd never deactivates or deletes,
	// whatever the directory says: at least the creator of syncd's API key,
	// whose deactivation would revoke the key.
	ProtectedUsers []string `yaml:"protectedUsers"`
	// MaxGroupDeletionsPerRun bounds the groups one run deletes.
	MaxGroupDeletionsPerRun int `yaml:"maxGroupDeletionsPerRun"`
	// MaxMemberRemovalPercent bounds the memberships one run removes, as a
	// percentage of the memberships syncd manages.
	MaxMemberRemovalPercent float64 `yaml:"maxMemberRemovalPercent"`
}

type Log struct {
	// Level is trace, debug, info, warn or error.
	Level string `yaml:"level"`
	// Format is json, console or auto (console on a terminal).
	Format string `yaml:"format"`
}

type HTTP struct {
	Listen string `yaml:"listen"`
	// StaleAfter turns /readyz unready when runs have failed for longer;
	// zero means three schedule intervals.
	StaleAfter Duration `yaml:"staleAfter"`
}

// Notify configures the webhook syncd posts to when a run fails, a guard
// holds deprovisions back, Omni refuses a key, and when runs recover. It is
// off unless WebhookURL is set (inline, as WebhookURLFile, or as the
// systemd credential notify-webhook).
type Notify struct {
	// WebhookURL is a Slack- or Teams-compatible incoming webhook. It is a
	// Secret: such a URL embeds the credential that lets anyone post.
	WebhookURL     Secret `yaml:"webhookURL"`
	WebhookURLFile string `yaml:"webhookURLFile"`
	// Timeout bounds one attempt to deliver a message.
	Timeout Duration `yaml:"timeout"`
}

// Duration is a time.Duration written as "30s" in YAML.
type Duration time.Duration

// D returns the value as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

func (d Duration) String() string { return time.Duration(d).String() }

// MarshalText writes the form UnmarshalYAML reads, so a configuration printed
// as YAML or JSON can be read back and is legible to a person.
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// UnmarshalYAML reads a Go duration string such as "30s", "15m" or "24h". A
// bare number is refused rather than guessed at: "30" could mean seconds or
// minutes, and YAML would otherwise read it as nanoseconds.
//
// Errors are *yaml.TypeError, which lets the decoder go on to the other
// fields as it does for its own type errors.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: must be a duration such as 30s, 15m or 24h", n.Line)}}
	}
	v, err := time.ParseDuration(n.Value)
	if err != nil {
		return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: must be a duration such as 30s, 15m or 24h, not %q", n.Line, n.Value)}}
	}
	*d = Duration(v)
	return nil
}

// Secret holds a password, token or URL with credentials. It never prints its
// value: fmt, %v, JSON and YAML all show a placeholder, so a config or an
// error that includes one leaks nothing. Use Reveal at the point of use.
type Secret string

// Reveal returns the secret value.
func (s Secret) Reveal() string { return string(s) }

const redacted = textutil.Redacted

func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return redacted
}

func (s Secret) GoString() string { return s.String() }

// Format covers the verbs that would otherwise bypass String, such as %d
// and %x on the underlying string.
func (s Secret) Format(f fmt.State, verb rune) {
	if verb == 'q' {
		fmt.Fprintf(f, "%q", s.String())
		return
	}
	fmt.Fprint(f, s.String())
}

func (s Secret) MarshalJSON() ([]byte, error) { return []byte(`"` + s.String() + `"`), nil }

func (s Secret) MarshalYAML() (any, error) { return s.String(), nil }
