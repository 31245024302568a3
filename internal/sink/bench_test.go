package sink

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"

	"github.com/syncd-dev/syncd/internal/identity"
	"github.com/syncd-dev/syncd/internal/testsupport/omnitest"
)

func benchUser() identity.User {
	return identity.User{ID: "e1", UserName: "alice@example.com", DisplayName: "Alice Liddell", Active: true,
		Attributes: map[string]string{"department": "Engineering", "costCenter": "4711", "title": "Engineer"}}
}

func BenchmarkEncodeUser(b *testing.B) {
	u := benchUser()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := encodeUser(u); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeUser(b *testing.B) {
	body := []byte(`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User","urn:omni:params:1.0:UserAttribute"],
		"id":"9f1c2d4e-0000-4000-8000-000000000001","userName":"alice@example.com","displayName":"Alice Liddell","active":true,
		"emails":[{"primary":true,"value":"alice@example.com"}],"groups":[],
		"meta":{"resourceType":"User","created":"2026-11-25T12:00:00Z","lastModified":"2026-11-25T12:00:00Z"},
		"urn:omni:params:1.0:UserAttribute":{"department":"Engineering","costCenter":"4711","title":"Engineer"}}`)
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if _, err := decodeUser(body); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeListPage(b *testing.B) {
	users := make([]map[string]any, pageSize)
	for i := range users {
		u := userJSON(fmt.Sprintf("9f1c2d4e-0000-4000-8000-%012d", i), fmt.Sprintf("user%d@example.com", i))
		u[schemaOmniAttr] = map[string]string{"department": "Engineering"}
		users[i] = u
	}
	body, err := json.Marshal(listJSON(10000, users...))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if _, err := decodeList(body); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCreateStandin measures the client's own cost per create over
// loopback HTTP, limiter off: what is left once Omni's 60/min is not the
// bound. The stand-in's work is included.
func BenchmarkCreateStandin(b *testing.B) {
	srv, base := omnitest.Start(b, omnitest.Options{Token: testToken})
	c, err := New(Config{BaseURL: base, Token: testToken, RequestsPerMinute: -1})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(c.hc.CloseIdleConnections)
	u := benchUser()
	ctx := context.Background()
	i := 0
	b.ReportAllocs()
	for b.Loop() {
		u.UserName = fmt.Sprintf("user%d@example.com", i)
		i++
		if _, err := c.Create(ctx, u); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
	if got := len(srv.Users()); got != i {
		b.Fatalf("stand-in holds %d users, want %d", got, i)
	}
}
