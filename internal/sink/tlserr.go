package sink

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"os"
)

// tlsHint ends every TLS failure: the two settings that decide whom the
// client talks to and whom it trusts.
const tlsHint = "check scim.url and scim.rootCAFile"

// tlsFailure names why a TLS handshake failed, or returns "" when err is no
// handshake failure. A handshake that failed sent no request, so the failure
// is final: another attempt would meet the same certificate.
func tlsFailure(err error) string {
	var (
		unknown  x509.UnknownAuthorityError
		hostname x509.HostnameError
		invalid  x509.CertificateInvalidError
		verify   *tls.CertificateVerificationError
		header   tls.RecordHeaderError
	)
	switch {
	case errors.As(err, &unknown):
		return "omni's TLS certificate is signed by an authority this host does not trust"
	case errors.As(err, &hostname):
		return fmt.Sprintf("omni's TLS certificate is not valid for %q", hostname.Host)
	case errors.As(err, &invalid):
		return "omni's TLS certificate is not valid (expired, not yet valid, or not for serving TLS)"
	case errors.As(err, &verify):
		return "omni's TLS certificate failed verification"
	case errors.As(err, &header), errors.Is(err, http.ErrSchemeMismatch):
		// net/http turns a RecordHeaderError that starts "HTTP/" into
		// ErrSchemeMismatch.
		return "the server did not answer in TLS (an http:// server behind an https:// url?)"
	default:
		return ""
	}
}

// tlsError is the final transport error for a failed handshake.
func tlsError(method, path, why string, err error) *transportError {
	return &transportError{
		Method: method,
		Path:   path,
		Err:    fmt.Errorf("%s (%s): %w", why, tlsHint, err),
		Final:  true,
	}
}

// loadRootCAs returns the system roots plus the PEM certificates in file.
func loadRootCAs(file string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("scim client: scim.rootCAFile: %w", err)
	}
	pool, err := x509.SystemCertPool()
	if err != nil {
		pool = x509.NewCertPool()
	}
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("scim client: scim.rootCAFile %s holds no PEM certificate", file)
	}
	return pool, nil
}
