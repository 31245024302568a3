package omnitest

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestStats(t *testing.T) {
	srv, base := Start(t, Options{})
	c := newClient(t, base)
	u := c.create("ann@example.com", "Ann")
	c.do("POST", "/users", createBody("ann@example.com"))
	c.do("GET", "/users", nil)
	c.do("PATCH", "/users/"+u.ID, patchBody(op("replace", "active", false)))
	c.do("DELETE", "/users/"+u.ID, nil)
	c.do("DELETE", "/users/"+u.ID, nil)
	anon := newClient(t, base)
	anon.token = ""
	anon.do("POST", "/users", createBody("x@example.com"))

	want := Stats{
		Total: 7,
		ByMethodStatus: map[string]int{
			"POST 201": 1, "POST 409": 1, "GET 200": 1, "PATCH 200": 1, "DELETE 204": 1, "DELETE 404": 1, "POST 401": 1,
		},
		Writes:  6,
		Applied: 3,
	}
	if got := srv.Stats(); !reflect.DeepEqual(got, want) {
		t.Fatalf("stats\n%+v\nwant\n%+v", got, want)
	}
	// A snapshot does not change under the caller.
	snap := srv.Stats()
	c.do("GET", "/users", nil)
	if snap.ByMethodStatus["GET 200"] != 1 {
		t.Fatal("Stats returned a live map")
	}
	srv.ResetStats()
	if got := srv.Stats(); got.Total != 0 || len(got.ByMethodStatus) != 0 || got.Writes != 0 {
		t.Fatalf("after ResetStats: %+v", got)
	}
}

func TestBodyLimit(t *testing.T) {
	srv, base := Start(t, Options{})
	c := newClient(t, base)
	big := `{"userName":"big@example.com","displayName":"` + strings.Repeat("x", MaxBodyBytes) + `"}`
	c.do("POST", "/users", big).wantOmniError(t, http.StatusRequestEntityTooLarge, "payload_too_large")
	if len(srv.Users()) != 0 {
		t.Fatal("an oversized body was applied")
	}
	// Just under the limit is fine.
	fits := `{"userName":"fits@example.com","displayName":"` + strings.Repeat("x", MaxBodyBytes-100) + `"}`
	if r := c.do("POST", "/users", fits); r.status != http.StatusCreated {
		t.Fatalf("body under the limit: status %d", r.status)
	}
}

func TestSeededUsers(t *testing.T) {
	clock := newFakeClock()
	srv, base := Start(t, Options{Now: clock.Now})
	c := newClient(t, base)
	given := time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC)
	a := srv.AddUser(User{ID: "admin-id", UserName: "Admin@Example.com", DisplayName: "Admin", Active: true, Created: given})
	b := srv.AddUser(User{UserName: "b@example.com", DisplayName: "B", Attributes: map[string]any{"x": "y"}})
	if a.ID != "admin-id" || !a.Created.Equal(given) || !a.Modified.Equal(given) {
		t.Fatalf("AddUser kept %+v", a)
	}
	if len(b.ID) != 36 || !b.Created.Equal(clock.Now()) || b.Active {
		t.Fatalf("AddUser assigned %+v", b)
	}
	b.Attributes["x"] = "changed"
	if got, _ := srv.User(b.ID); got.Attributes["x"] != "y" {
		t.Fatal("AddUser returned the stored map")
	}
	r := c.do("GET", "/users/admin-id", nil)
	if res := r.resource(t); res.Meta.Created != "2020-01-02T03:04:05.000Z" || res.UserName != "Admin@Example.com" {
		t.Fatalf("seeded user as served: %s", r.body)
	}
	if l := c.do("GET", `/users?filter=userName+eq+%22admin@example.com%22`, nil).list(t); l.TotalResults != 1 {
		t.Fatalf("seeded user not found by filter: %+v", l)
	}
	defer func() {
		if recover() == nil {
			t.Fatal("AddUser accepted a duplicate id")
		}
	}()
	srv.AddUser(User{ID: "admin-id", UserName: "other@example.com"})
}

func TestAdminHandler(t *testing.T) {
	srv := New(Options{})
	hs := httptest.NewServer(srv.AdminHandler())
	t.Cleanup(hs.Close)
	call := func(t *testing.T, method, path, body string) (int, []byte) {
		t.Helper()
		req, err := http.NewRequest(method, hs.URL+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp, err := hs.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode, b
	}

	t.Run("seed and list users", func(t *testing.T) {
		code, body := call(t, "POST", "/_standin/users", `{"userName":"admin@example.com","displayName":"Admin","active":true,"attributes":{"level":3,"tags":["a",1]}}`)
		if code != http.StatusCreated {
			t.Fatalf("seed: %d %s", code, body)
		}
		var seeded User
		if err := json.Unmarshal(body, &seeded); err != nil || seeded.ID == "" {
			t.Fatalf("seed answer %s: %v", body, err)
		}
		stored, _ := srv.User(seeded.ID)
		if stored.Attributes["level"] != int64(3) || !reflect.DeepEqual(stored.Attributes["tags"], []any{"a", int64(1)}) {
			t.Fatalf("seeded attributes %#v, want integers kept as int64", stored.Attributes)
		}
		code, body = call(t, "GET", "/_standin/users", "")
		var users []User
		if err := json.Unmarshal(body, &users); err != nil || code != 200 || len(users) != 1 || users[0].UserName != "admin@example.com" {
			t.Fatalf("list: %d %s (%v)", code, body, err)
		}
		if code, _ := call(t, "POST", "/_standin/users", `{"id":"`+seeded.ID+`","userName":"x@example.com"}`); code != http.StatusConflict {
			t.Fatalf("seed with a taken id: %d, want 409", code)
		}
		for _, bad := range []string{`{`, `{"unknown":1}`, `{"attributes":{"a":{"b":1}}}`, `{"attributes":{"a":1.5}}`} {
			if code, _ := call(t, "POST", "/_standin/users", bad); code != http.StatusBadRequest {
				t.Errorf("seed %s: %d, want 400", bad, code)
			}
		}
	})

	t.Run("stats and reset", func(t *testing.T) {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest("GET", "/api/scim/v2/users", nil)
		req.Header.Set("Authorization", "Bearer "+DefaultToken)
		srv.ServeHTTP(rec, req)
		code, body := call(t, "GET", "/_standin/stats", "")
		var st Stats
		if err := json.Unmarshal(body, &st); err != nil || code != 200 || st.Total != 1 || st.ByMethodStatus["GET 200"] != 1 {
			t.Fatalf("stats: %d %s (%v)", code, body, err)
		}
		if code, _ := call(t, "POST", "/_standin/reset-stats", ""); code != http.StatusNoContent {
			t.Fatalf("reset: %d", code)
		}
		if st := srv.Stats(); st.Total != 0 {
			t.Fatalf("stats after reset: %+v", st)
		}
	})

	t.Run("faults", func(t *testing.T) {
		if code, body := call(t, "POST", "/_standin/faults", `{"seed":1,"methods":["POST"],"errorRate":1,"latency":"1ms"}`); code != http.StatusNoContent {
			t.Fatalf("set faults: %d %s", code, body)
		}
		srv.mu.Lock()
		f := srv.faults
		srv.mu.Unlock()
		if f.ErrorRate != 1 || f.Latency != time.Millisecond || !reflect.DeepEqual(f.Methods, []string{"POST"}) {
			t.Fatalf("faults = %+v", f)
		}
		if code, _ := call(t, "POST", "/_standin/faults", `{"latency":"soon"}`); code != http.StatusBadRequest {
			t.Fatalf("bad latency: %d, want 400", code)
		}
	})

	t.Run("admin requests are not SCIM requests", func(t *testing.T) {
		srv.ResetStats()
		call(t, "GET", "/_standin/users", "")
		if st := srv.Stats(); st.Total != 0 {
			t.Fatalf("admin request counted: %+v", st)
		}
	})
}
