package sink

import (
	"context"
	"encoding/pem"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// writeCA writes the test server's certificate as a PEM file.
func writeCA(t *testing.T, der []byte) string {
	t.Helper()
	file := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(file, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return file
}

// checkTLSFinal runs each SCIM operation against a server whose TLS the
// client refuses: every one must fail after a single attempt, unretried and
// with a known outcome (nothing was sent), saying why and what to check.
func checkTLSFinal(t *testing.T, baseURL, why string, mod func(*Config)) {
	t.Helper()
	var attempts atomic.Int32
	c, clk := newTestClient(t, baseURL, func(cfg *Config) {
		cfg.Observe = func(string, int, time.Duration) { attempts.Add(1) }
		if mod != nil {
			mod(cfg)
		}
	})
	ops := map[string]func() error{
		"get":        func() error { return getOnce(c) },
		"create":     func() error { _, err := c.Create(context.Background(), alice); return err },
		"set active": func() error { return c.SetActive(context.Background(), "u1", false) },
	}
	for name, call := range ops {
		attempts.Store(0)
		err := call()
		if err == nil || !strings.Contains(err.Error(), why) || !strings.Contains(err.Error(), tlsHint) {
			t.Errorf("%s: got %v, want an error saying %q and %q", name, err, why, tlsHint)
		}
		if errors.Is(err, ErrOutcomeUnknown) {
			t.Errorf("%s: the request never left, yet the outcome is unknown: %v", name, err)
		}
		if n := attempts.Load(); n != 1 {
			t.Errorf("%s: %d attempts, want 1 (not retried)", name, n)
		}
	}
	if s := clk.Sleeps(); len(s) != 0 {
		t.Errorf("slept %v: a TLS failure was retried", s)
	}
}

func TestTLSUntrustedCertificateIsNotRetried(t *testing.T) {
	srv, _ := newTLSScript(t)
	checkTLSFinal(t, srv.URL, "signed by an authority this host does not trust", nil)
}

func TestTLSHostnameMismatchIsNotRetried(t *testing.T) {
	// httptest's certificate is for 127.0.0.1, ::1 and example.com.
	srv, hs := newTLSScript(t)
	ca := writeCA(t, hs.Certificate().Raw)
	url := strings.Replace(srv.URL, "127.0.0.1", "localhost", 1)
	checkTLSFinal(t, url, `not valid for "localhost"`, func(c *Config) { c.RootCAFile = ca })
}

func TestHTTPSToAPlainServerIsNotRetried(t *testing.T) {
	srv := newScript(t)
	checkTLSFinal(t, strings.Replace(srv.URL, "http://", "https://", 1), "did not answer in TLS", nil)
}

func TestRootCAFileTrustsTheServer(t *testing.T) {
	srv, hs := newTLSScript(t, reply(200, userJSON("u1", "a@example.com")))
	ca := writeCA(t, hs.Certificate().Raw)
	c, _ := newTestClient(t, srv.URL, func(c *Config) { c.RootCAFile = ca })
	if u, err := c.Get(context.Background(), "u1"); err != nil || u.ID != "u1" {
		t.Fatalf("get: %+v %v", u, err)
	}
}

func TestRootCAFileMustHoldACertificate(t *testing.T) {
	dir := t.TempDir()
	garbage := filepath.Join(dir, "garbage.pem")
	if err := os.WriteFile(garbage, []byte("not a certificate\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, want string
		cfg        Config
	}{
		{"missing", "scim.rootCAFile", Config{RootCAFile: filepath.Join(dir, "nope.pem")}},
		{"no certificate", "scim.rootCAFile " + garbage + " holds no PEM certificate", Config{RootCAFile: garbage}},
		{"with HTTPClient", "scim.rootCAFile applies to the default HTTP client only", Config{RootCAFile: garbage, HTTPClient: &http.Client{}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.cfg.BaseURL, tt.cfg.Token = "https://acme.omniapp.co/api/scim/v2", "k"
			if _, err := New(tt.cfg); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want an error containing %q", err, tt.want)
			}
		})
	}
}
