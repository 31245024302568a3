package config

import (
	"errors"
	"fmt"
	"math"
	"net"
	"net/url"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/robfig/cron/v3"

	"github.com/syncd-dev/syncd/internal/identity"
	"github.com/syncd-dev/syncd/internal/validate"
)

// Problem is one thing wrong with a configuration: a YAML field path and a
// message. It is the validate package's, so that the problems each component
// reports are listed together.
type Problem = validate.Problem

// ValidationError lists every problem found, so an operator fixes a file in
// one pass instead of one error per restart.
type ValidationError = validate.Error

// problems collects Problems in the order they are found.
type problems = validate.Problems

// Validate checks the configuration and reports every problem at once, each
// naming its YAML field. It reads ldap.rootCAFile and scim.rootCAFile to
// check that they hold a certificate, so that a bad path fails at start
// rather than at the first TLS handshake; it does not read the secret files, which Load resolves.
// Validate never includes a secret in a message.
func (c *Config) Validate() error {
	var ps problems
	if c.ScheduleJitter < 0 {
		ps.Add("scheduleJitter", "must not be negative")
	}
	if c.HTTP.StaleAfter < 0 {
		ps.Add("http.staleAfter", "must not be negative")
	}
	if _, err := cron.ParseStandard(c.Schedule); err != nil {
		ps.Add("schedule", "must be a cron expression of 5 fields or a descriptor such as @hourly: %v", err)
	}
	c.LDAP.validate(&ps)
	c.SCIM.validate(&ps)
	c.State.validate(&ps)
	c.Safety.validate(&ps)
	c.Log.validate(&ps)
	c.HTTP.validate(&ps)
	c.Notify.validate(&ps)
	return ps.Err()
}

// validate reports what only the file can get wrong (the flavor, a secret
// given twice), then the source's own problems with the configuration the
// file translates to, so that every bad field is named before any network
// call.
func (l *LDAP) validate(ps *problems) {
	if _, ok := flavors[l.Flavor]; !ok {
		ps.Add("ldap.flavor", "must be one of openldap, activedirectory, freeipa, 389ds")
	}
	secretPair(ps, "ldap.bindPassword", l.BindPassword, "ldap.bindPasswordFile", l.BindPasswordFile, false)
	src := l.Source()
	if src.BindPassword == "" && l.BindPasswordFile != "" {
		// Parse leaves the file to Load, which reads it into BindPassword;
		// until then the file stands for the password it holds, so that
		// the source neither asks for one nor sees a bind DN missing.
		src.BindPassword = "-"
	}
	if err := src.Validate(); err != nil {
		var ve *ValidationError
		if !errors.As(err, &ve) {
			ps.Add("ldap", "%v", err)
			return
		}
		*ps = append(*ps, ve.Problems...)
	}
}

func (s *SCIM) validate(ps *problems) {
	if s.URL == "" {
		ps.Add("scim.url", "must be set, e.g. https://acme.omniapp.co/api/scim/v2")
	} else {
		checkHTTPS(ps, "scim.url", s.URL, "https://acme.omniapp.co/api/scim/v2", "; use scim.token")
	}
	checkCAFile(ps, "scim.rootCAFile", s.RootCAFile)
	more := len(s.Tokens)+len(s.TokenFiles) > 0
	secretPair(ps, "scim.token", s.Token, "scim.tokenFile", s.TokenFile, !more)
	seen := map[Secret]string{}
	if s.Token != "" {
		seen[s.Token] = "scim.token"
	}
	for i, t := range s.Tokens {
		field := fmt.Sprintf("scim.tokens[%d]", i)
		switch first, dup := seen[t]; {
		case t == "":
			ps.Add(field, "must not be empty")
		case dup:
			// Named by position only: the value is a secret.
			ps.Add(field, "is the same key as %s; each key must be listed once", first)
		default:
			seen[t] = field
		}
	}
	if s.UsersPath != "users" && s.UsersPath != "Users" {
		ps.Add("scim.usersPath", "must be users or Users")
	}
	if s.RequestsPerMinute < 1 || s.RequestsPerMinute > 10000 {
		ps.Add("scim.requestsPerMinute", "must be from 1 to 10000")
	}
	if s.Timeout <= 0 {
		ps.Add("scim.timeout", "must be above zero")
	}
	if s.MaxAttempts < 1 || s.MaxAttempts > 20 {
		ps.Add("scim.maxAttempts", "must be from 1 to 20")
	}
	if s.MaxElapsed < s.Timeout {
		ps.Add("scim.maxElapsed", "must be at least scim.timeout (%s)", s.Timeout)
	}
	switch s.Deprovision {
	case "deactivate", "delete", "none":
	default:
		ps.Add("scim.deprovision", "must be deactivate, delete or none")
	}
	if s.GroupsPath != "groups" && s.GroupsPath != "Groups" {
		ps.Add("scim.groupsPath", "must be groups or Groups")
	}
	switch s.GroupDeprovision {
	case "delete", "none":
	default:
		ps.Add("scim.groupDeprovision", "must be delete or none")
	}
}

func (s *State) validate(ps *problems) {
	if s.DatabaseURL != "" && s.DatabaseURLFile != "" {
		ps.Add("state.databaseURLFile", "set together with state.databaseURL; use one")
	}
	// The database is optional here: a dry run may go without one, and the
	// command decides. pgx's own errors quote the connection string, so
	// none of them is passed on.
	if s.DatabaseURL != "" {
		if _, err := pgx.ParseConfig(s.DatabaseURL.Reveal()); err != nil {
			ps.Add("state.databaseURL", "must be a PostgreSQL URL (postgres://…) or key=value DSN; percent-encode special characters in a URL's password")
		}
	}
}

func (s *Safety) validate(ps *problems) {
	if s.DeprovisionAfter < 0 {
		ps.Add("safety.deprovisionAfter", "must not be negative")
	}
	if s.DeprovisionAfterRuns < 0 {
		ps.Add("safety.deprovisionAfterRuns", "must not be negative")
	}
	if s.MaxDeprovisionsPerRun < 0 {
		ps.Add("safety.maxDeprovisionsPerRun", "must not be negative")
	}
	if s.MaxGroupDeletionsPerRun < 0 {
		ps.Add("safety.maxGroupDeletionsPerRun", "must not be negative")
	}
	percent(ps, "safety.maxDeprovisionPercent", s.MaxDeprovisionPercent)
	percent(ps, "safety.maxMemberRemovalPercent", s.MaxMemberRemovalPercent)
	if !(s.MinSourceFraction >= 0 && s.MinSourceFraction <= 1) || math.IsNaN(s.MinSourceFraction) {
		ps.Add("safety.minSourceFraction", "must be from 0 to 1")
	}
	for i, dn := range s.CanaryDNs {
		ps.DN(fmt.Sprintf("safety.canaryDNs[%d]", i), dn)
	}
	for i, u := range s.ProtectedUsers {
		if _, err := identity.NormalizeEmail(u); err != nil {
			ps.Add(fmt.Sprintf("safety.protectedUsers[%d]", i), "must be an Omni userName (an email address)")
		}
	}
}

func (l *Log) validate(ps *problems) {
	switch l.Level {
	case "trace", "debug", "info", "warn", "error":
	default:
		ps.Add("log.level", "must be trace, debug, info, warn or error")
	}
	switch l.Format {
	case "json", "console", "auto":
	default:
		ps.Add("log.format", "must be json, console or auto")
	}
}

func (h *HTTP) validate(ps *problems) {
	if h.Listen == "" {
		return
	}
	_, port, err := net.SplitHostPort(h.Listen)
	if err != nil || (port != "0" && !validate.Port(port)) {
		ps.Add("http.listen", "must be host:port or :port, e.g. 127.0.0.1:9090")
	}
}

// validate checks the webhook when one is set. No message quotes the URL:
// a webhook URL embeds the credential that lets anyone post to it.
func (n *Notify) validate(ps *problems) {
	secretPair(ps, "notify.webhookURL", n.WebhookURL, "notify.webhookURLFile", n.WebhookURLFile, false)
	if n.WebhookURL != "" {
		checkHTTPS(ps, "notify.webhookURL", n.WebhookURL.Reveal(), "https://hooks.example.com/services/…", "")
	}
	if n.Timeout <= 0 {
		ps.Add("notify.timeout", "must be above zero")
	}
}

// checkHTTPS reports a URL that is not absolute, not https (http only to a
// loopback host, for a local stand-in) or holds credentials; example shows
// a good one and credHint follows the credentials message. No message
// quotes the URL.
func checkHTTPS(ps *problems, field, raw, example, credHint string) {
	u, err := url.Parse(raw)
	switch {
	case err != nil || !u.IsAbs() || u.Host == "":
		ps.Add(field, "must be an absolute URL such as %s", example)
	case u.Scheme != "https" && u.Scheme != "http":
		ps.Add(field, "scheme must be https")
	case u.Scheme == "http" && !isLoopback(u.Hostname()):
		ps.Add(field, "must be https unless the host is loopback")
	case u.User != nil:
		ps.Add(field, "must not hold credentials%s", credHint)
	}
}

// percent reports a percentage outside 0..100; written so that NaN fails
// too.
func percent(ps *problems, field string, v float64) {
	if !(v >= 0 && v <= 100) {
		ps.Add(field, "must be from 0 to 100")
	}
}

// secretPair checks a secret that may be given inline or as a file name;
// required says whether one of them must be. The LDAP bind password is not
// required here: whether it is depends on the bind DN, which the source
// checks.
func secretPair(ps *problems, field string, v Secret, fileField, file string, required bool) {
	switch {
	case v != "" && file != "":
		ps.Add(fileField, "set together with %s; use one", field)
	case required && v == "" && file == "":
		ps.Add(field, "must be set (or %s)", fileField)
	}
}

// checkCAFile reports a CA file that is set but holds no usable certificate,
// so that a bad path fails at start rather than at the first TLS handshake.
func checkCAFile(ps *problems, field, name string) {
	if name == "" {
		return
	}
	if _, err := validate.RootCAs(name); err != nil {
		ps.Add(field, "%v", err)
	}
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
