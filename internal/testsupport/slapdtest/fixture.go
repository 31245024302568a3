package slapdtest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"

	"github.com/syncd-dev/syncd/internal/testsupport/testenv"
)

// Environment variables that point the fixtures at an existing server
// instead of starting slapd.
const (
	EnvURL          = "SYNCD_TEST_LDAP_URL"
	EnvBindDN       = "SYNCD_TEST_LDAP_BIND_DN"
	EnvBindPassword = "SYNCD_TEST_LDAP_BIND_PASSWORD"
	EnvSuffix       = "SYNCD_TEST_LDAP_SUFFIX"
)

// startTimeout bounds one fixture start, slapadd of a large LDIF included.
const startTimeout = 2 * time.Minute

const installHint = "install Debian packages slapd and ldap-utils (apt-get install -y slapd ldap-utils), or set " + EnvURL

var errExternalConfig = errors.New("an external server cannot take slapd.conf lines")

// New starts a slapd for one test and stops it in t.Cleanup. When slapd is
// not installed the test fails with a hint, or skips under -short.
//
// When SYNCD_TEST_LDAP_URL is set, New uses that server instead, bound as
// SYNCD_TEST_LDAP_BIND_DN with SYNCD_TEST_LDAP_BIND_PASSWORD: it adds LDIF
// and OnlineLDIF online (the server must already hold the suffix entry, and
// SYNCD_TEST_LDAP_SUFFIX, when set, must equal the test's suffix) and
// deletes what it added in t.Cleanup. Options.Config cannot be applied to
// such a server, so tests that need it report the server as unavailable.
func New(t testing.TB, opts Options) *Server {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	s, err := startAny(ctx, opts)
	if err != nil {
		fail(t, err)
	}
	t.Cleanup(func() {
		if err := s.release(); err != nil {
			t.Errorf("stop ldap fixture: %v", err)
		}
	})
	return s
}

var shared struct {
	mu      sync.Mutex
	servers map[string]*sharedServer
}

type sharedServer struct {
	once sync.Once
	s    *Server
	err  error
}

// Shared returns the server started for key in this process, starting it
// with opts() on first use. Tests that share a server must leave it as they
// found it, or use distinct keys. Call StopShared from TestMain.
func Shared(t testing.TB, key string, opts func() Options) *Server {
	t.Helper()
	shared.mu.Lock()
	if shared.servers == nil {
		shared.servers = map[string]*sharedServer{}
	}
	e := shared.servers[key]
	if e == nil {
		e = &sharedServer{}
		shared.servers[key] = e
	}
	shared.mu.Unlock()
	e.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
		defer cancel()
		e.s, e.err = startAny(ctx, opts())
	})
	if e.err != nil {
		fail(t, e.err)
	}
	return e.s
}

// StopShared stops every server Shared started; the next Shared call for a
// key starts a new one. It returns the first error met, after trying all.
func StopShared() error {
	shared.mu.Lock()
	servers := shared.servers
	shared.servers = nil
	shared.mu.Unlock()
	var errs []error
	for key, e := range servers {
		if e.s == nil {
			continue
		}
		if err := e.s.release(); err != nil {
			errs = append(errs, fmt.Errorf("stop shared ldap server %q: %w", key, err))
		}
	}
	return errors.Join(errs...)
}

// release ends what the fixture started: the process for a local slapd, the
// added entries for an external server.
func (s *Server) release() error {
	if !s.external {
		return s.Stop()
	}
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	return s.deleteAdded(ctx)
}

func startAny(ctx context.Context, opts Options) (*Server, error) {
	url := os.Getenv(EnvURL)
	if url == "" {
		return Start(ctx, opts)
	}
	if opts.Config != "" {
		return nil, errExternalConfig
	}
	if opts.Suffix == "" {
		opts.Suffix = DefaultSuffix
	}
	if env := os.Getenv(EnvSuffix); env != "" && !sameDN(env, opts.Suffix) {
		return nil, fmt.Errorf("use %s: it serves %s, the test needs %s", EnvURL, env, opts.Suffix)
	}
	s := &Server{
		URL:          url,
		Suffix:       opts.Suffix,
		RootDN:       os.Getenv(EnvBindDN),
		RootPassword: os.Getenv(EnvBindPassword),
		external:     true,
	}
	for _, ldif := range [][]byte{opts.LDIF, opts.OnlineLDIF} {
		if err := s.AddLDIF(ctx, ldif); err != nil {
			if derr := s.deleteAdded(ctx); derr != nil {
				err = errors.Join(err, derr)
			}
			return nil, fmt.Errorf("load test entries into %s: %w", url, err)
		}
	}
	return s, nil
}

func sameDN(a, b string) bool {
	da, err1 := ldap.ParseDN(a)
	db, err2 := ldap.ParseDN(b)
	return err1 == nil && err2 == nil && da.Equal(db)
}

func fail(t testing.TB, err error) {
	t.Helper()
	switch {
	case errors.Is(err, ErrNotInstalled):
		testenv.Unavailable(t, "slapd not found", installHint)
	case errors.Is(err, errExternalConfig):
		testenv.Unavailable(t, "this test needs its own slapd ("+err.Error()+")", "unset "+EnvURL)
	default:
		t.Fatalf("start ldap fixture: %v", err)
	}
}
