package omnitest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// groupRes decodes a SCIM group answer.
func (r response) groupRes(t *testing.T) groupResource {
	t.Helper()
	var g groupResource
	if err := json.Unmarshal(r.body, &g); err != nil {
		t.Fatalf("decode group %q: %v", r.body, err)
	}
	return g
}

func members(ids ...string) []map[string]string {
	out := make([]map[string]string, len(ids))
	for i, id := range ids {
		out[i] = map[string]string{"value": id}
	}
	return out
}

func removeOp(id string) map[string]any {
	return map[string]any{"op": "remove", "path": `members[value eq "` + id + `"]`}
}

func TestGroupCreate(t *testing.T) {
	for _, path := range []string{"/groups", "/Groups"} {
		t.Run(path, func(t *testing.T) {
			srv, base := Start(t, Options{})
			c := newClient(t, base)
			ann := srv.AddUser(User{UserName: "ann@example.com", DisplayName: "Ann", Active: true})
			srv.AddGroup(Group{DisplayName: "Existing"})
			for _, tc := range []struct {
				name    string
				body    any
				want    int
				code    string // Omni error code, or SCIM scimType when scim
				scim    bool
				inError string
			}{
				{"with members", map[string]any{"displayName": "Eng", "members": members(ann.ID, ann.ID)}, 201, "", false, ""},
				{"without members", map[string]any{"displayName": "Ops"}, 201, "", false, ""},
				{"64 characters", map[string]any{"displayName": strings.Repeat("é", 64)}, 201, "", false, ""},
				{"65 characters", map[string]any{"displayName": strings.Repeat("x", 65)}, 400, "bad_request", false, "64"},
				{"no name", map[string]any{"members": members(ann.ID)}, 400, "bad_request", false, "displayName"},
				{"blank name", map[string]any{"displayName": "  "}, 400, "bad_request", false, "displayName"},
				{"unknown member", map[string]any{"displayName": "Sales", "members": members("no-such-user")}, 400, "bad_request", false, "no-such-user"},
				{"member without value", map[string]any{"displayName": "Sales", "members": []map[string]string{{}}}, 400, "bad_request", false, "value"},
				{"duplicate name", map[string]any{"displayName": "existing"}, 409, "conflict", false, ""},
				{"not JSON", "{", 400, "invalidSyntax", true, ""},
			} {
				t.Run(tc.name, func(t *testing.T) {
					before := len(srv.Groups())
					r := c.do("POST", path, tc.body)
					switch {
					case tc.want == http.StatusCreated:
						if r.status != tc.want {
							t.Fatalf("status %d, body %s", r.status, r.body)
						}
						g := r.groupRes(t)
						stored, found := srv.Group(g.ID)
						if !found || stored.DisplayName != g.DisplayName || len(stored.Members) != len(g.Members) {
							t.Fatalf("answer %+v, stored %+v", g, stored)
						}
						if !strings.HasSuffix(g.Meta.Location, path+"/"+g.ID) {
							t.Errorf("location %q does not follow %s", g.Meta.Location, path)
						}
						return
					case tc.scim:
						r.wantSCIMError(t, tc.want, tc.code)
					default:
						r.wantOmniError(t, tc.want, tc.code)
					}
					if !strings.Contains(string(r.body), tc.inError) {
						t.Errorf("body %s does not name %q", r.body, tc.inError)
					}
					if n := len(srv.Groups()); n != before {
						t.Errorf("groups %d -> %d after a refused create", before, n)
					}
				})
			}
			g := c.do("POST", path, map[string]any{"displayName": "Team", "members": members(ann.ID)}).groupRes(t)
			if len(g.Members) != 1 || g.Members[0].Value != ann.ID || g.Members[0].Display != ann.UserName {
				t.Errorf("members %+v, want ann with her email as display", g.Members)
			}
		})
	}
}

func TestGroupDuplicateNameSwitch(t *testing.T) {
	for _, tc := range []struct {
		allow bool
		want  int
	}{{false, http.StatusConflict}, {true, http.StatusCreated}} {
		t.Run(fmt.Sprint("allow=", tc.allow), func(t *testing.T) {
			srv, base := Start(t, Options{AllowDuplicateGroupNames: tc.allow})
			c := newClient(t, base)
			other := srv.AddGroup(Group{DisplayName: "Other"})
			c.do("POST", "/groups", map[string]any{"displayName": "Eng"})
			if r := c.do("POST", "/groups", map[string]any{"displayName": "ENG"}); r.status != tc.want {
				t.Fatalf("create: status %d, want %d (%s)", r.status, tc.want, r.body)
			}
			rename := patchBody(map[string]any{"op": "replace", "path": "displayName", "value": "eng"})
			want := tc.want
			if want == http.StatusCreated {
				want = http.StatusOK
			}
			if r := c.do("PATCH", "/groups/"+other.ID, rename); r.status != want {
				t.Fatalf("rename: status %d, want %d (%s)", r.status, want, r.body)
			}
		})
	}
}

func TestGroupIDs(t *testing.T) {
	srv, base := Start(t, Options{})
	c := newClient(t, base)
	re := regexp.MustCompile(`^[A-Za-z0-9]{8}$`)
	seen := map[string]bool{}
	for i := range 20 {
		g := c.do("POST", "/groups", map[string]any{"displayName": fmt.Sprint("g", i)}).groupRes(t)
		if !re.MatchString(g.ID) || seen[g.ID] {
			t.Fatalf("id %q: want 8 fresh characters of [A-Za-z0-9]", g.ID)
		}
		seen[g.ID] = true
	}
	if g := srv.AddGroup(Group{}); !re.MatchString(g.ID) {
		t.Errorf("seeded id %q", g.ID)
	}
}

func TestGroupListPaging(t *testing.T) {
	srv, base := Start(t, Options{})
	c := newClient(t, base)
	var ids []string
	for i := range 250 {
		ids = append(ids, srv.AddGroup(Group{DisplayName: fmt.Sprint("g", i)}).ID)
	}
	for _, tc := range []struct {
		query      string
		first, len int
	}{
		{"", 0, 100},
		{"?startIndex=101", 100, 100},
		{"?startIndex=201&count=100", 200, 50},
		{"?startIndex=0&count=5", 0, 5},
		{"?count=500", 0, 100},
		{"?count=0", 0, 0},
		{"?startIndex=300", 0, 0},
	} {
		t.Run(tc.query, func(t *testing.T) {
			r := c.do("GET", "/groups"+tc.query, nil)
			var l groupListResponse
			if err := json.Unmarshal(r.body, &l); err != nil || r.status != http.StatusOK {
				t.Fatalf("status %d body %s", r.status, r.body)
			}
			if l.TotalResults != 250 || l.ItemsPerPage != tc.len || len(l.Resources) != tc.len {
				t.Fatalf("total %d items %d len %d, want 250 %d", l.TotalResults, l.ItemsPerPage, len(l.Resources), tc.len)
			}
			for i, g := range l.Resources {
				if g.ID != ids[tc.first+i] {
					t.Fatalf("resource %d is %s, want %s: creation order", i, g.ID, ids[tc.first+i])
				}
			}
		})
	}
	c.do("GET", "/groups?count=x", nil).wantSCIMError(t, http.StatusBadRequest, "invalidValue")
}

func TestGroupPut(t *testing.T) {
	srv, base := Start(t, Options{})
	c := newClient(t, base)
	ann := srv.AddUser(User{UserName: "ann@example.com", DisplayName: "Ann", Active: true})
	bob := srv.AddUser(User{UserName: "bob@example.com", DisplayName: "Bob", Active: true})
	g := srv.AddGroup(Group{DisplayName: "Eng", Members: []string{ann.ID}})
	srv.AddGroup(Group{DisplayName: "Ops"})
	for _, tc := range []struct {
		name        string
		body        any
		want        int
		wantName    string
		wantMembers []string
	}{
		{"replaces name and members", map[string]any{"displayName": "Platform", "members": members(bob.ID)}, 200, "Platform", []string{bob.ID}},
		{"empty members clears", map[string]any{"displayName": "Platform", "members": []any{}}, 200, "Platform", []string{}},
		{"members required", map[string]any{"displayName": "Platform"}, 400, "Platform", []string{}},
		{"unknown member", map[string]any{"displayName": "X", "members": members("ghost")}, 400, "Platform", []string{}},
		{"name taken", map[string]any{"displayName": "ops", "members": []any{}}, 409, "Platform", []string{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if r := c.do("PUT", "/groups/"+g.ID, tc.body); r.status != tc.want {
				t.Fatalf("status %d, want %d (%s)", r.status, tc.want, r.body)
			}
			got, _ := srv.Group(g.ID)
			if got.DisplayName != tc.wantName || !slices.Equal(got.Members, tc.wantMembers) {
				t.Errorf("stored %+v, want %s %v", got, tc.wantName, tc.wantMembers)
			}
		})
	}
	c.do("PUT", "/groups/nope1234", map[string]any{"displayName": "X", "members": []any{}}).wantOmniError(t, http.StatusNotFound, "not_found")
}

func TestGroupPatch(t *testing.T) {
	srv, base := Start(t, Options{})
	c := newClient(t, base)
	var users []string
	for i := range 102 {
		users = append(users, srv.AddUser(User{UserName: fmt.Sprintf("u%d@example.com", i), DisplayName: "U", Active: true}).ID)
	}
	srv.AddGroup(Group{DisplayName: "Taken"})
	addOp := func(ids ...string) map[string]any {
		return map[string]any{"op": "add", "path": "members", "value": members(ids...)}
	}
	var removes []map[string]any
	for _, id := range users[:101] {
		removes = append(removes, removeOp(id))
	}
	for _, tc := range []struct {
		name        string
		start       []string
		body        any
		want        int
		scimType    string
		wantName    string
		wantMembers []string
	}{
		{"add", nil, patchBody(addOp(users[0], users[1])), 200, "", "G", users[:2]},
		{"add a member already there", users[:1], patchBody(addOp(users[0], users[1])), 200, "", "G", users[:2]},
		{"add an unknown user", users[:1], patchBody(addOp("ghost")), 400, "invalidValue", "G", users[:1]},
		{"remove", users[:2], patchBody(removeOp(users[0])), 200, "", "G", users[1:2]},
		{"remove a non-member", users[:1], patchBody(removeOp(users[5])), 200, "", "G", users[:1]},
		{"remove with a bare path", users[:1], patchBody(map[string]any{"op": "remove", "path": "members"}), 400, "invalidPath", "G", users[:1]},
		{"rename", nil, patchBody(map[string]any{"op": "Replace", "path": "displayName", "value": "H"}), 200, "", "H", nil},
		{"rename too long", nil, patchBody(map[string]any{"op": "replace", "path": "displayName", "value": strings.Repeat("x", 65)}), 400, "invalidValue", "G", nil},
		{"rename onto a taken name", nil, patchBody(map[string]any{"op": "replace", "path": "displayName", "value": "TAKEN"}), 409, "", "G", nil},
		{"rename and add in one", nil, patchBody(map[string]any{"op": "replace", "path": "displayName", "value": "I"}, addOp(users[3])), 200, "", "I", users[3:4]},
		{"one failing op leaves all untouched", nil, patchBody(addOp(users[0]), addOp("ghost")), 400, "invalidValue", "G", nil},
		{"100 members in one add", nil, patchBody(addOp(users[:100]...)), 200, "", "G", users[:100]},
		{"101 members in one add", nil, patchBody(addOp(users[:101]...)), 400, "invalidValue", "G", nil},
		{"rename and 100 members", nil, patchBody(map[string]any{"op": "replace", "path": "displayName", "value": "H"}, addOp(users[:100]...)), 400, "invalidValue", "G", nil},
		{"101 removes", users, patchBody(removes...), 400, "invalidValue", "G", users},
		{"no PatchOp schema", nil, map[string]any{"Operations": []any{addOp(users[0])}}, 400, "invalidSyntax", "G", nil},
		{"no operations", nil, patchBody(), 400, "invalidSyntax", "G", nil},
		{"unknown path", nil, patchBody(map[string]any{"op": "add", "path": "owner", "value": "x"}), 400, "invalidPath", "G", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := srv.AddGroup(Group{DisplayName: "G", Members: tc.start})
			r := c.do("PATCH", "/groups/"+g.ID, tc.body)
			switch {
			case tc.want == http.StatusConflict:
				r.wantOmniError(t, tc.want, "conflict")
			case tc.scimType != "":
				r.wantSCIMError(t, tc.want, tc.scimType)
			case r.status != tc.want:
				t.Fatalf("status %d, want %d (%s)", r.status, tc.want, r.body)
			}
			got, _ := srv.Group(g.ID)
			if got.DisplayName != tc.wantName || len(got.Members) != len(tc.wantMembers) || (len(tc.wantMembers) > 0 && !slices.Equal(got.Members, tc.wantMembers)) {
				t.Errorf("stored %s %v, want %s %v", got.DisplayName, got.Members, tc.wantName, tc.wantMembers)
			}
		})
	}
	c.do("PATCH", "/Groups/nope1234", patchBody(addOp(users[0]))).wantOmniError(t, http.StatusNotFound, "not_found")
}

func TestGroupDelete(t *testing.T) {
	srv, base := Start(t, Options{})
	c := newClient(t, base)
	g := srv.AddGroup(Group{DisplayName: "Eng"})
	keep := srv.AddGroup(Group{DisplayName: "Ops"})
	if r := c.do("DELETE", "/Groups/"+g.ID, nil); r.status != http.StatusNoContent {
		t.Fatalf("delete: %d %s", r.status, r.body)
	}
	c.do("DELETE", "/groups/"+g.ID, nil).wantOmniError(t, http.StatusNotFound, "not_found")
	c.do("GET", "/groups/"+g.ID, nil).wantOmniError(t, http.StatusNotFound, "not_found")
	if all := srv.Groups(); len(all) != 1 || all[0].ID != keep.ID {
		t.Errorf("groups %+v, want only Ops", all)
	}
}

func TestUserDeletionLeavesGroups(t *testing.T) {
	srv, base := Start(t, Options{})
	c := newClient(t, base)
	ann := srv.AddUser(User{UserName: "ann@example.com", DisplayName: "Ann", Active: true})
	bob := srv.AddUser(User{UserName: "bob@example.com", DisplayName: "Bob", Active: true})
	g1 := srv.AddGroup(Group{DisplayName: "Eng", Members: []string{ann.ID, bob.ID}})
	g2 := srv.AddGroup(Group{DisplayName: "Ops", Members: []string{ann.ID}})
	if r := c.do("DELETE", "/users/"+ann.ID, nil); r.status != http.StatusNoContent {
		t.Fatalf("delete user: %d", r.status)
	}
	for id, want := range map[string][]string{g1.ID: {bob.ID}, g2.ID: {}} {
		got, _ := srv.Group(id)
		if len(got.Members) != len(want) || (len(want) > 0 && !slices.Equal(got.Members, want)) {
			t.Errorf("group %s members %v, want %v", got.DisplayName, got.Members, want)
		}
	}
	// A deactivated user stays a member: only deletion takes it out.
	c.do("PATCH", "/users/"+bob.ID, patchBody(map[string]any{"op": "replace", "path": "active", "value": false}))
	if got, _ := srv.Group(g1.ID); len(got.Members) != 1 {
		t.Errorf("deactivation changed membership: %v", got.Members)
	}
}

func TestGroupRequestsShareTheChecks(t *testing.T) {
	clock := newFakeClock()
	srv, base := Start(t, Options{RequestsPerMinute: 2, RetryAfter: true, Now: clock.Now})
	c := newClient(t, base)
	anon := newClient(t, base)
	anon.token = ""
	anon.do("GET", "/groups", nil).wantOmniError(t, http.StatusUnauthorized, "unauthorized")
	if r := c.do("GET", "/users", nil); r.status != http.StatusOK {
		t.Fatalf("users: %d", r.status)
	}
	if r := c.do("POST", "/Groups", map[string]any{"displayName": "Eng"}); r.status != http.StatusCreated {
		t.Fatalf("create: %d", r.status)
	}
	r := c.do("GET", "/groups", nil)
	r.wantOmniError(t, http.StatusTooManyRequests, "rate_limited")
	if r.header.Get("Retry-After") == "" {
		t.Error("429 without Retry-After")
	}
	st := srv.Stats()
	if st.ByMethodStatus["POST 201"] != 1 || st.ByMethodStatus["GET 429"] != 1 || st.TooMany != 1 || st.Applied != 1 {
		t.Errorf("stats %+v", st)
	}

	// Faults apply to groups as to users.
	clock.Advance(2 * 60e9)
	srv.SetFaults(Faults{Methods: []string{"POST"}, ErrorRate: 1})
	r = c.do("POST", "/groups", map[string]any{"displayName": "Ops"})
	if r.status != http.StatusInternalServerError && r.status != http.StatusServiceUnavailable {
		t.Fatalf("faulted create: %d", r.status)
	}
	if len(srv.Groups()) != 1 || srv.Stats().Faults != 1 {
		t.Errorf("a faulted create applied, or was not counted: %+v", srv.Stats())
	}
}

func TestAdminGroups(t *testing.T) {
	srv := New(Options{})
	srv.AddGroup(Group{DisplayName: "Eng"})
	rec := httptest.NewRecorder()
	srv.AdminHandler().ServeHTTP(rec, httptest.NewRequest("GET", AdminPrefix+"groups", nil))
	var got []Group
	if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil || len(got) != 1 || got[0].DisplayName != "Eng" {
		t.Fatalf("admin groups: %s %v", rec.Body, err)
	}
}
