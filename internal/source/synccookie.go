package source

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
)

// cookiePrefix starts every cookie ReadSyncrepl returns; the version lets a
// later format be told apart from this one.
const cookiePrefix = "syncd-syncrepl-v1:"

// searchKey names the search a sync cookie belongs to. A server cookie only
// says what changed for the search that produced it: after a change of base
// DN, scope, filter or attributes, entries that now match but did not change
// would never be sent, so such a cookie must not be resumed from.
func searchKey(base string, scope int, filter string, attrs []string) string {
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%d\x00%s\x00%s", strings.ToLower(base), scope, filter, strings.ToLower(strings.Join(attrs, ",")))
	return hex.EncodeToString(h.Sum(nil)[:8])
}

// sealCookie wraps the server's cookie as
//
//	syncd-syncrepl-v1:<16 hex digits of the search key>:<server cookie>
//
// The server cookie is kept byte for byte (it is opaque, and may hold any
// byte); only the prefix up to the second colon is ours.
func sealCookie(key string, server []byte) []byte {
	out := make([]byte, 0, len(cookiePrefix)+len(key)+1+len(server))
	out = append(out, cookiePrefix...)
	out = append(out, key...)
	out = append(out, ':')
	return append(out, server...)
}

// openCookie returns the server cookie sealed in c for the search key, or
// why c cannot be used: not one of ours (another version, or stored by
// something else), or sealed for another search.
func openCookie(c []byte, key string) ([]byte, string) {
	rest, ok := bytes.CutPrefix(c, []byte(cookiePrefix))
	if !ok {
		return nil, "not a syncd-syncrepl-v1 cookie"
	}
	got, server, ok := bytes.Cut(rest, []byte{':'})
	if !ok || len(server) == 0 {
		return nil, "a syncd-syncrepl-v1 cookie without a server cookie"
	}
	if string(got) != key {
		return nil, "the cookie belongs to another search (base DN, scope, filter or attributes changed)"
	}
	return server, ""
}
