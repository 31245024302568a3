package config

import (
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"math"
	"net"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"

	"github.com/go-ldap/ldap/v3"
	"github.com/jackc/pgx/v5"
	"github.com/robfig/cron/v3"
)

// Problem is one thing wrong with a configuration.
type Problem struct {
	// Field is the YAML path of the value, e.g. "scim.url" or
	// "ldap.users.baseDNs[1]"; empty when the problem is the file as a whole.
	Field   string
	Message string
}

func (p Problem) String() string {
	if p.Field == "" {
		return p.Message
	}
	return p.Field + ": " + p.Message
}

// ValidationError lists every problem found, so an operator fixes a file in
// one pass instead of one error per restart.
type ValidationError struct {
	Problems []Problem
}

// Error gives one "field: message" per line.
func (e *ValidationError) Error() string {
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}

// problems collects Problems in the order they are found.
type problems []Problem

func (ps *problems) add(field, format string, args ...any) {
	*ps = append(*ps, Problem{Field: field, Message: fmt.Sprintf(format, args...)})
}

// err returns nil or a *ValidationError; a typed nil would make a non-nil
// error interface.
func (ps problems) err() error {
	if len(ps) == 0 {
		return nil
	}
	return &ValidationError{Problems: ps}
}

// Validate checks the configuration and reports every problem at once, each
// naming its YAML field. It reads ldap.rootCAFile and scim.rootCAFile to
// check that they hold a certificate, so that a bad path fails at start
// rather than at the first TLS handshake; it does not read the secret files, which Load resolves.
// Validate never includes a secret in a message.
func (c *Config) Validate() error {
	var ps problems
	if _, err := cron.ParseStandard(c.Schedule); err != nil {
		ps.add("schedule", "must be a cron expression of 5 fields or a descriptor such as @hourly: %v", err)
	}
	c.LDAP.validate(&ps)
	c.SCIM.validate(&ps)
	c.State.validate(&ps)
	c.Safety.validate(&ps)
	c.Log.validate(&ps)
	c.HTTP.validate(&ps)
	return ps.err()
}

func (l *LDAP) validate(ps *problems) {
	u, err := url.Parse(l.URL)
	switch {
	case l.URL == "":
		ps.add("ldap.url", "must be set, e.g. ldaps://ldap.example.com")
	case err != nil:
		ps.add("ldap.url", "must be a URL such as ldaps://ldap.example.com")
	case u.Scheme != "ldap" && u.Scheme != "ldaps":
		ps.add("ldap.url", "scheme must be ldap or ldaps")
	case u.Hostname() == "":
		ps.add("ldap.url", "must name a host")
	case u.Port() != "" && !validPort(u.Port()):
		ps.add("ldap.url", "port must be a number from 1 to 65535")
	}
	if l.StartTLS && err == nil && u.Scheme != "ldap" {
		ps.add("ldap.startTLS", "applies only to ldap:// URLs (ldaps:// is TLS already)")
	}
	checkCAFile(ps, "ldap.rootCAFile", l.RootCAFile)
	if l.BindDN != "" {
		checkDN(ps, "ldap.bindDN", l.BindDN)
	}
	secretPair(ps, "ldap.bindPassword", l.BindPassword, "ldap.bindPasswordFile", l.BindPasswordFile, l.BindDN != "", "when ldap.bindDN is set")
	if l.BindDN == "" && (l.BindPassword != "" || l.BindPasswordFile != "") {
		ps.add("ldap.bindDN", "must be set when a bind password is given")
	}
	if l.Timeout <= 0 {
		ps.add("ldap.timeout", "must be above zero")
	}
	if l.PageSize < 1 || l.PageSize > 10000 {
		ps.add("ldap.pageSize", "must be from 1 to 10000")
	}
	if l.Referrals != ReferralsIncomplete && l.Referrals != ReferralsIgnore {
		ps.add("ldap.referrals", "must be %s or %s", ReferralsIncomplete, ReferralsIgnore)
	}
	if _, ok := flavors[l.Flavor]; !ok {
		ps.add("ldap.flavor", "must be one of openldap, activedirectory, freeipa, 389ds")
	}

	if len(l.Users.BaseDNs) == 0 {
		ps.add("ldap.users.baseDNs", "must list at least one base DN")
	}
	for i, dn := range l.Users.BaseDNs {
		checkDN(ps, fmt.Sprintf("ldap.users.baseDNs[%d]", i), dn)
	}
	if l.Users.Scope != "sub" && l.Users.Scope != "one" {
		ps.add("ldap.users.scope", "must be sub or one")
	}
	if _, err := ldap.CompileFilter(l.Users.Filter); err != nil {
		ps.add("ldap.users.filter", "must be an LDAP filter such as (objectClass=person): %s", filterReason(err))
	}
	for i, dn := range l.Users.MemberOf {
		checkDN(ps, fmt.Sprintf("ldap.users.memberOf[%d]", i), dn)
	}

	a := l.Attributes
	checkAttr(ps, "ldap.attributes.id", a.ID, true)
	checkAttr(ps, "ldap.attributes.userName", a.UserName, true)
	checkAttr(ps, "ldap.attributes.displayName", a.DisplayName, false)
	checkAttr(ps, "ldap.attributes.givenName", a.GivenName, false)
	checkAttr(ps, "ldap.attributes.familyName", a.FamilyName, false)

	d := l.Disabled
	switch d.Kind {
	case DisabledAttribute:
		checkAttr(ps, "ldap.disabled.attribute", d.Attribute, true)
		if d.Value == "" {
			ps.add("ldap.disabled.value", "must be set when kind is attribute")
		}
	case DisabledPresent, DisabledUAC, DisabledNSAccountLock:
		checkAttr(ps, "ldap.disabled.attribute", d.Attribute, true)
	case DisabledNone:
	case "":
		ps.add("ldap.disabled.kind", "must be set (no default for an unknown flavor)")
	default:
		ps.add("ldap.disabled.kind", "must be one of attribute, present, uac, nsaccountlock, none")
	}
	if d.Value != "" && d.Kind != DisabledAttribute {
		ps.add("ldap.disabled.value", "applies only when kind is attribute")
	}

	for _, k := range sortedKeys(l.OmniAttributes) {
		field := "ldap.omniAttributes" + keyPath(k)
		switch {
		case strings.TrimSpace(k) == "":
			ps.add(field, "key must be an Omni user attribute reference, not empty")
		case strings.HasPrefix(k, omniAttributeURN+":"):
			ps.add(field, "key must be the attribute's reference alone, without the %s: prefix", omniAttributeURN)
		case strings.Contains(k, ":"):
			ps.add(field, "key must be an Omni user attribute reference, which has no ':'")
		}
		checkAttr(ps, field, l.OmniAttributes[k], true)
	}
}

// omniAttributeURN is the SCIM extension that holds Omni user attributes;
// people copying from an IdP's mapping screen often paste it in front of the
// reference.
const omniAttributeURN = "urn:omni:params:1.0:UserAttribute"

func (s *SCIM) validate(ps *problems) {
	u, err := url.Parse(s.URL)
	switch {
	case s.URL == "":
		ps.add("scim.url", "must be set, e.g. https://acme.omniapp.co/api/scim/v2")
	case err != nil || !u.IsAbs() || u.Host == "":
		ps.add("scim.url", "must be an absolute URL such as https://acme.omniapp.co/api/scim/v2")
	case u.Scheme != "https" && u.Scheme != "http":
		ps.add("scim.url", "scheme must be https")
	case u.Scheme == "http" && !isLoopback(u.Hostname()):
		ps.add("scim.url", "must be https unless the host is loopback")
	case u.User != nil:
		ps.add("scim.url", "must not hold credentials; use scim.token")
	}
	checkCAFile(ps, "scim.rootCAFile", s.RootCAFile)
	secretPair(ps, "scim.token", s.Token, "scim.tokenFile", s.TokenFile, true, "")
	if s.UsersPath != "users" && s.UsersPath != "Users" {
		ps.add("scim.usersPath", "must be users or Users")
	}
	if s.RequestsPerMinute < 1 || s.RequestsPerMinute > 10000 {
		ps.add("scim.requestsPerMinute", "must be from 1 to 10000")
	}
	if s.Timeout <= 0 {
		ps.add("scim.timeout", "must be above zero")
	}
	if s.MaxAttempts < 1 || s.MaxAttempts > 20 {
		ps.add("scim.maxAttempts", "must be from 1 to 20")
	}
	if s.MaxElapsed < s.Timeout {
		ps.add("scim.maxElapsed", "must be at least scim.timeout (%s)", s.Timeout)
	}
	switch s.Deprovision {
	case "deactivate", "delete", "none":
	default:
		ps.add("scim.deprovision", "must be deactivate, delete or none")
	}
}

func (s *State) validate(ps *problems) {
	if s.DatabaseURL != "" && s.DatabaseURLFile != "" {
		ps.add("state.databaseURLFile", "set together with state.databaseURL; use one")
	}
	// The database is optional here: a dry run may go without one, and the
	// command decides. pgx's own errors quote the connection string, so
	// none of them is passed on.
	if s.DatabaseURL != "" {
		if _, err := pgx.ParseConfig(s.DatabaseURL.Reveal()); err != nil {
			ps.add("state.databaseURL", "must be a PostgreSQL URL (postgres://…) or key=value DSN; percent-encode special characters in a URL's password")
		}
	}
}

func (s *Safety) validate(ps *problems) {
	if s.DeprovisionAfter < 0 {
		ps.add("safety.deprovisionAfter", "must not be negative")
	}
	if s.DeprovisionAfterRuns < 0 {
		ps.add("safety.deprovisionAfterRuns", "must not be negative")
	}
	if s.MaxDeprovisionsPerRun < 0 {
		ps.add("safety.maxDeprovisionsPerRun", "must not be negative")
	}
	// Written so that NaN fails too.
	if !(s.MaxDeprovisionPercent >= 0 && s.MaxDeprovisionPercent <= 100) {
		ps.add("safety.maxDeprovisionPercent", "must be from 0 to 100")
	}
	if !(s.MinSourceFraction >= 0 && s.MinSourceFraction <= 1) || math.IsNaN(s.MinSourceFraction) {
		ps.add("safety.minSourceFraction", "must be from 0 to 1")
	}
	for i, dn := range s.CanaryDNs {
		checkDN(ps, fmt.Sprintf("safety.canaryDNs[%d]", i), dn)
	}
}

func (l *Log) validate(ps *problems) {
	switch l.Level {
	case "trace", "debug", "info", "warn", "error":
	default:
		ps.add("log.level", "must be trace, debug, info, warn or error")
	}
	switch l.Format {
	case "json", "console", "auto":
	default:
		ps.add("log.format", "must be json, console or auto")
	}
}

func (h *HTTP) validate(ps *problems) {
	if h.Listen == "" {
		return
	}
	_, port, err := net.SplitHostPort(h.Listen)
	if err != nil || (port != "0" && !validPort(port)) {
		ps.add("http.listen", "must be host:port or :port, e.g. 127.0.0.1:9090")
	}
}

// secretPair checks a secret that may be given inline or as a file name.
func secretPair(ps *problems, field string, v Secret, fileField, file string, required bool, when string) {
	switch {
	case v != "" && file != "":
		ps.add(fileField, "set together with %s; use one", field)
	case required && v == "" && file == "":
		msg := "must be set (or " + fileField + ")"
		if when != "" {
			msg += " " + when
		}
		ps.add(field, "%s", msg)
	}
}

func checkDN(ps *problems, field, dn string) {
	if strings.TrimSpace(dn) == "" {
		ps.add(field, "must be a DN such as dc=example,dc=com, not empty")
		return
	}
	if _, err := ldap.ParseDN(dn); err != nil {
		ps.add(field, "must be a DN such as dc=example,dc=com: %v", err)
	}
}

// attrName matches an LDAP attribute description (RFC 4512): a name or a
// numeric OID, with options such as ;lang-en or ;binary.
var attrName = regexp.MustCompile(`^([A-Za-z][A-Za-z0-9-]*|[0-9]+(\.[0-9]+)+)(;[A-Za-z0-9-]+)*$`)

func checkAttr(ps *problems, field, v string, required bool) {
	switch {
	case v == "" && required:
		ps.add(field, "must name an LDAP attribute")
	case v != "" && !attrName.MatchString(v):
		ps.add(field, "must be an LDAP attribute name such as mail, not %q", v)
	}
}

// checkCAFile reports a CA file that is set but holds no usable certificate,
// so that a bad path fails at start rather than at the first TLS handshake.
func checkCAFile(ps *problems, field, name string) {
	if name == "" {
		return
	}
	if msg := caFileProblem(name); msg != "" {
		ps.add(field, "%s", msg)
	}
}

func caFileProblem(name string) string {
	data, err := os.ReadFile(name)
	if err != nil {
		return fmt.Sprintf("cannot read: %v", err)
	}
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			return "holds no PEM certificate"
		}
		if b.Type != "CERTIFICATE" {
			continue
		}
		if _, err := x509.ParseCertificate(b.Bytes); err != nil {
			return fmt.Sprintf("holds a certificate that does not parse: %v", err)
		}
		return ""
	}
}

// filterReason strips go-ldap's "LDAP Result Code 201 ..." preamble, which
// means nothing to a person editing a file.
func filterReason(err error) string {
	var le *ldap.Error
	if errors.As(err, &le) && le.Err != nil {
		return strings.TrimPrefix(le.Err.Error(), "ldap: ")
	}
	return err.Error()
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func validPort(p string) bool {
	n, err := strconv.Atoi(p)
	return err == nil && n >= 1 && n <= 65535 && strconv.Itoa(n) == p
}
