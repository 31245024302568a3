package sink

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/syncd-dev/syncd/internal/testsupport/omnitest"
)

// startGroups starts the stand-in and a client using the given groups path,
// with n users seeded, and returns their ids.
func startGroups(t *testing.T, opts omnitest.Options, groupsPath string, n int) (*omnitest.Server, *Client, []string) {
	t.Helper()
	srv, c, _ := startOmni(t, opts, "users", func(c *Config) { c.GroupsPath = groupsPath })
	ids := make([]string, n)
	for i := range ids {
		ids[i] = srv.AddUser(omnitest.User{UserName: fmt.Sprintf("u%d@example.com", i), DisplayName: "U", Active: true}).ID
	}
	return srv, c, ids
}

func TestGroupLifecycle(t *testing.T) {
	for _, path := range []string{"groups", "Groups"} {
		t.Run(path, func(t *testing.T) {
			srv, c, users := startGroups(t, omnitest.Options{}, path, 3)
			ctx := context.Background()

			g, err := c.CreateGroup(ctx, "Engineering", users[:2])
			if err != nil {
				t.Fatalf("create: %v", err)
			}
			if g.ID == "" || g.DisplayName != "Engineering" || !slices.Equal(g.Members, users[:2]) {
				t.Fatalf("created %+v", g)
			}
			if _, err := c.CreateGroup(ctx, "engineering", nil); !errors.Is(err, ErrExists) {
				t.Errorf("duplicate name: got %v, want ErrExists", err)
			}

			p := GroupPatch{Rename: "Platform", Add: []string{users[2]}, Remove: []string{users[0]}}
			if err := c.PatchGroup(ctx, g.ID, p); err != nil {
				t.Fatalf("patch: %v", err)
			}
			got, err := c.GetGroup(ctx, g.ID)
			if err != nil || got.DisplayName != "Platform" || !slices.Equal(got.Members, []string{users[1], users[2]}) {
				t.Fatalf("after patch: %+v %v", got, err)
			}
			if st := srv.Stats(); st.ByMethodStatus["PATCH 200"] != 1 {
				t.Errorf("rename, add and remove took %d PATCHes, want 1", st.ByMethodStatus["PATCH 200"])
			}

			var listed []Group
			if err := c.ListGroups(ctx, func(g Group) error { listed = append(listed, g); return nil }); err != nil || len(listed) != 1 || listed[0].ID != g.ID {
				t.Fatalf("list: %+v %v", listed, err)
			}

			if err := c.DeleteGroup(ctx, g.ID); err != nil {
				t.Fatalf("delete: %v", err)
			}
			if err := c.DeleteGroup(ctx, g.ID); !errors.Is(err, ErrNotFound) {
				t.Errorf("second delete: got %v, want ErrNotFound", err)
			}
			if _, err := c.GetGroup(ctx, g.ID); !errors.Is(err, ErrNotFound) {
				t.Errorf("get deleted: got %v, want ErrNotFound", err)
			}
			if len(srv.Users()) != 3 {
				t.Error("deleting a group touched its users")
			}
		})
	}
}

func TestPatchGroupChunks(t *testing.T) {
	for _, tc := range []struct {
		name          string
		rename        string
		adds, removes int
		wantPatches   int
	}{
		{"250 adds", "", 250, 0, 3},
		{"100 adds", "", 100, 0, 1},
		{"rename and 100 adds", "Renamed", 100, 0, 2},
		{"rename, 150 adds and 60 removes", "Renamed", 150, 60, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, c, users := startGroups(t, omnitest.Options{}, "groups", tc.adds+tc.removes)
			g := srv.AddGroup(omnitest.Group{DisplayName: "Big", Members: users[tc.adds:]})
			p := GroupPatch{Rename: tc.rename, Add: users[:tc.adds], Remove: users[tc.adds:]}
			if err := c.PatchGroup(context.Background(), g.ID, p); err != nil {
				t.Fatalf("patch: %v", err)
			}
			// The stand-in answers 400 to a PATCH past 100 operations, so
			// only 200s means every request kept to the limit.
			st := srv.Stats()
			if st.ByMethodStatus["PATCH 200"] != tc.wantPatches || st.Total != tc.wantPatches {
				t.Errorf("requests %v, want exactly %d PATCH 200", st.ByMethodStatus, tc.wantPatches)
			}
			got, _ := srv.Group(g.ID)
			wantName := cmp(tc.rename, "Big")
			if got.DisplayName != wantName || !slices.Equal(got.Members, users[:tc.adds]) {
				t.Errorf("group %s with %d members, want %s with %d", got.DisplayName, len(got.Members), wantName, tc.adds)
			}
		})
	}
}

func cmp(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// TestEncodeGroupPatch checks the bodies themselves: at most 100
// operations each, counting every member and the rename, the rename first.
func TestEncodeGroupPatch(t *testing.T) {
	var add, remove []string
	for i := range 250 {
		add = append(add, fmt.Sprint("a", i))
	}
	for i := range 30 {
		remove = append(remove, fmt.Sprint("r", i))
	}
	bodies, err := encodeGroupPatch(GroupPatch{Rename: "New", Add: append(add, add[0]), Remove: remove})
	if err != nil {
		t.Fatal(err)
	}
	var sizes []int
	for i, b := range bodies {
		var pb struct {
			Schemas    []string
			Operations []struct {
				Op, Path string
				Value    json.RawMessage
			}
		}
		if err := json.Unmarshal(b, &pb); err != nil {
			t.Fatal(err)
		}
		units := 0
		for j, op := range pb.Operations {
			switch {
			case op.Op == "replace" && op.Path == "displayName":
				if i != 0 || j != 0 {
					t.Errorf("rename at body %d op %d, want first", i, j)
				}
				units++
			case op.Op == "add" && op.Path == "members":
				var refs []map[string]string
				_ = json.Unmarshal(op.Value, &refs)
				units += len(refs)
			case op.Op == "remove" && strings.HasPrefix(op.Path, `members[value eq "r`):
				units++
			default:
				t.Errorf("unexpected op %+v", op)
			}
		}
		sizes = append(sizes, units)
	}
	if !slices.Equal(sizes, []int{100, 100, 81}) {
		t.Errorf("operations per body %v, want [100 100 81] (the repeated add counted once)", sizes)
	}

	if b, err := encodeGroupPatch(GroupPatch{}); err != nil || len(b) != 0 {
		t.Errorf("empty patch: %d bodies, %v", len(b), err)
	}
	for _, p := range []GroupPatch{
		{Rename: strings.Repeat("x", 65)},
		{Add: []string{""}},
		{Add: []string{"a"}, Remove: []string{"a"}},
	} {
		if _, err := encodeGroupPatch(p); err == nil {
			t.Errorf("%+v: want an error", p)
		}
	}
}

func TestPatchGroupEmptySendsNothing(t *testing.T) {
	srv, c, _ := startGroups(t, omnitest.Options{}, "groups", 0)
	if err := c.PatchGroup(context.Background(), "mEhXj6ZI", GroupPatch{}); err != nil {
		t.Fatal(err)
	}
	if st := srv.Stats(); st.Total != 0 {
		t.Errorf("an empty patch sent %d requests", st.Total)
	}
}

func TestListGroupsPaging(t *testing.T) {
	srv, c, _ := startGroups(t, omnitest.Options{}, "Groups", 0)
	var want []string
	for i := range 250 {
		want = append(want, srv.AddGroup(omnitest.Group{DisplayName: fmt.Sprint("g", i)}).ID)
	}
	var got []string
	if err := c.ListGroups(context.Background(), func(g Group) error { got = append(got, g.ID); return nil }); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, want) {
		t.Errorf("listed %d groups, want all 250 in creation order", len(got))
	}
	if st := srv.Stats(); st.ByMethodStatus["GET 200"] != 3 {
		t.Errorf("requests %v, want 3 pages", st.ByMethodStatus)
	}
	stop := errors.New("stop")
	if err := c.ListGroups(context.Background(), func(Group) error { return stop }); err != stop {
		t.Errorf("fn's error came back as %v", err)
	}
}

// A create whose answer is lost is settled by listing the groups, and the
// group it made is returned without a second POST.
func TestCreateGroupLostReplySettledByListing(t *testing.T) {
	srv, c, users := startGroups(t, omnitest.Options{}, "groups", 1)
	srv.AddGroup(omnitest.Group{DisplayName: "Other"})
	srv.SetFaults(omnitest.Faults{Methods: []string{http.MethodPost}, LostReplyRate: 1})
	g, err := c.CreateGroup(context.Background(), "Eng", users)
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	all := srv.Groups()
	if len(all) != 2 || g.ID != all[1].ID || g.DisplayName != "Eng" || !slices.Equal(g.Members, users) {
		t.Fatalf("got %+v, stored %+v", g, all)
	}
	st := srv.Stats()
	if st.ByMethodStatus["POST lost"] != 1 || st.ByMethodStatus["GET 200"] != 1 || st.Total != 2 {
		t.Errorf("requests %v, want one lost POST and one listing", st.ByMethodStatus)
	}
}

// A create that surely did not land (the listing finds no such group) is
// sent again.
func TestCreateGroupResentWhenListingFindsNothing(t *testing.T) {
	s := newScript(t,
		drop,
		reply(http.StatusOK, listJSON(1, map[string]any{"id": "aaaaaaaa", "displayName": "Other"})),
		reply(http.StatusCreated, map[string]any{"id": "bbbbbbbb", "displayName": "Eng", "members": []any{}}),
	)
	c, _ := newTestClient(t, s.URL, nil)
	g, err := c.CreateGroup(context.Background(), "Eng", nil)
	if err != nil || g.ID != "bbbbbbbb" {
		t.Fatalf("create: %+v %v", g, err)
	}
	if m := s.Methods(); !slices.Equal(m, []string{"POST", "GET", "POST"}) {
		t.Errorf("requests %v", m)
	}
}

func TestCreateGroupDuplicateName(t *testing.T) {
	for _, allow := range []bool{false, true} {
		t.Run(fmt.Sprint("allow=", allow), func(t *testing.T) {
			srv, c, _ := startGroups(t, omnitest.Options{AllowDuplicateGroupNames: allow}, "groups", 0)
			srv.AddGroup(omnitest.Group{DisplayName: "Eng"})
			_, err := c.CreateGroup(context.Background(), "ENG", nil)
			switch {
			case allow && err != nil:
				t.Errorf("got %v, want the duplicate made", err)
			case !allow && (!errors.Is(err, ErrExists) || !IsStatus(err, http.StatusConflict)):
				t.Errorf("got %v, want a 409 matching ErrExists", err)
			}
			if st := srv.Stats(); st.ByMethodStatus["POST 409"]+st.ByMethodStatus["POST 201"] != 1 || st.Total != 1 {
				t.Errorf("requests %v, want one POST", st.ByMethodStatus)
			}
		})
	}
}

func TestCreateGroupRefusedLocally(t *testing.T) {
	srv, c, _ := startGroups(t, omnitest.Options{}, "groups", 0)
	for _, name := range []string{"", " ", strings.Repeat("é", 65)} {
		if _, err := c.CreateGroup(context.Background(), name, nil); !errors.Is(err, ErrInvalid) {
			t.Errorf("%q: got %v, want ErrInvalid", name, err)
		}
	}
	if _, err := c.CreateGroup(context.Background(), strings.Repeat("é", 64), nil); err != nil {
		t.Errorf("64 characters: %v", err)
	}
	if _, err := c.CreateGroup(context.Background(), "x", []string{"no-such-user"}); !errors.Is(err, ErrInvalid) {
		t.Errorf("unknown member: got %v, want Omni's 400", err)
	}
	if st := srv.Stats(); st.Total != 2 {
		t.Errorf("sent %d requests, want 2: bad names are refused unsent", st.Total)
	}
}

func TestDecodeGroup(t *testing.T) {
	for _, tc := range []struct {
		name    string
		body    string
		want    Group
		wantErr bool
	}{
		{"full", `{"id":"mEhXj6ZI","displayName":"Eng","members":[{"value":"u1","display":"a@x"},{"value":"u2"}]}`,
			Group{ID: "mEhXj6ZI", DisplayName: "Eng", Members: []string{"u1", "u2"}}, false},
		{"names ignore case", `{"ID":"a","DISPLAYNAME":"Eng","Members":[{"Value":"u1"}]}`, Group{ID: "a", DisplayName: "Eng", Members: []string{"u1"}}, false},
		{"cleaned name", `{"id":"a","displayName":"E\u0000ng"}`, Group{ID: "a", DisplayName: "Eng"}, false},
		{"member without value skipped", `{"id":"a","members":[{},{"value":null}]}`, Group{ID: "a"}, false},
		{"no id", `{"displayName":"Eng"}`, Group{}, true},
		{"control character in id", `{"id":"a\u0001"}`, Group{}, true},
		{"bad member id", `{"id":"a","members":[{"value":"u\u0000"}]}`, Group{}, true},
		{"members not a list", `{"id":"a","members":{}}`, Group{}, true},
		{"not an object", `[]`, Group{}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := decodeGroupResponse(&response{header: http.Header{}, body: []byte(tc.body)})
			if tc.wantErr {
				if err == nil || !strings.Contains(err.Error(), "group") {
					t.Fatalf("got %+v %v, want an error about the group", got, err)
				}
				return
			}
			if err != nil || got.ID != tc.want.ID || got.DisplayName != tc.want.DisplayName || !slices.Equal(got.Members, tc.want.Members) {
				t.Errorf("got %+v %v, want %+v", got, err, tc.want)
			}
		})
	}
}

func TestGroupsPathConfig(t *testing.T) {
	for _, tc := range []struct {
		path string
		ok   bool
	}{{"", true}, {"groups", true}, {"Groups", true}, {"GROUPS", false}, {"users", false}} {
		_, err := New(Config{BaseURL: "https://acme.omniapp.co/api/scim/v2", Token: "k", GroupsPath: tc.path})
		if (err == nil) != tc.ok {
			t.Errorf("GroupsPath %q: err %v", tc.path, err)
		}
	}
}

// A chunk that fails stops the rest, and the error says how far it got.
func TestPatchGroupStopsAtAFailedChunk(t *testing.T) {
	srv, c, users := startGroups(t, omnitest.Options{}, "groups", 150)
	g := srv.AddGroup(omnitest.Group{DisplayName: "Eng"})
	// The second chunk names a user Omni does not have: a 400, not retried.
	add := append(append([]string(nil), users[:100]...), "ghost")
	err := c.PatchGroup(context.Background(), g.ID, GroupPatch{Add: append(add, users[100:]...)})
	if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "request 2 of 2 failed, 1 applied") {
		t.Fatalf("got %v", err)
	}
	if got, _ := srv.Group(g.ID); len(got.Members) != 100 {
		t.Errorf("%d members, want the first chunk's 100", len(got.Members))
	}
}
