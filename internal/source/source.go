// Package source reads the users in scope from an LDAP directory (Active
// Directory, OpenLDAP, FreeIPA, 389-DS) and maps each entry to an
// identity.User. It dials ldap:// or ldaps:// (optionally upgrading with
// StartTLS), binds, and runs a paged search per base DN that is streamed: each
// entry is mapped as it arrives and only the mapped users are kept. Entries
// that cannot be mapped are returned as skipped with a reason rather than
// failing the run, and a search that ends early (size or time limit, referral,
// lost connection) still returns what it read, marked incomplete, because the
// caller must then create and update but never deprovision. ReadGroups reads
// the groups the same way, when ldap.groups is configured, and flattens
// nested membership (see FlattenGroups).
package source

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/go-ldap/ldap/v3"

	"github.com/rs/zerolog"
	"github.com/syncd-dev/syncd/internal/ldapwire"

	"github.com/syncd-dev/syncd/internal/identity"
)

const (
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
	users    query
	baseDNs  []string
	groups   *groupReader
	usn      usnReader
	addr     string
	ldaps    bool
	tls      *tls.Config
	startTLS bool
	bindDN   string
	bindPW   string
	timeout  time.Duration
	pageSize uint32
	// ignoreReferrals: continuation references do not make a read
	// incomplete (ldap.referrals: ignore).
	ignoreReferrals bool
	// incremental is ldap.incremental; activeDirectory the flavour.
	incremental     string
	activeDirectory bool
	// expect is how many users the next full read should find (see
	// ExpectUsers).
	expect atomic.Int64
}

// maxExpected bounds the size a hint may reserve room for.
const maxExpected = 10_000_000

// ExpectUsers tells the next full read about how many users it will find
// (the last one's count, say), so that it sizes its buffers once.
func (d *Directory) ExpectUsers(n int) {
	d.expect.Store(int64(min(max(n, 0), maxExpected)))
}

func (d *Directory) newCollector() *collector { return newCollector(int(d.expect.Load())) }

// New fills the defaults of cfg's zero fields, validates it (see
// Config.Validate) and prepares the mapper, the filter and the TLS
// configuration. It does no network I/O; the first Read or Check dials.
func New(cfg Config, log zerolog.Logger) (*Directory, error) {
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	mapper := NewMapper(cfg)
	scope, _ := searchScope(cfg.Scope)
	d := &Directory{
		log:      log.With().Str("component", "source").Logger(),
		mapper:   mapper,
		users:    query{scope: scope, filter: Filter(cfg), attrs: mapper.Attributes()},
		groups:   newGroupReader(cfg.Groups),
		usn:      newUSNReader(cfg),
		startTLS: cfg.StartTLS,
		bindDN:   cfg.BindDN,
		bindPW:   cfg.BindPassword,
		timeout:  cfg.Timeout,
		// Validate bounds the page size to MaxPageSize.
		pageSize: uint32(cfg.PageSize),

		ignoreReferrals: cfg.Referrals == ReferralsIgnore,
		incremental:     cfg.Incremental,
		activeDirectory: cfg.ActiveDirectory,
	}
	d.baseDNs = trimAll(cfg.BaseDNs)

	// Validate has parsed the URL and checked its scheme and host.
	u, err := url.Parse(cfg.URL)
	if err != nil {
		return nil, fmt.Errorf("ldap.url: %w", err)
	}
	host, port := u.Hostname(), u.Port()
	d.ldaps = u.Scheme == "ldaps"
	if port == "" {
		port = "389"
		if d.ldaps {
			port = "636"
		}
	}
	d.addr = net.JoinHostPort(host, port)
	if d.ldaps || d.startTLS {
		d.tls, err = tlsConfig(cfg, host)
		if err != nil {
			return nil, err
		}
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

	col := d.newCollector()
	sc, err := d.scan(ctx, conn, d.baseDNs, d.users, func(e *ldap.Entry) {
		col.addEntry(d.mapper, e)
	})
	if err != nil {
		return nil, err
	}
	res := &Result{Entries: sc.entries, Incomplete: sc.incomplete}
	res.Users, res.Skipped = col.finish()
	d.logRead("directory read", "users", start, sc, len(res.Users), len(res.Skipped))
	return res, nil
}

// logRead logs the end of a read of what (users, groups), kept of them
// mapped.
func (d *Directory) logRead(msg, what string, start time.Time, sc scanned, kept, skipped int) {
	// Every run reads the directory; only a read that went wrong is news.
	ev := d.log.Debug()
	if sc.incomplete != "" {
		ev = d.log.Warn().Str("incomplete", sc.incomplete)
	}
	ev.Int("entries", sc.entries).
		Int(what, kept).
		Int("skipped", skipped).
		Int("pages", sc.pages).
		Dur("took", time.Since(start)).
		Msg(msg)
}

// scanned is what one scan read, and why it stopped early ("" when it ran
// to its end).
type scanned struct {
	entries, pages int
	incomplete     string
}

// scan runs q under every base in turn, handing each entry to fn, and turns
// the ways a search can end early into Incomplete reasons; users and groups
// are read alike. It returns an error only when the read must not be used at
// all: ctx cancelled, or the very first search refused or cut before any
// entry or page arrived.
func (d *Directory) scan(ctx context.Context, conn *ldapwire.Conn, bases []string, q query, fn func(*ldap.Entry)) (scanned, error) {
	var sc scanned
	var reasons []string
	for _, base := range bases {
		st, err := d.search(ctx, conn, base, q, func(e *ldap.Entry) {
			sc.entries++
			fn(e)
		})
		sc.pages += st.pages
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
			return sc, err
		}
		if se.kind == stopCanceled {
			return sc, fmt.Errorf("ldap: read %s: %w", base, ctx.Err())
		}
		if sc.entries == 0 && sc.pages == 0 && (se.kind == stopRefused || se.kind == stopConnLost) {
			return sc, fmt.Errorf("ldap: %w", err)
		}
		reasons = append(reasons, se.reason())
		if se.kind == stopConnLost {
			break
		}
	}
	sc.incomplete = joinReasons(reasons)
	return sc, nil
}

// trimAll trims every base DN: YAML keeps the spaces of a flow list.
func trimAll(dns []string) []string {
	var out []string
	for _, b := range dns {
		out = append(out, strings.TrimSpace(b))
	}
	return out
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
	q := d.users
	// "1.1" asks for no attributes: only the count matters.
	q.attrs = []string{"1.1"}
	for _, base := range d.baseDNs {
		st, err := d.search(ctx, conn, base, q, count)
		if err != nil {
			return len(seen), fmt.Errorf("ldap: count: %w", err)
		}
		if len(st.referrals) > 0 && !d.ignoreReferrals {
			return len(seen), fmt.Errorf("ldap: count: %s: referral to %s not followed", base, st.referrals[0])
		}
	}
	return len(seen), nil
}
