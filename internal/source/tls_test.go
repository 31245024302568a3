package source

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/rs/zerolog"

	"github.com/syncd-dev/syncd/internal/testsupport/dirgen"
	"github.com/syncd-dev/syncd/internal/testsupport/slapdtest"
)

// TestReadTLS upgrades the connection with StartTLS, or dials ldaps://, to a slapd
// holding a certificate from a CA made here. slapd takes the TLS directives
// from the database section of slapd.conf as well, which is all the fixture
// offers. The fixture listens on ldap:// only, so ldaps:// goes through a
// TLS-terminating relay in front of it (see ldapsRelay).
func TestReadTLS(t *testing.T) {
	ca := newCA(t, "syncd test CA")
	other := newCA(t, "some other CA")
	certPath, keyPath := ca.issue(t, "127.0.0.1")
	dir := dirgen.Generate(dirgen.Options{Seed: 17, Users: 20})
	srv := slapdtest.New(t, slapdtest.Options{
		Suffix: dir.Options.Suffix,
		LDIF:   withAccount(dir.Options.Suffix, dir.LDIF()),
		Config: fmt.Sprintf("TLSCertificateFile %s\nTLSCertificateKeyFile %s", certPath, keyPath),
	})
	if u, err := url.Parse(srv.URL); err != nil || u.Hostname() != "127.0.0.1" {
		t.Fatalf("fixture URL %s: the certificate is for 127.0.0.1", srv.URL)
	}

	tests := []struct {
		name     string
		caFile   string
		insecure bool
		ldaps    bool
		wantErr  string
	}{
		{name: "trusted CA", caFile: ca.path},
		{name: "system roots do not know the CA", wantErr: "certificate"},
		{name: "another CA", caFile: other.path, wantErr: "certificate"},
		{name: "verification off", caFile: other.path, insecure: true},
		{name: "ldaps trusted CA", ldaps: true, caFile: ca.path},
		{name: "ldaps another CA", ldaps: true, caFile: other.path, wantErr: "certificate"},
	}
	relay := ldapsRelay(t, srv.URL, certPath, keyPath)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := baseConfig(srv, dirgen.OpenLDAP, dir.PeopleDN)
			cfg.StartTLS, cfg.RootCAFile, cfg.InsecureSkipVerify = !tt.ldaps, tt.caFile, tt.insecure
			step := "starttls"
			if tt.ldaps {
				cfg.URL, step = relay, "dial"
			}
			res, err := newDirectory(t, cfg, zerolog.Nop()).Read(context.Background())
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), step) || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Read = %v; want a %s error about the %s", err, step, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Read: %v", err)
			}
			if res.Incomplete != "" || len(res.Users) != 20 {
				t.Errorf("read %d users (incomplete %q), want 20", len(res.Users), res.Incomplete)
			}
		})
	}
}

// ldapsRelay listens for TLS on a loopback port with the given certificate
// and relays each connection to the plain ldap:// server at target, so an
// ldaps:// client talks to the real slapd behind it. It returns the ldaps
// URL.
func ldapsRelay(t *testing.T, target, certPath, keyPath string) string {
	t.Helper()
	cert, err := tls.LoadX509KeyPair(certPath, keyPath)
	if err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() {
		ln.Close()
		wg.Wait()
	})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				up, err := net.Dial("tcp", u.Host)
				if err != nil {
					return
				}
				defer up.Close()
				done := make(chan struct{})
				go func() {
					io.Copy(up, c)
					up.Close()
					close(done)
				}()
				io.Copy(c, up)
				c.Close()
				<-done
			}()
		}
	}()
	return "ldaps://" + ln.Addr().String()
}
