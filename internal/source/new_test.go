package source

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/syncd-dev/syncd/internal/config"
)

func TestNewRejects(t *testing.T) {
	tests := []struct {
		name   string
		change func(*config.LDAP)
		want   string
	}{
		{"bad scheme", func(c *config.LDAP) { c.URL = "http://dc1" }, "ldap.url"},
		{"no host", func(c *config.LDAP) { c.URL = "ldap://" }, "ldap.url"},
		{"starttls over ldaps", func(c *config.LDAP) { c.URL = "ldaps://dc1"; c.StartTLS = true }, "ldap.startTLS"},
		{"bind dn without password", func(c *config.LDAP) { c.BindDN = "cn=syncd,dc=x" }, "ldap.bindPassword"},
		{"no base dn", func(c *config.LDAP) { c.Users.BaseDNs = nil }, "ldap.users.baseDNs"},
		{"bad base dn", func(c *config.LDAP) { c.Users.BaseDNs = []string{"not a dn"} }, "ldap.users.baseDNs[0]"},
		{"bad scope", func(c *config.LDAP) { c.Users.Scope = "base" }, "ldap.users.scope"},
		{"bad filter", func(c *config.LDAP) { c.Users.Filter = "(uid=a" }, "ldap.users.filter"},
		{"negative page size", func(c *config.LDAP) { c.PageSize = -1 }, "ldap.pageSize"},
		{"missing CA file", func(c *config.LDAP) { c.URL = "ldaps://dc1"; c.RootCAFile = "/nonexistent/ca.pem" }, "ldap.rootCAFile"},
		{"mapping", func(c *config.LDAP) { c.Attributes.ID = "" }, "ldap.attributes.id"},
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
			if d.timeout != defaultTimeout || d.pageSize != defaultPageSize {
				t.Errorf("timeout %v page size %d, want the defaults", d.timeout, d.pageSize)
			}
		})
	}
}

// writeCA writes a self-signed CA certificate as PEM and returns its path
// and the certificate.
func writeCA(t *testing.T) (string, *x509.Certificate) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "syncd test CA"},
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
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return path, cert
}

func TestTLSConfig(t *testing.T) {
	caPath, ca := writeCA(t)
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
		if d.tls.RootCAs == nil || !d.tls.RootCAs.Equal(poolOf(ca)) {
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
