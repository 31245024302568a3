package source

import (
	"bytes"
	"testing"
)

func TestSyncCookieSeal(t *testing.T) {
	key := searchKey("ou=People,dc=example,dc=com", 2, "(objectClass=inetOrgPerson)", []string{"entryUUID", "mail"})
	if other := searchKey("ou=people,dc=example,dc=com", 2, "(objectClass=inetOrgPerson)", []string{"entryuuid", "mail"}); other != key {
		t.Errorf("key changes with the case of the base DN or attribute names: %s, %s", key, other)
	}
	if other := searchKey("ou=people,dc=example,dc=com", 1, "(objectClass=inetOrgPerson)", []string{"entryUUID", "mail"}); other == key {
		t.Error("key does not change with the scope")
	}
	// A server cookie is opaque: colons and any byte must survive.
	server := []byte("rid=000,csn=x:y\x00\xff")
	c := sealCookie(key, server)
	got, why := openCookie(c, key)
	if why != "" || !bytes.Equal(got, server) {
		t.Fatalf("openCookie(sealCookie(%q)) = %q, %q", server, got, why)
	}
	for _, bad := range [][]byte{
		nil,
		[]byte("rid=000,csn=x"),
		[]byte(cookiePrefix),
		[]byte(cookiePrefix + key + ":"),
		sealCookie("0123456789abcdef", server),
	} {
		if got, why := openCookie(bad, key); why == "" {
			t.Errorf("openCookie(%q) = %q, want a reason not to use it", bad, got)
		}
	}
}
