package config

import "github.com/syncd-dev/syncd/internal/source"

// Source translates the ldap section into the source's configuration. The
// source owns the rules of its fields (Validate calls its Validate); this is
// the one place the YAML schema meets it, used by the daemon's wiring and by
// `syncd check` alike. Call it on a loaded configuration: a password still
// given as ldap.bindPasswordFile is not read here.
func (l LDAP) Source() source.Config {
	return source.Config{
		URL:                l.URL,
		StartTLS:           l.StartTLS,
		RootCAFile:         l.RootCAFile,
		InsecureSkipVerify: l.InsecureSkipVerify,
		BindDN:             l.BindDN,
		BindPassword:       l.BindPassword.Reveal(),
		Timeout:            l.Timeout.D(),
		PageSize:           l.PageSize,
		BaseDNs:            l.Users.BaseDNs,
		Scope:              l.Users.Scope,
		Filter:             l.Users.Filter,
		MemberOf:           l.Users.MemberOf,
		Referrals:          l.Referrals,
		Incremental:        l.Incremental,
		FullReadEvery:      l.FullReadEvery.D(),
		ActiveDirectory:    l.Flavor == FlavorActiveDirectory,
		// The field names and types match, so these convert; a field added
		// to one and not the other stops the build here.
		Attributes:     source.Attributes(l.Attributes),
		Groups:         source.Groups(l.Groups),
		OmniAttributes: l.OmniAttributes,
		Disabled:       source.Disabled(l.Disabled),
	}
}
