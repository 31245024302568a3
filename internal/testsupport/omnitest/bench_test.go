package omnitest

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
)

// The benchmarks show the stand-in is not what limits syncd's own
// benchmarks: every request against 100,000 stored users costs microseconds,
// where Omni's budget allows one request a second.

const benchUsers = 100_000

func seeded(b *testing.B, n int) *Server {
	b.Helper()
	srv := New(Options{})
	for i := range n {
		srv.AddUser(User{
			UserName:    fmt.Sprintf("user%06d@example.com", i),
			DisplayName: fmt.Sprintf("User %d", i),
			Active:      true,
			Attributes:  map[string]any{"department": "eng", "costCenter": int64(i % 100)},
		})
	}
	return srv
}

// serve runs one request through the handler, without a network.
func serve(b *testing.B, srv *Server, method, target string, body []byte, want int) {
	b.Helper()
	req := httptest.NewRequest(method, target, bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+DefaultToken)
	rec := httptest.NewRecorder()
	srv.ServeHTTP(rec, req)
	if rec.Code != want {
		b.Fatalf("%s %s: status %d, want %d: %s", method, target, rec.Code, want, rec.Body)
	}
}

func BenchmarkHandler(b *testing.B) {
	srv := seeded(b, benchUsers)
	b.Run("POST", func(b *testing.B) {
		for i := 0; b.Loop(); i++ {
			body := fmt.Appendf(nil, `{"userName":"new%d@example.com","displayName":"New %d","urn:omni:params:1.0:UserAttribute":{"department":"ops"}}`, i, i)
			serve(b, srv, "POST", "/api/scim/v2/users", body, http.StatusCreated)
		}
	})
	b.Run("GET filter", func(b *testing.B) {
		for i := 0; b.Loop(); i++ {
			f := url.QueryEscape(fmt.Sprintf(`userName eq "USER%06d@example.com"`, i%benchUsers))
			serve(b, srv, "GET", "/api/scim/v2/users?filter="+f, nil, http.StatusOK)
		}
	})
	b.Run("GET page of 100", func(b *testing.B) {
		for i := 0; b.Loop(); i++ {
			serve(b, srv, "GET", fmt.Sprintf("/api/scim/v2/users?startIndex=%d&count=100", 1+(i*100)%benchUsers), nil, http.StatusOK)
		}
	})
	u := srv.Users()[benchUsers/2]
	b.Run("PATCH", func(b *testing.B) {
		for i := 0; b.Loop(); i++ {
			body := fmt.Appendf(nil, `{"schemas":["%s"],"Operations":[{"op":"replace","path":"displayName","value":"Name %d"}]}`, PatchOpSchema, i)
			serve(b, srv, "PATCH", "/api/scim/v2/users/"+u.ID, body, http.StatusOK)
		}
	})
}

// BenchmarkFilterScaling shows the userName filter costs the same whatever
// the number of users: it is a map lookup on lower(userName), not a scan.
func BenchmarkFilterScaling(b *testing.B) {
	for _, n := range []int{1_000, benchUsers} {
		srv := seeded(b, n)
		b.Run(fmt.Sprintf("users=%d", n), func(b *testing.B) {
			for i := 0; b.Loop(); i++ {
				f := url.QueryEscape(fmt.Sprintf(`userName eq "user%06d@example.com"`, i%n))
				serve(b, srv, "GET", "/api/scim/v2/users?filter="+f, nil, http.StatusOK)
			}
		})
	}
}

// BenchmarkLoopback measures a create followed by a filter lookup over a real
// local connection, as syncd's benchmarks use the stand-in.
func BenchmarkLoopback(b *testing.B) {
	srv := seeded(b, benchUsers)
	hs := httptest.NewServer(srv)
	b.Cleanup(hs.Close)
	hc := hs.Client()
	do := func(method, target string, body []byte, want int) {
		req, err := http.NewRequest(method, hs.URL+target, bytes.NewReader(body))
		if err != nil {
			b.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+DefaultToken)
		resp, err := hc.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != want {
			b.Fatalf("%s %s: status %d", method, target, resp.StatusCode)
		}
	}
	for i := 0; b.Loop(); i++ {
		name := fmt.Sprintf("loop%d@example.com", i)
		do("POST", "/api/scim/v2/users", fmt.Appendf(nil, `{"userName":%q,"displayName":"L"}`, name), http.StatusCreated)
		do("GET", "/api/scim/v2/users?filter="+url.QueryEscape(`userName eq "`+name+`"`), nil, http.StatusOK)
	}
}
