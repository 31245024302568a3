package sink

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

// FuzzParseError feeds arbitrary bodies and Retry-After values, with the API
// key spliced in, to the error path a non-2xx answer takes: it must never
// panic, never keep the key, and bound what it keeps.
func FuzzParseError(f *testing.F) {
	f.Add([]byte(`{"error":"conflict","message":"User with this email already exists"}`), "", 10)
	f.Add([]byte(`{"schemas":["urn:ietf:params:scim:api:messages:2.0:Error"],"status":"409","scimType":"uniqueness","detail":"x"}`), "5", 0)
	f.Add([]byte(`{"status":400,"detail":"bad","error":{"code":"c","message":"m"}}`), "Wed, 25 Nov 2026 12:00:12 GMT", 3)
	f.Add([]byte(`<html>`), "-1", 0)
	red := newRedactor(testToken)
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, body []byte, retryAfter string, at int) {
		if at < 0 || at > len(body) {
			at = len(body)
		}
		withKey := string(body[:at]) + "Bearer " + testToken + string(body[at:])
		e := parseError("GET", "/api/scim/v2/users", 500, http.Header{"Retry-After": {retryAfter}}, []byte(withKey), now, red)
		for where, s := range map[string]string{"body": e.Body, "code": e.Code, "message": e.Message, "error": e.Error()} {
			if strings.Contains(s, testToken) {
				t.Fatalf("the key survives in the %s: %q", where, s)
			}
			if !storable(s) {
				t.Fatalf("the %s holds NUL or invalid UTF-8: %q", where, s)
			}
		}
		if len(e.Body) > maxErrorBody || e.RetryAfter < 0 || e.RetryAfter > 24*time.Hour {
			t.Fatalf("unbounded: body %d bytes, retry after %v", len(e.Body), e.RetryAfter)
		}
	})
}

// FuzzDecodeUser feeds arbitrary bodies to the user and list decoders: they
// must never panic, and a user they accept has a usable id and only text
// PostgreSQL can store.
func FuzzDecodeUser(f *testing.F) {
	f.Add([]byte(`{"id":"1","userName":"a@example.com","active":true,"urn:omni:params:1.0:UserAttribute":{"a":1,"b":["x",2]}}`))
	f.Add([]byte(`{"totalResults":2,"Resources":[{"id":"1"},{"id":2}]}`))
	f.Add([]byte(`{"ID":null,"urn:omni:params:1.0:UserAttribute:x":{"y":[]}}`))
	f.Add([]byte(`[{"id":"1"}]`))
	f.Fuzz(func(t *testing.T, body []byte) {
		check := func(u User) {
			if checkID(u.ID) != nil {
				t.Fatalf("accepted a user with an unusable id from %q", body)
			}
			fields := []string{u.ID, u.UserName, u.DisplayName}
			for k, v := range u.Attributes {
				fields = append(fields, k, v)
			}
			for _, s := range fields {
				if !storable(s) {
					t.Fatalf("user from %q holds NUL or invalid UTF-8: %q", body, s)
				}
			}
		}
		if u, err := decodeUser(body); err == nil {
			check(u)
		}
		if p, err := decodeList(body); err == nil {
			if p.Total < 0 {
				t.Fatalf("negative total from %q", body)
			}
			for _, u := range p.Resources {
				check(u)
			}
		}
	})
}
