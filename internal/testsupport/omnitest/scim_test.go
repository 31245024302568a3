package omnitest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestBearerToken(t *testing.T) {
	srv, base := Start(t, Options{Token: "right"})
	for _, tc := range []struct {
		name, header string
		want         int
	}{
		{"missing", "", http.StatusUnauthorized},
		{"wrong token", "Bearer wrong", http.StatusUnauthorized},
		{"wrong scheme", "Basic right", http.StatusUnauthorized},
		{"right token", "Bearer right", http.StatusOK},
		{"scheme in other case", "bearer right", http.StatusOK},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, err := http.NewRequest("GET", base+"/users", nil)
			if err != nil {
				t.Fatal(err)
			}
			if tc.header != "" {
				req.Header.Set("Authorization", tc.header)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if resp.StatusCode != tc.want {
				t.Fatalf("status = %d, want %d", resp.StatusCode, tc.want)
			}
			if tc.want == http.StatusUnauthorized {
				var e omniError
				if err := json.NewDecoder(resp.Body).Decode(&e); err != nil || e.Error != "unauthorized" || e.Message == "" {
					t.Fatalf("401 body = %+v (%v), want Omni's unauthorized error", e, err)
				}
			}
		})
	}
	if got := srv.Stats().ByMethodStatus["GET 401"]; got != 3 {
		t.Errorf(`Stats "GET 401" = %d, want 3`, got)
	}

	t.Run("revoked token", func(t *testing.T) {
		c := newClient(t, base)
		c.token = "right"
		srv.SetToken("rotated")
		c.do("GET", "/users", nil).wantOmniError(t, http.StatusUnauthorized, "unauthorized")
	})
}

func TestRoutes(t *testing.T) {
	srv, base := Start(t, Options{})
	host := strings.TrimSuffix(base, "/api/scim/v2")
	c := newClient(t, host)
	created := srv.AddUser(User{UserName: "ann@example.com", DisplayName: "Ann", Active: true})
	for _, tc := range []struct {
		name, method, path string
		want               int
	}{
		{"lowercase collection", "GET", "/api/scim/v2/users", http.StatusOK},
		{"capitalised collection", "GET", "/api/scim/v2/Users", http.StatusOK},
		{"other prefix", "GET", "/scim/v2/users", http.StatusOK},
		{"lowercase item", "GET", "/api/scim/v2/users/" + created.ID, http.StatusOK},
		{"capitalised item", "GET", "/api/scim/v2/Users/" + created.ID, http.StatusOK},
		{"lowercase groups", "GET", "/api/scim/v2/groups", http.StatusOK},
		{"capitalised groups", "GET", "/api/scim/v2/Groups", http.StatusOK},
		{"other groups casing", "GET", "/api/scim/v2/GROUPS", http.StatusNotFound},
		{"missing group", "GET", "/api/scim/v2/groups/nope1234", http.StatusNotFound},
		{"DELETE on groups", "DELETE", "/api/scim/v2/groups", http.StatusMethodNotAllowed},
		{"nested path", "GET", "/api/scim/v2/users/" + created.ID + "/x", http.StatusNotFound},
		{"other casing", "GET", "/api/scim/v2/USERS", http.StatusNotFound},
		{"DELETE on collection", "DELETE", "/api/scim/v2/users", http.StatusMethodNotAllowed},
		{"POST on item", "POST", "/api/scim/v2/users/" + created.ID, http.StatusMethodNotAllowed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := c.do(tc.method, tc.path, nil)
			if r.status != tc.want {
				t.Fatalf("status = %d, want %d (body %s)", r.status, tc.want, r.body)
			}
			if tc.want == http.StatusMethodNotAllowed && r.header.Get("Allow") == "" {
				t.Errorf("405 without Allow header")
			}
		})
	}
	t.Run("location follows the casing used", func(t *testing.T) {
		r := c.do("GET", "/api/scim/v2/Users/"+created.ID, nil)
		loc := r.resource(t).Meta.Location
		if want := host + "/api/scim/v2/Users/" + created.ID; loc != want {
			t.Fatalf("meta.location = %q, want %q", loc, want)
		}
	})
}

func TestCreate(t *testing.T) {
	clock := newFakeClock()
	srv, base := Start(t, Options{Now: clock.Now})
	c := newClient(t, base)

	t.Run("returns the full resource", func(t *testing.T) {
		r := c.do("POST", "/users", map[string]any{
			"schemas":     []string{UserSchema, AttributeSchema},
			"userName":    "Ann.Lee@Example.com",
			"displayName": "Ann Lee",
			AttributeSchema: map[string]any{
				"department": "R&D",
				"level":      3,
				"teams":      []any{"a", 2},
			},
		})
		if r.status != http.StatusCreated {
			t.Fatalf("status = %d, body %s", r.status, r.body)
		}
		m := r.json(t)
		for _, key := range []string{"schemas", "id", "userName", "displayName", "active", "emails", "groups", "meta", AttributeSchema} {
			if _, ok := m[key]; !ok {
				t.Errorf("resource lacks %q: %s", key, r.body)
			}
		}
		res := r.resource(t)
		if !slices.Equal(res.Schemas, []string{UserSchema, AttributeSchema}) {
			t.Errorf("schemas = %v", res.Schemas)
		}
		if len(res.ID) != 36 || strings.Count(res.ID, "-") != 4 {
			t.Errorf("id = %q, want a UUID", res.ID)
		}
		if res.UserName != "Ann.Lee@Example.com" {
			t.Errorf("userName = %q, want it stored as given", res.UserName)
		}
		if !res.Active || res.DisplayName != "Ann Lee" {
			t.Errorf("active = %v, displayName = %q", res.Active, res.DisplayName)
		}
		if len(res.Emails) != 1 || !res.Emails[0].Primary || res.Emails[0].Value != "Ann.Lee@Example.com" {
			t.Errorf("emails = %+v", res.Emails)
		}
		if res.Groups == nil || len(res.Groups) != 0 {
			t.Errorf("groups = %v, want []", res.Groups)
		}
		want := clock.Now().Format(timeFormat)
		if res.Meta.ResourceType != "User" || res.Meta.Created != want || res.Meta.LastModified != want {
			t.Errorf("meta = %+v, want created and lastModified %s", res.Meta, want)
		}
		if res.Meta.Location != base+"/users/"+res.ID {
			t.Errorf("meta.location = %q", res.Meta.Location)
		}
		stored, ok := srv.User(res.ID)
		if !ok {
			t.Fatal("created user not stored")
		}
		if stored.Attributes["department"] != "R&D" || stored.Attributes["level"] != int64(3) ||
			fmt.Sprint(stored.Attributes["teams"]) != "[a 2]" {
			t.Errorf("stored attributes = %#v", stored.Attributes)
		}
	})

	t.Run("no extension object without attributes", func(t *testing.T) {
		r := c.do("POST", "/users", map[string]any{"userName": "bob@example.com", "displayName": "Bob"})
		if _, present := r.json(t)[AttributeSchema]; present || r.status != http.StatusCreated {
			t.Fatalf("status %d, body %s: want 201 without %s", r.status, r.body, AttributeSchema)
		}
	})

	t.Run("active false creates an inactive user", func(t *testing.T) {
		r := c.do("POST", "/users", map[string]any{"userName": "ina@example.com", "displayName": "Ina", "active": false})
		if res := r.resource(t); r.status != http.StatusCreated || res.Active {
			t.Fatalf("status %d, active %v", r.status, res.Active)
		}
	})

	for _, tc := range []struct {
		name string
		body any
	}{
		{"no userName", map[string]any{"displayName": "X"}},
		{"empty userName", map[string]any{"userName": "", "displayName": "X"}},
		{"userName not an email", map[string]any{"userName": "carol", "displayName": "X"}},
		{"userName with a display name", map[string]any{"userName": "Carol <carol@example.com>", "displayName": "X"}},
		{"userName with surrounding space", map[string]any{"userName": " carol@example.com", "displayName": "X"}},
		{"no displayName", map[string]any{"userName": "carol@example.com"}},
		{"blank displayName", map[string]any{"userName": "carol@example.com", "displayName": "  "}},
		{"active not a boolean", map[string]any{"userName": "carol@example.com", "displayName": "X", "active": 1}},
		{"attribute object not an object", map[string]any{"userName": "carol@example.com", "displayName": "X", AttributeSchema: "x"}},
		{"attribute value a float", map[string]any{"userName": "carol@example.com", "displayName": "X", AttributeSchema: map[string]any{"a": 1.5}}},
		{"attribute value an object", map[string]any{"userName": "carol@example.com", "displayName": "X", AttributeSchema: map[string]any{"a": map[string]any{}}}},
	} {
		t.Run("400 on "+tc.name, func(t *testing.T) {
			c.do("POST", "/users", tc.body).wantOmniError(t, http.StatusBadRequest, "bad_request")
		})
	}
	t.Run("400 on a body that is not JSON", func(t *testing.T) {
		c.do("POST", "/users", "{not json").wantSCIMError(t, http.StatusBadRequest, "invalidSyntax")
	})
	if _, found := findUser(srv, "carol@example.com"); found {
		t.Error("a refused create stored a user")
	}

	t.Run("409 on a duplicate email in any case", func(t *testing.T) {
		before := len(srv.Users())
		for _, name := range []string{"ann.lee@example.com", "ANN.LEE@EXAMPLE.COM", "ina@example.com"} {
			r := c.do("POST", "/users", map[string]any{"userName": name, "displayName": "Again"})
			r.wantOmniError(t, http.StatusConflict, "conflict")
			if msg := r.json(t)["message"]; msg != ConflictMessage {
				t.Errorf("message = %q, want %q", msg, ConflictMessage)
			}
		}
		if after := len(srv.Users()); after != before {
			t.Errorf("users %d -> %d after conflicts", before, after)
		}
	})

	t.Run("409 on the email of a seeded user", func(t *testing.T) {
		srv.AddUser(User{UserName: "admin@example.com", DisplayName: "Admin", Active: true})
		c.do("POST", "/users", map[string]any{"userName": "admin@example.com", "displayName": "A"}).
			wantOmniError(t, http.StatusConflict, "conflict")
	})
}

func TestCreateOverInactiveEmail(t *testing.T) {
	srv, base := Start(t, Options{ReuseInactiveEmail: true})
	c := newClient(t, base)
	old := c.create("dan@example.com", "Dan")
	c.do("PATCH", "/users/"+old.ID, patchBody(map[string]any{"op": "replace", "path": "active", "value": false}))
	r := c.do("POST", "/users", map[string]any{"userName": "dan@example.com", "displayName": "Dan"})
	if r.status != http.StatusCreated {
		t.Fatalf("POST over a deactivated user: status %d, body %s", r.status, r.body)
	}
	if r.resource(t).ID == old.ID {
		t.Fatal("the new user reuses the old id")
	}
	c.do("POST", "/users", map[string]any{"userName": "dan@example.com", "displayName": "Dan"}).
		wantOmniError(t, http.StatusConflict, "conflict")
	l := c.do("GET", "/users?filter="+url.QueryEscape(`userName eq "dan@example.com"`), nil).list(t)
	if l.TotalResults != 2 || l.Resources[0].ID != old.ID || l.Resources[0].Active || !l.Resources[1].Active {
		t.Fatalf("filter = %+v, want the old inactive user then the new one", l)
	}
	if len(srv.Users()) != 2 {
		t.Fatalf("users = %d, want 2", len(srv.Users()))
	}
}

func findUser(srv *Server, userName string) (User, bool) {
	for _, u := range srv.Users() {
		if strings.EqualFold(u.UserName, userName) {
			return u, true
		}
	}
	return User{}, false
}

func TestGetAndDelete(t *testing.T) {
	srv, base := Start(t, Options{})
	c := newClient(t, base)
	u := c.create("eve@example.com", "Eve")

	got := c.do("GET", "/users/"+u.ID, nil)
	if got.status != http.StatusOK || got.resource(t).UserName != "eve@example.com" {
		t.Fatalf("GET: status %d, body %s", got.status, got.body)
	}
	r := c.do("GET", "/users/no-such-id", nil)
	r.wantOmniError(t, http.StatusNotFound, "not_found")
	if r.json(t)["message"] != NotFoundMessage {
		t.Errorf("404 message = %v, want %q", r.json(t)["message"], NotFoundMessage)
	}

	del := c.do("DELETE", "/users/"+u.ID, nil)
	if del.status != http.StatusNoContent || len(del.body) != 0 {
		t.Fatalf("DELETE: status %d, body %q, want 204 and no body", del.status, del.body)
	}
	if _, ok := srv.User(u.ID); ok {
		t.Fatal("deleted user still stored")
	}
	c.do("DELETE", "/users/"+u.ID, nil).wantOmniError(t, http.StatusNotFound, "not_found")
	c.do("GET", "/users/"+u.ID, nil).wantOmniError(t, http.StatusNotFound, "not_found")
	// A deleted user's email is free again.
	if again := c.create("eve@example.com", "Eve"); again.ID == u.ID {
		t.Fatal("re-created user reuses the deleted id")
	}
}

func TestList(t *testing.T) {
	srv, base := Start(t, Options{})
	c := newClient(t, base)
	var ids []string
	for i := range 250 {
		ids = append(ids, c.create(fmt.Sprintf("user%03d@example.com", i), fmt.Sprintf("User %d", i)).ID)
	}
	page := func(t *testing.T, query string) listResponse {
		t.Helper()
		r := c.do("GET", "/users"+query, nil)
		if r.status != http.StatusOK {
			t.Fatalf("GET %s: status %d, body %s", query, r.status, r.body)
		}
		l := r.list(t)
		if !slices.Equal(l.Schemas, []string{ListSchema}) {
			t.Fatalf("schemas = %v", l.Schemas)
		}
		if l.ItemsPerPage != len(l.Resources) {
			t.Fatalf("itemsPerPage %d with %d resources", l.ItemsPerPage, len(l.Resources))
		}
		return l
	}
	for _, tc := range []struct {
		name, query     string
		total, start, n int
		firstID         string
	}{
		{"defaults", "", 250, 1, 100, ids[0]},
		{"second page", "?startIndex=101&count=100", 250, 101, 100, ids[100]},
		{"last partial page", "?startIndex=201", 250, 201, 50, ids[200]},
		{"small count", "?startIndex=5&count=3", 250, 5, 3, ids[4]},
		{"count capped at MaxCount", "?count=1000", 250, 1, MaxCount, ids[0]},
		{"count zero gives totals only", "?count=0", 250, 1, 0, ""},
		{"negative count read as zero", "?count=-5", 250, 1, 0, ""},
		{"startIndex below 1 read as 1", "?startIndex=0&count=2", 250, 1, 2, ids[0]},
		{"startIndex past the end", "?startIndex=251", 250, 251, 0, ""},
		{"filter", "?filter=" + url.QueryEscape(`userName eq "user007@example.com"`), 1, 1, 1, ids[7]},
		{"filter matches case-insensitively", "?filter=" + url.QueryEscape(`userName eq "USER007@Example.COM"`), 1, 1, 1, ids[7]},
		{"filter attribute and operator in any case", "?filter=" + url.QueryEscape(`UserName EQ "user007@example.com"`), 1, 1, 1, ids[7]},
		{"filter without a match", "?filter=" + url.QueryEscape(`userName eq "nobody@example.com"`), 0, 1, 0, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := page(t, tc.query)
			if l.TotalResults != tc.total || l.StartIndex != tc.start || len(l.Resources) != tc.n {
				t.Fatalf("total %d start %d items %d, want %d %d %d", l.TotalResults, l.StartIndex, len(l.Resources), tc.total, tc.start, tc.n)
			}
			if tc.n > 0 && l.Resources[0].ID != tc.firstID {
				t.Fatalf("first id %s, want %s", l.Resources[0].ID, tc.firstID)
			}
			if l.Resources == nil {
				t.Fatal("Resources is null, want []")
			}
		})
	}

	t.Run("pages cover every user once in creation order", func(t *testing.T) {
		var got []string
		for start := 1; ; start += 40 {
			l := page(t, fmt.Sprintf("?startIndex=%d&count=40", start))
			for _, r := range l.Resources {
				got = append(got, r.ID)
			}
			if start+40 > l.TotalResults {
				break
			}
		}
		if !slices.Equal(got, ids) {
			t.Fatalf("paged ids differ from creation order (%d vs %d)", len(got), len(ids))
		}
	})

	t.Run("creation order survives deletes", func(t *testing.T) {
		c.do("DELETE", "/users/"+ids[1], nil)
		l := page(t, "?count=3")
		if l.TotalResults != 249 || l.Resources[0].ID != ids[0] || l.Resources[1].ID != ids[2] || l.Resources[2].ID != ids[3] {
			t.Fatalf("after delete: total %d, first ids %s %s %s", l.TotalResults, l.Resources[0].ID, l.Resources[1].ID, l.Resources[2].ID)
		}
		if got := srv.Users(); len(got) != 249 || got[1].ID != ids[2] {
			t.Fatalf("Users() after delete: %d users", len(got))
		}
	})

	for _, tc := range []struct {
		name, query, scimType string
	}{
		{"other attribute", "?filter=" + url.QueryEscape(`displayName eq "x"`), "invalidFilter"},
		{"other operator", "?filter=" + url.QueryEscape(`userName co "x"`), "invalidFilter"},
		{"unquoted value", "?filter=" + url.QueryEscape(`userName eq x`), "invalidFilter"},
		{"compound filter", "?filter=" + url.QueryEscape(`userName eq "a@b.co" and active eq true`), "invalidFilter"},
		{"empty filter", "?filter=", "invalidFilter"},
		{"startIndex not a number", "?startIndex=x", "invalidValue"},
		{"count not a number", "?count=x", "invalidValue"},
	} {
		t.Run("400 on "+tc.name, func(t *testing.T) {
			c.do("GET", "/users"+tc.query, nil).wantSCIMError(t, http.StatusBadRequest, tc.scimType)
		})
	}
}

func TestReplace(t *testing.T) {
	clock := newFakeClock()
	srv, base := Start(t, Options{Now: clock.Now})
	c := newClient(t, base)
	c.create("other@example.com", "Other")
	r := c.do("POST", "/users", map[string]any{
		"userName": "fay@example.com", "displayName": "Fay",
		AttributeSchema: map[string]any{"dept": "ops", "site": "lon"},
	})
	fay := r.resource(t)
	clock.Advance(time.Hour)

	t.Run("replaces and resets what is left out", func(t *testing.T) {
		r := c.do("PUT", "/users/"+fay.ID, map[string]any{
			"schemas": []string{UserSchema}, "userName": "fay.new@example.com", "displayName": "Fay New",
			AttributeSchema: map[string]any{"dept": "eng"},
		})
		res := r.resource(t)
		if r.status != http.StatusOK || res.UserName != "fay.new@example.com" || res.DisplayName != "Fay New" {
			t.Fatalf("status %d, body %s", r.status, r.body)
		}
		if len(res.Attributes) != 1 || res.Attributes["dept"] != "eng" {
			t.Fatalf("attributes = %v, want only dept=eng", res.Attributes)
		}
		if res.Meta.Created != fay.Meta.Created || res.Meta.LastModified != clock.Now().Format(timeFormat) {
			t.Fatalf("meta = %+v, want created kept and lastModified now", res.Meta)
		}
		r = c.do("PUT", "/users/"+fay.ID, map[string]any{"userName": "fay.new@example.com", "displayName": "Fay New"})
		if res := r.resource(t); res.Attributes != nil || !res.Active {
			t.Fatalf("PUT without attributes: %s, want no attributes and active", r.body)
		}
		// The old email is free, the new one taken.
		c.do("POST", "/users", map[string]any{"userName": "FAY.NEW@example.com", "displayName": "x"}).
			wantOmniError(t, http.StatusConflict, "conflict")
		if u := c.create("fay@example.com", "Another Fay"); u.ID == fay.ID {
			t.Fatal("old email not released")
		}
	})

	t.Run("409 when taking another user's email", func(t *testing.T) {
		c.do("PUT", "/users/"+fay.ID, map[string]any{"userName": "OTHER@example.com", "displayName": "Fay"}).
			wantOmniError(t, http.StatusConflict, "conflict")
		if got, _ := srv.User(fay.ID); got.UserName != "fay.new@example.com" {
			t.Fatalf("userName after conflict = %q", got.UserName)
		}
	})

	t.Run("changing only the case of its own email", func(t *testing.T) {
		r := c.do("PUT", "/users/"+fay.ID, map[string]any{"userName": "Fay.New@example.com", "displayName": "Fay"})
		if r.status != http.StatusOK || r.resource(t).UserName != "Fay.New@example.com" {
			t.Fatalf("status %d, body %s", r.status, r.body)
		}
	})

	t.Run("400 on a missing required attribute", func(t *testing.T) {
		c.do("PUT", "/users/"+fay.ID, map[string]any{"userName": "fay.new@example.com"}).
			wantOmniError(t, http.StatusBadRequest, "bad_request")
	})

	t.Run("404 on an unknown id", func(t *testing.T) {
		c.do("PUT", "/users/nope", map[string]any{"userName": "x@example.com", "displayName": "X"}).
			wantOmniError(t, http.StatusNotFound, "not_found")
	})

	t.Run("active false deactivates, leaving active out afterwards reactivates and is refused", func(t *testing.T) {
		r := c.do("PUT", "/users/"+fay.ID, map[string]any{"userName": "fay.new@example.com", "displayName": "Fay", "active": false})
		if r.status != http.StatusOK || r.resource(t).Active {
			t.Fatalf("deactivating PUT: status %d, body %s", r.status, r.body)
		}
		c.do("PUT", "/users/"+fay.ID, map[string]any{"userName": "fay.new@example.com", "displayName": "Fay"}).
			wantOmniError(t, http.StatusBadRequest, "bad_request")
		if got, _ := srv.User(fay.ID); got.Active {
			t.Fatal("refused PUT reactivated the user")
		}
	})
}
