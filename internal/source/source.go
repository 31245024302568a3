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
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strings"
	"time"

	ber "github.com/go-asn1-ber/asn1-ber"
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

// tlsConfig verifies the server against the configured CA bundle, or the
// system roots when none is set, under the URL's host name.
func tlsConfig(cfg config.LDAP, host string) (*tls.Config, error) {
	tc := &tls.Config{
		ServerName: host,
		MinVersion: tls.VersionTLS12,
		// Off unless configured, for a lab directory with a self-signed
		// certificate; RootCAFile is the better answer there too.
		InsecureSkipVerify: cfg.InsecureSkipVerify,
	}
	if cfg.RootCAFile != "" {
		pem, err := os.ReadFile(cfg.RootCAFile)
		if err != nil {
			return nil, fmt.Errorf("ldap.rootCAFile: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("ldap.rootCAFile: no PEM certificate in %s", cfg.RootCAFile)
		}
		tc.RootCAs = pool
	}
	return tc, nil
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

// connect dials, upgrades to TLS when configured, and binds, all under one
// timeout. The ldap package's bind and StartTLS take no context, so the
// deadline is enforced by closing the socket, which fails whatever is
// waiting on it.
func (d *Directory) connect(ctx context.Context) (*ldap.Conn, error) {
	cctx, cancel := context.WithTimeout(ctx, d.timeout)
	defer cancel()

	dialer := &net.Dialer{Timeout: d.timeout}
	var raw net.Conn
	var err error
	if d.ldaps {
		raw, err = (&tls.Dialer{NetDialer: dialer, Config: d.tls}).DialContext(cctx, "tcp", d.addr)
	} else {
		raw, err = dialer.DialContext(cctx, "tcp", d.addr)
	}
	if err != nil {
		return nil, fmt.Errorf("ldap: dial %s: %w", d.addr, err)
	}
	conn := ldap.NewConn(raw, d.ldaps)
	conn.Start()
	conn.SetTimeout(d.timeout)
	stop := context.AfterFunc(cctx, func() { _ = raw.Close() })
	fail := func(err error) (*ldap.Conn, error) {
		stop()
		_ = conn.Close()
		if cerr := cctx.Err(); cerr != nil {
			return nil, fmt.Errorf("%w (%w)", err, cerr)
		}
		return nil, err
	}

	if d.startTLS {
		if err := conn.StartTLS(d.tls); err != nil {
			return fail(fmt.Errorf("ldap: starttls with %s: %w", d.addr, wrapLDAP(err)))
		}
	}
	if d.bindDN != "" {
		if err := conn.Bind(d.bindDN, d.bindPW.Reveal()); err != nil {
			return fail(fmt.Errorf("ldap: bind as %s: %w", d.bindDN, wrapLDAP(err)))
		}
	}
	if !stop() {
		_ = conn.Close()
		return nil, fmt.Errorf("ldap: connect to %s: %w", d.addr, cctx.Err())
	}
	return conn, nil
}

// Why a search stopped before its end.
type stopKind int

const (
	stopSizeLimit stopKind = iota + 1
	stopTimeLimit
	stopReferral
	stopConnLost
	stopRefused
	stopCanceled
)

// searchError is a search that ended early, with how far it got.
type searchError struct {
	kind    stopKind
	base    string
	entries int
	err     error
}

func (e *searchError) Error() string {
	return fmt.Sprintf("search %s: %v", e.base, e.err)
}

func (e *searchError) Unwrap() error { return e.err }

// reason is the Result.Incomplete text for this stop.
func (e *searchError) reason() string {
	var what string
	switch e.kind {
	case stopSizeLimit:
		what = "size limit exceeded"
	case stopTimeLimit:
		what = "time limit exceeded"
	case stopReferral:
		what = "referral"
	case stopConnLost:
		what = "connection lost mid-search"
	default:
		what = "search failed"
	}
	r := fmt.Sprintf("%s: %s after %d entries", what, e.base, e.entries)
	// The ldap error often just repeats the result name; keep only what
	// it adds.
	detail := strings.TrimPrefix(strings.TrimPrefix(e.err.Error(), what), ": ")
	if detail != "" {
		r += ": " + detail
	}
	return r
}

type searchStats struct {
	pages     int
	referrals []string
}

// search runs one paged search under base, handing each entry to fn as it
// is decoded; no page is held in memory. Paging is requested as critical, so
// a server without paged results refuses the search instead of answering
// with its size limit's worth of entries and no way to tell.
func (d *Directory) search(ctx context.Context, conn *ldap.Conn, base string, attrs []string, fn func(*ldap.Entry)) (searchStats, error) {
	var st searchStats
	entries := 0
	paging := &criticalPaging{ControlPaging: ldap.ControlPaging{PagingSize: d.pageSize}}
	timeLimit := int(d.timeout / time.Second)
	if timeLimit < 1 {
		timeLimit = 1
	}
	for {
		req := ldap.NewSearchRequest(base, d.scope, ldap.NeverDerefAliases, 0, timeLimit, false,
			d.filter, attrs, []ldap.Control{paging})
		resp := conn.SearchAsync(ctx, req, searchBuffer)
		inPage := 0
		var cookie []byte
		done := false
		for resp.Next() {
			if e := resp.Entry(); e != nil {
				entries++
				inPage++
				fn(e)
				continue
			}
			if ref := resp.Referral(); ref != "" {
				st.referrals = append(st.referrals, ref)
				continue
			}
			// Entry and Referral both empty: this is the SearchResultDone,
			// which carries the paging cookie for the next page.
			if c, ok := ldap.FindControl(resp.Controls(), ldap.ControlTypePaging).(*ldap.ControlPaging); ok {
				cookie = c.Cookie
				done = true
			}
		}
		if err := resp.Err(); err != nil || !done {
			return st, classify(ctx, conn, base, entries, err)
		}
		st.pages++
		d.log.Debug().Str("base", base).Int("page", st.pages).Int("entries", inPage).Msg("ldap page")
		if len(cookie) == 0 {
			return st, nil
		}
		paging.Cookie = cookie
	}
}

// classify names why a page did not end with a SearchResultDone. err is nil
// when the result stream just closed, which happens when ctx is cancelled or
// the connection was already closing.
func classify(ctx context.Context, conn *ldap.Conn, base string, entries int, err error) error {
	se := &searchError{base: base, entries: entries}
	switch {
	case ctx.Err() != nil:
		se.kind, se.err = stopCanceled, ctx.Err()
		return se
	case err == nil:
		se.kind, se.err = stopConnLost, errors.New("result stream ended without a search result done")
		return se
	}
	se.err = wrapLDAP(err)
	switch {
	case ldap.IsErrorWithCode(err, ldap.LDAPResultSizeLimitExceeded):
		se.kind = stopSizeLimit
	case ldap.IsErrorWithCode(err, ldap.LDAPResultTimeLimitExceeded):
		se.kind = stopTimeLimit
	case ldap.IsErrorWithCode(err, ldap.LDAPResultReferral):
		se.kind = stopReferral
		if urls := referralURLs(err); len(urls) > 0 {
			se.err = fmt.Errorf("%w: to %s not followed", se.err, strings.Join(urls, ", "))
		}
	case ldap.IsErrorWithCode(err, ldap.ErrorNetwork), conn.IsClosing():
		se.kind = stopConnLost
	default:
		se.kind = stopRefused
	}
	return se
}

// referralURLs digs the referral field out of an LDAPResult, which the ldap
// package keeps only in the raw packet: the reason should say where the
// entries live.
func referralURLs(err error) []string {
	var le *ldap.Error
	if !errors.As(err, &le) || le.Packet == nil || len(le.Packet.Children) < 2 {
		return nil
	}
	var urls []string
	for _, c := range le.Packet.Children[1].Children {
		if c.ClassType != ber.ClassContext || c.Tag != 3 {
			continue
		}
		for _, u := range c.Children {
			if s, ok := u.Value.(string); ok {
				urls = append(urls, s)
			} else if u.Data != nil {
				urls = append(urls, u.Data.String())
			}
		}
	}
	return urls
}

func joinReasons(reasons []string) string {
	if len(reasons) > maxReasons {
		more := len(reasons) - maxReasons
		reasons = append(reasons[:maxReasons:maxReasons], fmt.Sprintf("and %d more", more))
	}
	return strings.Join(reasons, "; ")
}

// ldapError gives the ldap package's errors ("LDAP Result Code 49 \"Invalid
// Credentials\": ") a short lower-case text while keeping the *ldap.Error
// reachable for ldap.IsErrorWithCode.
type ldapError struct{ err *ldap.Error }

func wrapLDAP(err error) error {
	var le *ldap.Error
	if errors.As(err, &le) {
		return &ldapError{err: le}
	}
	return err
}

func (e *ldapError) Error() string {
	name := strings.ToLower(ldap.LDAPResultCodeMap[e.err.ResultCode])
	if name == "" {
		name = fmt.Sprintf("result code %d", e.err.ResultCode)
	}
	if e.err.Err == nil {
		return name
	}
	diag := strings.TrimPrefix(strings.TrimSpace(e.err.Err.Error()), "ldap: ")
	if diag == "" {
		return name
	}
	return name + ": " + diag
}

func (e *ldapError) Unwrap() error { return e.err }
