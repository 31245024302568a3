// Package textutil holds the text rules every package of syncd shares: how a
// long value is cut short for a message, a log line or a stored row, and
// what stands in for a secret that must not be shown. One rule each, so no
// package cuts a UTF-8 character in half or hides a secret differently.
package textutil

import (
	"strings"
	"unicode/utf8"
)

// Redacted stands in for a secret wherever one would otherwise appear.
const Redacted = "[REDACTED]"

// Clip returns s when it is at most n bytes long; otherwise s cut to at most
// n bytes on a UTF-8 character boundary, followed by mark (which may be
// empty). The result is at most n+len(mark) bytes.
func Clip(s string, n int, mark string) string {
	if len(s) <= n {
		return s
	}
	if n < 0 {
		n = 0
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + mark
}

// Clean makes text safe to store and show: NUL bytes, which PostgreSQL
// refuses in text, are dropped, and invalid UTF-8 becomes U+FFFD. Dropping
// rather than replacing NUL keeps a secret split by one recognisable to a
// redactor that runs after.
func Clean(s string) string {
	if strings.IndexByte(s, 0) >= 0 {
		s = strings.ReplaceAll(s, "\x00", "")
	}
	return strings.ToValidUTF8(s, "\uFFFD")
}
