// Package source reads the users in scope from an LDAP directory (Active
// Directory, OpenLDAP, FreeIPA, 389-DS) and maps each entry to an
// identity.User. It dials ldap:// or ldaps:// (optionally upgrading with
// StartTLS), binds, and runs a paged search per base DN that is streamed: each
// entry is mapped as it arrives and only the mapped users are kept. Entries
// that cannot be mapped are returned as skipped with a reason rather than
// failing the run, and a search that ends early (size or time limit, referral,
// lost connection) still returns what it read, marked incomplete, because the
// caller must then create and update but never deprovision.
package source

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/go-ldap/ldap/v3"
	"github.com/rs/zerolog"

	"github.com/syncd-dev/syncd/internal/config"
	"github.com/syncd-dev/syncd/internal/identity"
)

const (
	defaultTimeout  = 30 * time.Second
	defaultPageSize = 500
	// searchBuffer is how many decoded entries may wait between the
	// connection's reader and the mapper; enough to keep both busy.
	searchBuffer = 64
	// maxReasons bounds Result.Incomplete when many base DNs fail alike.
	maxReasons = 5
)

// Result is one read of the directory.
type Result struct {
	// Users are the mapped users in scope, sorted by ID.
	Users []identity.User
	// Skipped are the entries in scope that could not be mapped, sorted by DN.
	Skipped []identity.Skipped
	// Entries counts the entries the directory returned, overlaps included.
	Entries int
	// Incomplete is empty when every search ran to its end; otherwise it
	// says why not (size limit exceeded, time limit exceeded, referral,
	// connection lost mid-search, or a search refused by the server), and
	// Users holds only what was read before.
	Incomplete string
}

// Directory reads users from one LDAP server. It keeps no connection between
// calls: every Read and Check dials, binds and closes, so a restarted or
// failed-over server is picked up by the next run.
type Directory struct {
	log      zerolog.Logger
	mapper   *Mapper
	attrs    []string
	filter   string
	baseDNs  []string
	scope    int
	addr     string
	ldaps    bool
	tls      *tls.Config
	startTLS bool
	bindDN   string
	bindPW   config.Secret
	timeout  time.Duration
	pageSize uint32
	// ignoreReferrals: continuation references do not make a read
	// incomplete (ldap.referrals: ignore).
	ignoreReferrals bool
}

// New checks the configuration and prepares the mapper, the filter and the
// TLS configuration. It does no network I/O; the first Read or Check dials.
func New(cfg config.LDAP, log zerolog.Logger) (*Directory, error) {
	mapper, err := NewMapper(cfg)
	if err != nil {
		return nil, err
	}
	d := &Directory{
		log:      log.With().Str("component", "source").Logger(),
		mapper:   mapper,
		attrs:    mapper.Attributes(),
		filter:   Filter(cfg),
		startTLS: cfg.StartTLS,
		bindDN:   cfg.BindDN,
		bindPW:   cfg.BindPassword,
		timeout:  cfg.Timeout.D(),
		pageSize: defaultPageSize,

		ignoreReferrals: cfg.Referrals == config.ReferralsIgnore,
	}
	if d.timeout <= 0 {
		d.timeout = defaultTimeout
	}
	if cfg.PageSize < 0 || cfg.PageSize > 1<<31-1 {
		return nil, fmt.Errorf("ldap.pageSize: %d is out of range", cfg.PageSize)
	}
	if cfg.PageSize > 0 {
		d.pageSize = uint32(cfg.PageSize)
	}

	u, err := url.Parse(cfg.URL)
	if err != nil {
		return nil, fmt.Errorf("ldap.url: %w", err)
	}
	host := u.Hostname()
	port := u.Port()
	switch strings.ToLower(u.Scheme) {
	case "ldap":
		if port == "" {
			port = "389"
		}
	case "ldaps":
		d.ldaps = true
		if port == "" {
			port = "636"
		}
	default:
		return nil, fmt.Errorf("ldap.url: scheme %q is not ldap or ldaps", u.Scheme)
	}
	if host == "" {
		return nil, errors.New("ldap.url: no host")
	}
	d.addr = net.JoinHostPort(host, port)
	if d.ldaps && d.startTLS {
		return nil, errors.New("ldap.startTLS: not with an ldaps:// url, which is already TLS")
	}

	if cfg.BindDN != "" && cfg.BindPassword.Reveal() == "" {
		// An empty password turns a simple bind into an unauthenticated one,
		// which servers accept as anonymous: ACLs would then hide users
		// silently instead of failing the bind.
		return nil, errors.New("ldap.bindPassword: required when bindDN is set")
	}

	if d.ldaps || d.startTLS {
		d.tls, err = tlsConfig(cfg, host)
		if err != nil {
			return nil, err
		}
	}

	for i, b := range cfg.Users.BaseDNs {
		b = strings.TrimSpace(b)
		if _, err := ldap.ParseDN(b); err != nil {
			return nil, fmt.Errorf("ldap.users.baseDNs[%d]: %w", i, err)
		}
		d.baseDNs = append(d.baseDNs, b)
	}
	if len(d.baseDNs) == 0 {
		return nil, errors.New("ldap.users.baseDNs: at least one is required")
	}
	switch strings.ToLower(cfg.Users.Scope) {
	case "", "sub":
		d.scope = ldap.ScopeWholeSubtree
	case "one":
		d.scope = ldap.ScopeSingleLevel
	default:
		return nil, fmt.Errorf("ldap.users.scope: %q is not sub or one", cfg.Users.Scope)
	}
	if _, err := ldap.CompileFilter(d.filter); err != nil {
		return nil, fmt.Errorf("ldap.users.filter: %w", err)
	}
	return d, nil
}

// Read searches every base DN and returns the mapped users. It returns an
// error only when nothing could be read: dial, TLS, bind, or a first search
// request the server refused. Once entries have arrived, a failure yields the
// partial Result with Incomplete set and a nil error, so the caller can still
// apply creates and updates. Cancelling ctx returns its error instead: the run
// is being stopped, not the directory failing.
//
// An entry found twice (base DNs that overlap) is kept once. Two different
// entries with the same id keep the first one read and skip the other with
// SkipDuplicateID. Two entries with the same userName are both skipped with
// SkipDuplicateEmail, since neither can be told to be the right one.
func (d *Directory) Read(ctx context.Context) (*Result, error) {
	start := time.Now()
	conn, err := d.connect(ctx)
	if err != nil {
		return nil, err
	}
	defer conn.Close()

	res := &Result{}
	col := newCollector()
	var reasons []string
	pages := 0
	for _, base := range d.baseDNs {
		st, err := d.search(ctx, conn, base, d.attrs, func(e *ldap.Entry) {
			res.Entries++
			col.add(d.mapper.Map(e))
		})
		pages += st.pages
		for _, ref := range st.referrals {
			if d.ignoreReferrals {
				d.log.Debug().Str("base", base).Str("reference", ref).Msg("continuation reference ignored (ldap.referrals: ignore)")
				continue
			}
			reasons = append(reasons, fmt.Sprintf("referral: %s: continuation to %s not followed (set ldap.referrals: ignore if this reference is expected)", base, ref))
		}
		if err == nil {
			continue
		}
		var se *searchError
		if !errors.As(err, &se) {
			return nil, err
		}
		if se.kind == stopCanceled {
			return nil, fmt.Errorf("ldap: read %s: %w", base, ctx.Err())
		}
		if res.Entries == 0 && pages == 0 && (se.kind == stopRefused || se.kind == stopConnLost) {
			return nil, fmt.Errorf("ldap: %w", err)
		}
		reasons = append(reasons, se.reason())
		if se.kind == stopConnLost {
			break
		}
	}

	res.Users, res.Skipped = col.finish()
	res.Incomplete = joinReasons(reasons)
	// Every run reads the directory; only a read that went wrong is news.
	ev := d.log.Debug()
	if res.Incomplete != "" {
		ev = d.log.Warn().Str("incomplete", res.Incomplete)
	}
	ev.Int("entries", res.Entries).
		Int("users", len(res.Users)).
		Int("skipped", len(res.Skipped)).
		Int("pages", pages).
		Dur("took", time.Since(start)).
		Msg("directory read")
	return res, nil
}

// Check dials, binds and counts the entries in scope, for `syncd check`; an
// entry under two overlapping base DNs counts once. Any search that does not
// run to its end is an error here: the count would be wrong.
func (d *Directory) Check(ctx context.Context) (int, error) {
	conn, err := d.connect(ctx)
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	seen := map[string]struct{}{}
	count := func(e *ldap.Entry) { seen[strings.ToLower(e.DN)] = struct{}{} }
	for _, base := range d.baseDNs {
		// "1.1" asks for no attributes: only the count matters.
		st, err := d.search(ctx, conn, base, []string{"1.1"}, count)
		if err != nil {
			return len(seen), fmt.Errorf("ldap: count: %w", err)
		}
		if len(st.referrals) > 0 && !d.ignoreReferrals {
			return len(seen), fmt.Errorf("ldap: count: %s: referral to %s not followed", base, st.referrals[0])
		}
	}
	return len(seen), nil
}
