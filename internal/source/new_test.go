package source

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

func TestNewRejects(t *testing.T) {
	tests := []struct {
		name   string
		change func(*Config)
		want   string
	}{
		{"bad scheme", func(c *Config) { c.URL = "http://dc1" }, "ldap.url"},
		{"no host", func(c *Config) { c.URL = "ldap://" }, "ldap.url"},
		{"starttls over ldaps", func(c *Config) { c.URL = "ldaps://dc1"; c.StartTLS = true }, "ldap.startTLS"},
		{"bind dn without password", func(c *Config) { c.BindDN = "cn=syncd,dc=x" }, "ldap.bindPassword"},
		{"no base dn", func(c *Config) { c.BaseDNs = nil }, "ldap.users.baseDNs"},
		{"bad base dn", func(c *Config) { c.BaseDNs = []string{"not a dn"} }, "ldap.users.baseDNs[0]"},
		{"bad scope", func(c *Config) { c.Scope = "base" }, "ldap.users.scope"},
		{"bad filter", func(c *Config) { c.Filter = "(uid=a" }, "ldap.users.filter"},
		{"negative page size", func(c *Config) { c.PageSize = -1 }, "ldap.pageSize"},
		{"missing CA file", func(c *Config) { c.URL = "ldaps://dc1"; c.RootCAFile = "/nonexistent/ca.pem" }, "ldap.rootCAFile"},
		{"mapping", func(c *Config) { c.Attributes.ID = "" }, "ldap.attributes.id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := openLDAPConfig()
			tt.change(&cfg)
			_, err := New(cfg, zerolog.Nop())
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("New error %v, want one naming %s", err, tt.want)
			}
		})
	}
}

func TestNewDefaults(t *testing.T) {
	tests := []struct {
		url, addr string
		ldaps     bool
	}{
		{"ldap://dc1.corp.example", "dc1.corp.example:389", false},
		{"ldaps://dc1.corp.example", "dc1.corp.example:636", true},
		{"ldap://[::1]:3389", "[::1]:3389", false},
	}
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			cfg := openLDAPConfig()
			cfg.URL = tt.url
			d, err := New(cfg, zerolog.Nop())
			if err != nil {
				t.Fatal(err)
			}
			if d.addr != tt.addr || d.ldaps != tt.ldaps {
				t.Errorf("addr %s ldaps %v, want %s %v", d.addr, d.ldaps, tt.addr, tt.ldaps)
			}
			if d.timeout != DefaultTimeout || d.pageSize != DefaultPageSize {
				t.Errorf("timeout %v page size %d, want the defaults", d.timeout, d.pageSize)
			}
		})
	}
}

// testCA is a self-signed certificate authority made for one test.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	// path is the CA certificate as a PEM file.
	path string
}

func newCA(t *testing.T, name string) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "ca.pem")
	writePEM(t, path, "CERTIFICATE", der)
	return &testCA{cert: cert, key: key, path: path}
}

// issue signs a server certificate for the IP address host and writes it
// and its key as PEM files.
func (ca *testCA) issue(t *testing.T, host string) (certPath, keyPath string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: host},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		IPAddresses:  []net.IP{net.ParseIP(host)},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certPath, keyPath = filepath.Join(dir, "server.pem"), filepath.Join(dir, "server.key")
	writePEM(t, certPath, "CERTIFICATE", der)
	writePEM(t, keyPath, "PRIVATE KEY", keyDER)
	return certPath, keyPath
}

func writePEM(t *testing.T, path, kind string, der []byte) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: kind, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestTLSConfig(t *testing.T) {
	ca := newCA(t, "syncd test CA")
	caPath := ca.path
	notPEM := filepath.Join(t.TempDir(), "empty.pem")
	if err := os.WriteFile(notPEM, []byte("not a certificate\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	t.Run("ldaps with CA file", func(t *testing.T) {
		cfg := openLDAPConfig()
		cfg.URL = "ldaps://dc1.corp.example:1636"
		cfg.RootCAFile = caPath
		d, err := New(cfg, zerolog.Nop())
		if err != nil {
			t.Fatal(err)
		}
		if d.tls == nil || d.tls.ServerName != "dc1.corp.example" || d.tls.InsecureSkipVerify {
			t.Fatalf("tls config %+v, want server name from the url and verification on", d.tls)
		}
		if d.tls.RootCAs == nil || !d.tls.RootCAs.Equal(poolOf(ca.cert)) {
			t.Errorf("root CAs are not the configured CA")
		}
	})
	t.Run("starttls with system roots", func(t *testing.T) {
		cfg := openLDAPConfig()
		cfg.URL = "ldap://dc1.corp.example"
		cfg.StartTLS = true
		d, err := New(cfg, zerolog.Nop())
		if err != nil {
			t.Fatal(err)
		}
		if d.tls == nil || d.tls.RootCAs != nil || d.tls.ServerName != "dc1.corp.example" {
			t.Fatalf("tls config %+v, want system roots and the url's host", d.tls)
		}
	})
	t.Run("insecure only when configured", func(t *testing.T) {
		cfg := openLDAPConfig()
		cfg.URL = "ldaps://dc1"
		cfg.InsecureSkipVerify = true
		d, err := New(cfg, zerolog.Nop())
		if err != nil {
			t.Fatal(err)
		}
		if !d.tls.InsecureSkipVerify {
			t.Errorf("InsecureSkipVerify not set")
		}
	})
	t.Run("plain ldap has no tls", func(t *testing.T) {
		d, err := New(openLDAPConfig(), zerolog.Nop())
		if err != nil {
			t.Fatal(err)
		}
		if d.tls != nil {
			t.Errorf("tls config on a plain ldap:// url")
		}
	})
	t.Run("CA file without a certificate", func(t *testing.T) {
		cfg := openLDAPConfig()
		cfg.URL = "ldaps://dc1"
		cfg.RootCAFile = notPEM
		if _, err := New(cfg, zerolog.Nop()); err == nil || !strings.Contains(err.Error(), "no PEM certificate") {
			t.Errorf("error %v, want no PEM certificate", err)
		}
	})
}

func poolOf(certs ...*x509.Certificate) *x509.CertPool {
	p := x509.NewCertPool()
	for _, c := range certs {
		p.AddCert(c)
	}
	return p
}
