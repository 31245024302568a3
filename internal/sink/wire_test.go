package sink

import (
	"bytes"
	"flag"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/syncd-dev/syncd/internal/identity"
)

var update = flag.Bool("update", false, "rewrite the golden request bodies in testdata")

func TestParseError(t *testing.T) {
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name        string
		status      int
		header      http.Header
		body        string
		code, msg   string
		retryAfter  time.Duration
		errContains string
	}{
		{
			name: "omni body", status: 409,
			body: `{"error":"conflict","message":"User with this email already exists"}`,
			code: "conflict", msg: "User with this email already exists",
			errContains: "scim POST /api/scim/v2/users: status 409: conflict: User with this email already exists",
		},
		{
			name: "scim body with string status", status: 409,
			body: `{"schemas":["urn:ietf:params:scim:api:messages:2.0:Error"],"status":"409","scimType":"uniqueness","detail":"User with this email already exists"}`,
			code: "uniqueness", msg: "User with this email already exists",
		},
		{
			name: "scim body with number status", status: 400,
			body: `{"schemas":["urn:ietf:params:scim:api:messages:2.0:Error"],"status":400,"scimType":"invalidFilter","detail":"bad filter"}`,
			code: "invalidFilter", msg: "bad filter",
		},
		{
			name: "scim body without scimType", status: 404,
			body: `{"schemas":["urn:ietf:params:scim:api:messages:2.0:Error"],"status":"404","detail":"User not found"}`,
			msg:  "User not found",
		},
		{
			name: "nested error object", status: 401,
			body: `{"error":{"code":"unauthorized","message":"Invalid API key"}}`,
			code: "unauthorized", msg: "Invalid API key",
		},
		{
			name: "keys in other case", status: 400,
			body: `{"Error":"bad_request","Message":"userName is required"}`,
			code: "bad_request", msg: "userName is required",
		},
		{
			name: "rate limited with retry-after", status: 429,
			header: http.Header{"Retry-After": {"30"}},
			body:   `{"error":"rate_limited","message":"Rate limit exceeded"}`,
			code:   "rate_limited", msg: "Rate limit exceeded", retryAfter: 30 * time.Second,
		},
		{name: "html from a proxy", status: 502, body: "<html><body>Bad Gateway</body></html>", errContains: "status 502"},
		{name: "empty", status: 503},
		{name: "json array", status: 500, body: `[1,2]`},
		{name: "null message", status: 400, body: `{"error":null,"message":null,"detail":"fallback"}`, msg: "fallback"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := tt.header
			if h == nil {
				h = http.Header{}
			}
			e := parseError("POST", "/api/scim/v2/users", tt.status, h, []byte(tt.body), now, redactor{})
			if e.Status != tt.status || e.Code != tt.code || e.Message != tt.msg || e.RetryAfter != tt.retryAfter {
				t.Errorf("got status %d code %q message %q retry-after %v", e.Status, e.Code, e.Message, e.RetryAfter)
			}
			if e.Body != tt.body {
				t.Errorf("body %q, want the raw body", e.Body)
			}
			if tt.errContains != "" && !strings.Contains(e.Error(), tt.errContains) {
				t.Errorf("Error() = %q, want it to contain %q", e.Error(), tt.errContains)
			}
		})
	}
}

func TestParseErrorBoundsBody(t *testing.T) {
	body := `{"error":"x","message":"` + strings.Repeat("é", 5000) + `"}`
	e := parseError("GET", "/u", 500, http.Header{}, []byte(body), time.Now(), redactor{})
	if len(e.Body) > maxErrorBody {
		t.Errorf("body kept %d bytes, want at most %d", len(e.Body), maxErrorBody)
	}
	if !strings.HasPrefix(body, e.Body) || !utf8Valid(e.Body) {
		t.Error("body cut in the middle of a character")
	}
	if len(e.Error()) > 600 {
		t.Errorf("Error() is %d bytes; a huge message should not flood logs", len(e.Error()))
	}
}

func utf8Valid(s string) bool { return strings.ToValidUTF8(s, "\uFFFD") == s }

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	tests := map[string]time.Duration{
		"":                              0,
		"0":                             0,
		"-5":                            0,
		"12":                            12 * time.Second,
		" 3 ":                           3 * time.Second,
		"99999999999999999":             24 * time.Hour,
		"Wed, 25 Nov 2026 12:01:00 GMT": time.Minute,
		"Wed, 25 Nov 2026 11:00:00 GMT": 0,
		"soon":                          0,
		"1.5":                           0,
	}
	for in, want := range tests {
		if got := parseRetryAfter(in, now); got != want {
			t.Errorf("parseRetryAfter(%q) = %v, want %v", in, got, want)
		}
	}
}

func TestDecodeUser(t *testing.T) {
	tests := []struct {
		name    string
		body    string
		want    User
		wantErr bool
	}{
		{
			name: "omni user with attributes",
			body: `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"id":"9f1c","userName":"a@example.com","displayName":"A","active":true,
				"emails":[{"primary":true,"value":"a@example.com"}],"groups":[],"meta":{"resourceType":"User"},
				"urn:omni:params:1.0:UserAttribute":{"dept":"eng","level":3,"regions":["us","eu"],"flag":true,"gone":null}}`,
			want: User{ID: "9f1c", UserName: "a@example.com", DisplayName: "A", Active: true,
				Attributes: map[string]string{"dept": "eng", "level": "3", "regions": "eu,us", "flag": "true"}},
		},
		{
			name: "attribute names in other case, active as string",
			body: `{"ID":"1","USERNAME":"b@example.com","DisplayName":"B","active":"false"}`,
			want: User{ID: "1", UserName: "b@example.com", DisplayName: "B"},
		},
		{
			name: "flattened attribute",
			body: `{"id":"2","userName":"c@example.com","urn:omni:params:1.0:UserAttribute:team":"core"}`,
			want: User{ID: "2", UserName: "c@example.com", Attributes: map[string]string{"team": "core"}},
		},
		{name: "numeric id", body: `{"id":42}`, want: User{ID: "42"}},
		{name: "no id", body: `{"userName":"a@example.com"}`, wantErr: true},
		{name: "empty id", body: `{"id":""}`, wantErr: true},
		{name: "null", body: `null`, wantErr: true},
		{name: "array", body: `[]`, wantErr: true},
		{name: "garbage", body: `<html>`, wantErr: true},
		{name: "empty", body: ``, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := decodeUser([]byte(tt.body))
			if tt.wantErr {
				if err == nil {
					t.Fatalf("got %+v, want an error", got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.ID != tt.want.ID || got.UserName != tt.want.UserName || got.DisplayName != tt.want.DisplayName ||
				got.Active != tt.want.Active || !maps.Equal(got.Attributes, tt.want.Attributes) {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestDecodeList(t *testing.T) {
	tests := []struct {
		name    string
		body    string
		total   int
		ids     []string
		wantErr bool
	}{
		{name: "page", body: `{"totalResults":3,"Resources":[{"id":"a"},{"id":"b"}]}`, total: 3, ids: []string{"a", "b"}},
		{name: "lower-case resources, string total", body: `{"totalresults":"1","resources":[{"id":"a"}]}`, total: 1, ids: []string{"a"}},
		{name: "empty without resources", body: `{"totalResults":0}`, total: 0},
		{name: "null resources", body: `{"totalResults":0,"Resources":null}`, total: 0},
		{name: "no total", body: `{"Resources":[]}`, wantErr: true},
		{name: "negative total", body: `{"totalResults":-1}`, wantErr: true},
		{name: "resource without id", body: `{"totalResults":1,"Resources":[{"userName":"x"}]}`, wantErr: true},
		{name: "resources not a list", body: `{"totalResults":1,"Resources":{}}`, wantErr: true},
		{name: "garbage", body: `{"totalResults":`, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := decodeList([]byte(tt.body))
			if tt.wantErr {
				if err == nil {
					t.Fatalf("got %+v, want an error", p)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var ids []string
			for _, u := range p.Resources {
				ids = append(ids, u.ID)
			}
			if p.Total != tt.total || strings.Join(ids, ",") != strings.Join(tt.ids, ",") {
				t.Errorf("got total %d ids %v, want %d %v", p.Total, ids, tt.total, tt.ids)
			}
		})
	}
}

// TestRequestBodies pins the wire form of every write; run with -update
// after a deliberate change.
func TestRequestBodies(t *testing.T) {
	tests := []struct {
		golden string
		encode func() ([]byte, error)
	}{
		{"create.json", func() ([]byte, error) { return encodeUser(alice) }},
		{"create_attributes.json", func() ([]byte, error) {
			u := alice
			u.GivenName, u.FamilyName, u.DN = "Alice", "Liddell", "uid=alice,ou=people,dc=example,dc=com"
			u.Attributes = map[string]string{"department": "Engineering", "costCenter": "4711"}
			return encodeUser(u)
		}},
		{"create_no_display_name.json", func() ([]byte, error) {
			return encodeUser(identity.User{ID: "e2", UserName: "bob@example.com"})
		}},
		{"create_disabled_is_sent_active.json", func() ([]byte, error) {
			u := alice
			u.Active = false
			return encodeUser(u)
		}},
		{"deactivate.json", func() ([]byte, error) { return encodeSetActive(false) }},
	}
	for _, tt := range tests {
		t.Run(tt.golden, func(t *testing.T) {
			got, err := tt.encode()
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, '\n')
			path := filepath.Join("testdata", tt.golden)
			if *update {
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("read golden (run with -update to create): %v", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("body differs from %s:\ngot  %s\nwant %s", path, got, want)
			}
		})
	}
	if _, err := encodeUser(identity.User{ID: "x"}); err == nil {
		t.Error("a user without userName must not be encoded")
	}
}

func TestUserNameFilter(t *testing.T) {
	tests := map[string]string{
		"a@example.com":         `filter=userName%20eq%20%22a%40example.com%22`,
		`o'brien+tag@x.com`:     `filter=userName%20eq%20%22o%27brien%2Btag%40x.com%22`,
		`"q\uote"@example.com`:  `filter=userName%20eq%20%22%5C%22q%5C%5Cuote%5C%22%40example.com%22`,
		"with space@x.com":      `filter=userName%20eq%20%22with%20space%40x.com%22`,
		"ünïcode@example.com":   `filter=userName%20eq%20%22%C3%BCn%C3%AFcode%40example.com%22`,
		`a&count=1000@evil.com`: `filter=userName%20eq%20%22a%26count%3D1000%40evil.com%22`,
	}
	for in, want := range tests {
		if got := "filter=" + queryEscape(userNameFilter(in)); got != want {
			t.Errorf("filter for %q:\ngot  %s\nwant %s", in, got, want)
		}
	}
}

func TestJSONContentType(t *testing.T) {
	for ct, want := range map[string]bool{
		"":                                true,
		"application/json":                true,
		"application/scim+json":           true,
		"application/json; charset=utf-8": true,
		"application/problem+json":        true,
		"text/html":                       false,
		"text/plain; charset=utf-8":       false,
		"garbage;;":                       false,
	} {
		if got := jsonContentType(ct); got != want {
			t.Errorf("jsonContentType(%q) = %t, want %t", ct, got, want)
		}
	}
}

func TestRedactor(t *testing.T) {
	r := newRedactor(testToken)
	in := `a ` + testToken + ` b tok\/en+\u0026\u003cvery-secret\u003e c tok\/en+&<very-secret>`
	got := string(r.bytes([]byte(in)))
	if strings.Contains(got, "very-secret") {
		t.Errorf("left a form of the token: %s", got)
	}
	if strings.Count(got, redacted) != 3 {
		t.Errorf("want 3 redactions, got %s", got)
	}
	if got := string(newRedactor("").bytes([]byte("x"))); got != "x" {
		t.Errorf("empty token changed the text: %q", got)
	}
}
