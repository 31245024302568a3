package source

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strings"

	"github.com/go-ldap/ldap/v3"

	"github.com/syncd-dev/syncd/internal/ldapwire"
	"github.com/syncd-dev/syncd/internal/validate"
)

// tlsConfig verifies the server against the configured CA bundle, or the
// system roots when none is set, under the URL's host name.
func tlsConfig(cfg Config, host string) (*tls.Config, error) {
	tc := &tls.Config{
		ServerName: host,
		MinVersion: tls.VersionTLS12,
		// Off unless configured, for a lab directory with a self-signed
		// certificate; RootCAFile is the better answer there too.
		InsecureSkipVerify: cfg.InsecureSkipVerify,
	}
	if cfg.RootCAFile != "" {
		// Read again: Validate read it, but the file may have changed
		// since, and the pool is built from what is there now.
		pool, err := validate.RootCAs(cfg.RootCAFile)
		if err != nil {
			return nil, fmt.Errorf("ldap.rootCAFile: %w", err)
		}
		tc.RootCAs = pool
	}
	return tc, nil
}

// connect dials, upgrades to TLS when configured, and binds, all under one
// timeout. Bind and StartTLS take no context, so the deadline is enforced
// by closing the socket, which fails whatever is waiting on it.
func (d *Directory) connect(ctx context.Context) (*ldapwire.Conn, error) {
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
	conn := ldapwire.New(raw, d.timeout)
	stop := context.AfterFunc(cctx, func() { _ = raw.Close() })
	fail := func(err error) (*ldapwire.Conn, error) {
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
		if err := conn.Bind(d.bindDN, d.bindPW); err != nil {
			return fail(fmt.Errorf("ldap: bind as %s: %w", d.bindDN, wrapLDAP(err)))
		}
	}
	if !stop() {
		_ = conn.Close()
		return nil, fmt.Errorf("ldap: connect to %s: %w", d.addr, cctx.Err())
	}
	return conn, nil
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
