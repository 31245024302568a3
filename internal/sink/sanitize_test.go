package sink

import (
	"context"
	"errors"
	"strings"
	"testing"
	"unicode/utf8"
)

// storable reports whether PostgreSQL takes s as text.
func storable(s string) bool {
	return utf8.ValidString(s) && !strings.Contains(s, "\x00")
}

func TestErrorTextFromOmniIsCleaned(t *testing.T) {
	// A NUL escaped in JSON, a raw NUL byte, invalid UTF-8, and the key
	// split by a NUL, which must not come back together unredacted.
	split := testToken[:3] + "\x00" + testToken[3:]
	body := `{"error":"bad\u0000request","message":"no\u0000pe ` + "\xff" + `","detail":"raw` + "\x00" + ` key=` + split + `"}`
	srv := newScript(t, raw(400, "application/json", body))
	c, _ := newTestClient(t, srv.URL, nil)
	err := c.Delete(context.Background(), "u1")
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("got %v, want an *Error", err)
	}
	if e.Code != "badrequest" || e.Message != "nope \uFFFD" {
		t.Errorf("got code %q message %q", e.Code, e.Message)
	}
	for where, s := range map[string]string{"code": e.Code, "message": e.Message, "body": e.Body, "error": err.Error()} {
		if !storable(s) {
			t.Errorf("the %s holds NUL or invalid UTF-8: %q", where, s)
		}
		if strings.Contains(s, testToken) {
			t.Errorf("the %s holds the key: %q", where, s)
		}
	}
}

func TestUserTextFromOmniIsCleaned(t *testing.T) {
	body := `{"id":"u1","userName":"a\u0000@example.com","displayName":"Al` + "\xff" + `ice",` +
		`"urn:omni:params:1.0:UserAttribute":{"te\u0000am":"da\u0000ta"}}`
	srv := newScript(t, raw(200, "application/scim+json", body))
	c, _ := newTestClient(t, srv.URL, nil)
	u, err := c.Get(context.Background(), "u1")
	if err != nil {
		t.Fatal(err)
	}
	if u.UserName != "a@example.com" || u.DisplayName != "Al\uFFFDice" || u.Attributes["team"] != "data" {
		t.Errorf("got %+v", u)
	}
}

func TestUnusableUserIDIsAnError(t *testing.T) {
	for name, id := range map[string]string{
		"empty":           `""`,
		"NUL":             `"u\u00001"`,
		"newline":         `"u\n1"`,
		"invalid UTF-8":   "\"u\xff1\"",
		"longer than 256": `"` + strings.Repeat("x", 257) + `"`,
	} {
		if u, err := decodeUser([]byte(`{"id":` + id + `}`)); err == nil {
			t.Errorf("%s: accepted id %q", name, u.ID)
		}
	}
	if u, err := decodeUser([]byte(`{"id":12}`)); err != nil || u.ID != "12" {
		t.Errorf("numeric id: %+v %v", u, err)
	}
}

func TestCreateAnsweredWithUnusableIDIsSettledByLookup(t *testing.T) {
	checkCreateSettledByLookup(t, raw(201, "application/scim+json", `{"id":"u1\u0000","userName":"alice@example.com"}`))
}
