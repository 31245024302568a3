package omnitest

import (
	"fmt"
	"net/http"
	"reflect"
	"testing"
	"time"
)

func op(kind, path string, value any) map[string]any {
	m := map[string]any{"op": kind}
	if path != "" {
		m["path"] = path
	}
	if value != nil {
		m["value"] = value
	}
	return m
}

func TestPatch(t *testing.T) {
	base0 := User{UserName: "gus@example.com", DisplayName: "Gus", Active: true, Attributes: map[string]any{"dept": "ops", "site": "lon"}}
	for _, tc := range []struct {
		name string
		ops  []map[string]any
		want User // ID, timestamps ignored
	}{
		{"replace active false", []map[string]any{op("replace", "active", false)},
			User{UserName: "gus@example.com", DisplayName: "Gus", Active: false, Attributes: base0.Attributes}},
		{"op and path in other case", []map[string]any{op("Replace", "ACTIVE", false)},
			User{UserName: "gus@example.com", DisplayName: "Gus", Active: false, Attributes: base0.Attributes}},
		{"active as a string", []map[string]any{op("replace", "active", "False")},
			User{UserName: "gus@example.com", DisplayName: "Gus", Active: false, Attributes: base0.Attributes}},
		{"displayName", []map[string]any{op("replace", "displayName", "Gus G")},
			User{UserName: "gus@example.com", DisplayName: "Gus G", Active: true, Attributes: base0.Attributes}},
		{"userName", []map[string]any{op("replace", "userName", "gus.g@example.com")},
			User{UserName: "gus.g@example.com", DisplayName: "Gus", Active: true, Attributes: base0.Attributes}},
		{"add one attribute", []map[string]any{op("add", AttributeSchema+":jobLevel", 4)},
			User{UserName: "gus@example.com", DisplayName: "Gus", Active: true, Attributes: map[string]any{"dept": "ops", "site": "lon", "jobLevel": int64(4)}}},
		{"replace one attribute", []map[string]any{op("replace", AttributeSchema+":dept", "eng")},
			User{UserName: "gus@example.com", DisplayName: "Gus", Active: true, Attributes: map[string]any{"dept": "eng", "site": "lon"}}},
		{"list attribute", []map[string]any{op("replace", AttributeSchema+":teams", []any{"a", "b"})},
			User{UserName: "gus@example.com", DisplayName: "Gus", Active: true, Attributes: map[string]any{"dept": "ops", "site": "lon", "teams": []any{"a", "b"}}}},
		{"remove one attribute", []map[string]any{op("remove", AttributeSchema+":dept", nil)},
			User{UserName: "gus@example.com", DisplayName: "Gus", Active: true, Attributes: map[string]any{"site": "lon"}}},
		{"remove an absent attribute", []map[string]any{op("remove", AttributeSchema+":nope", nil)},
			User{UserName: "gus@example.com", DisplayName: "Gus", Active: true, Attributes: base0.Attributes}},
		{"replace the extension merges", []map[string]any{op("replace", AttributeSchema, map[string]any{"dept": "eng", "level": 2})},
			User{UserName: "gus@example.com", DisplayName: "Gus", Active: true, Attributes: map[string]any{"dept": "eng", "site": "lon", "level": int64(2)}}},
		{"null in the extension removes", []map[string]any{op("replace", AttributeSchema, map[string]any{"site": nil})},
			User{UserName: "gus@example.com", DisplayName: "Gus", Active: true, Attributes: map[string]any{"dept": "ops"}}},
		{"remove the extension", []map[string]any{op("remove", AttributeSchema, nil)},
			User{UserName: "gus@example.com", DisplayName: "Gus", Active: true}},
		{"replace without path", []map[string]any{op("replace", "", map[string]any{
			"active": false, "displayName": "G", AttributeSchema: map[string]any{"dept": "hr"}, AttributeSchema + ":site": "par",
		})},
			User{UserName: "gus@example.com", DisplayName: "G", Active: false, Attributes: map[string]any{"dept": "hr", "site": "par"}}},
		{"several operations in order", []map[string]any{
			op("replace", "displayName", "One"), op("replace", "displayName", "Two"), op("remove", AttributeSchema, nil), op("add", AttributeSchema+":x", "y"),
		},
			User{UserName: "gus@example.com", DisplayName: "Two", Active: true, Attributes: map[string]any{"x": "y"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, base := Start(t, Options{})
			c := newClient(t, base)
			u := srv.AddUser(base0)
			r := c.do("PATCH", "/users/"+u.ID, patchBody(tc.ops...))
			if r.status != http.StatusOK {
				t.Fatalf("status %d, body %s", r.status, r.body)
			}
			got, _ := srv.User(u.ID)
			got.ID, got.Created, got.Modified = "", time.Time{}, time.Time{}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("stored %#v\nwant   %#v", got, tc.want)
			}
			res := r.resource(t)
			if res.ID != u.ID || res.UserName != tc.want.UserName || res.Active != tc.want.Active || res.DisplayName != tc.want.DisplayName {
				t.Fatalf("answer %s does not show the patched user", r.body)
			}
		})
	}
}

func TestPatchRefused(t *testing.T) {
	srv, base := Start(t, Options{})
	c := newClient(t, base)
	srv.AddUser(User{UserName: "taken@example.com", DisplayName: "T", Active: true})
	u := srv.AddUser(User{UserName: "hal@example.com", DisplayName: "Hal", Active: true, Attributes: map[string]any{"a": "b"}})
	before, _ := srv.User(u.ID)
	good := op("replace", "displayName", "Changed")
	for _, tc := range []struct {
		name     string
		body     any
		status   int
		scimType string // empty: Omni's error body with code
		code     string
	}{
		{"not JSON", "{", 400, "invalidSyntax", ""},
		{"no PatchOp schema", map[string]any{"Operations": []any{good}}, 400, "invalidSyntax", ""},
		{"no operations", patchBody(), 400, "invalidSyntax", ""},
		{"unknown op", patchBody(good, op("move", "displayName", "x")), 400, "invalidSyntax", ""},
		{"unknown path", patchBody(good, op("replace", "name.givenName", "x")), 400, "invalidPath", ""},
		{"filtered path", patchBody(good, op("replace", `emails[type eq "work"].value`, "x@example.com")), 400, "invalidPath", ""},
		{"unknown key without path", patchBody(op("replace", "", map[string]any{"nickName": "x"})), 400, "invalidPath", ""},
		{"remove without path", patchBody(op("remove", "", nil)), 400, "noTarget", ""},
		{"value without path not an object", patchBody(op("replace", "", "x")), 400, "invalidValue", ""},
		{"remove active", patchBody(good, op("remove", "active", nil)), 400, "mutability", ""},
		{"remove userName", patchBody(op("remove", "userName", nil)), 400, "mutability", ""},
		{"remove displayName", patchBody(op("remove", "displayName", nil)), 400, "mutability", ""},
		{"active not boolean", patchBody(good, op("replace", "active", 3)), 400, "invalidValue", ""},
		{"userName not an email", patchBody(good, op("replace", "userName", "hal")), 400, "invalidValue", ""},
		{"blank displayName", patchBody(op("replace", "displayName", " ")), 400, "invalidValue", ""},
		{"attribute value an object", patchBody(good, op("replace", AttributeSchema+":a", map[string]any{})), 400, "invalidValue", ""},
		{"extension value not an object", patchBody(good, op("replace", AttributeSchema, "x")), 400, "invalidValue", ""},
		{"userName of another user", patchBody(good, op("replace", "userName", "TAKEN@example.com")), 409, "", "conflict"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := c.do("PATCH", "/users/"+u.ID, tc.body)
			if tc.scimType != "" {
				r.wantSCIMError(t, tc.status, tc.scimType)
			} else {
				r.wantOmniError(t, tc.status, tc.code)
			}
			// Operations are all or nothing.
			if after, _ := srv.User(u.ID); !reflect.DeepEqual(after, before) {
				t.Fatalf("a refused PATCH changed the user: %+v", after)
			}
		})
	}
	t.Run("404 on an unknown id", func(t *testing.T) {
		c.do("PATCH", "/users/nope", patchBody(good)).wantOmniError(t, http.StatusNotFound, "not_found")
	})
}

func TestDeactivation(t *testing.T) {
	for _, allow := range []bool{false, true} {
		t.Run(fmt.Sprintf("AllowReactivate=%v", allow), func(t *testing.T) {
			srv, base := Start(t, Options{AllowReactivate: allow})
			c := newClient(t, base)
			u := c.create("ivy@example.com", "Ivy")
			deactivate := patchBody(op("replace", "active", false))
			for range 2 { // repeating a deactivation is harmless
				if r := c.do("PATCH", "/users/"+u.ID, deactivate); r.status != http.StatusOK || r.resource(t).Active {
					t.Fatalf("deactivate: status %d, body %s", r.status, r.body)
				}
			}
			// Other attributes of a deactivated user may still change.
			if r := c.do("PATCH", "/users/"+u.ID, patchBody(op("replace", "displayName", "Ivy I"))); r.status != http.StatusOK {
				t.Fatalf("rename a deactivated user: status %d", r.status)
			}
			r := c.do("PATCH", "/users/"+u.ID, patchBody(op("replace", "active", true)))
			got, _ := srv.User(u.ID)
			if allow {
				if r.status != http.StatusOK || !got.Active {
					t.Fatalf("reactivate allowed: status %d, active %v", r.status, got.Active)
				}
				return
			}
			r.wantOmniError(t, http.StatusBadRequest, "bad_request")
			if r.json(t)["message"] != ReactivateMessage || got.Active {
				t.Fatalf("reactivate refused: body %s, stored active %v", r.body, got.Active)
			}
		})
	}

	t.Run("reactivating beside a new active user with the email", func(t *testing.T) {
		srv, base := Start(t, Options{AllowReactivate: true, ReuseInactiveEmail: true})
		c := newClient(t, base)
		old := c.create("jo@example.com", "Jo")
		c.do("PATCH", "/users/"+old.ID, patchBody(op("replace", "active", false)))
		c.create("jo@example.com", "Jo")
		c.do("PATCH", "/users/"+old.ID, patchBody(op("replace", "active", true))).wantOmniError(t, http.StatusConflict, "conflict")
		if got, _ := srv.User(old.ID); got.Active {
			t.Fatal("two active users share an email")
		}
	})
}

func TestModifiedTimestamp(t *testing.T) {
	clock := newFakeClock()
	srv, base := Start(t, Options{Now: clock.Now})
	c := newClient(t, base)
	u := c.create("kim@example.com", "Kim")
	created := clock.Now()
	clock.Advance(time.Minute)
	c.do("PATCH", "/users/"+u.ID, patchBody(op("replace", "displayName", "Kim")))
	if got, _ := srv.User(u.ID); !got.Modified.Equal(created) {
		t.Fatalf("a PATCH that changes nothing moved Modified to %v", got.Modified)
	}
	c.do("PATCH", "/users/"+u.ID, patchBody(op("replace", "displayName", "Kim K")))
	if got, _ := srv.User(u.ID); !got.Modified.Equal(clock.Now()) || !got.Created.Equal(created) {
		t.Fatalf("created %v modified %v, want %v and %v", got.Created, got.Modified, created, clock.Now())
	}
	if st := srv.Stats(); st.Applied != 2 || st.Writes != 3 {
		t.Fatalf("Applied %d Writes %d, want 2 (create, rename) and 3", st.Applied, st.Writes)
	}
}
