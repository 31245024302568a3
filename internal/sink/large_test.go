package sink

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"
)

// huge answers a 2xx whose body (a user padded to 2 MiB) is past maxBody.
func huge(status int, id string) http.HandlerFunc {
	body := `{"id":"` + id + `","userName":"alice@example.com","pad":"` + strings.Repeat("x", 2<<20) + `"}`
	return raw(status, "application/scim+json", body)
}

func TestCreateWithAnswerTooLargeIsSettledByLookup(t *testing.T) {
	// The POST creates the user, then answers with a body too large to
	// read: the user exists, so the create must find it, not fail (the next
	// run would adopt a user syncd created) and not POST again.
	checkCreateSettledByLookup(t, huge(201, "u1"))
}

// checkCreateSettledByLookup runs a create whose POST (which landed) gets
// answer: it must return the user a lookup finds, without a second POST.
func checkCreateSettledByLookup(t *testing.T, answer http.HandlerFunc) {
	t.Helper()
	srv := newScript(t, answer, reply(200, listJSON(1, userJSON("u1", "alice@example.com"))))
	c, _ := newTestClient(t, srv.URL, nil)
	u, err := c.Create(context.Background(), alice)
	if err != nil || u.ID != "u1" {
		t.Fatalf("create: got %+v, %v; want the user found by lookup", u, err)
	}
	if got, want := srv.Methods(), []string{"POST", "GET"}; !slices.Equal(got, want) {
		t.Errorf("requests %v, want %v", got, want)
	}
}

func TestWriteWithAnswerTooLargeIsUnknown(t *testing.T) {
	srv := newScript(t, huge(200, "u1"), huge(200, "u1"))
	c, _ := newTestClient(t, srv.URL, func(c *Config) { c.MaxAttempts = 2 })
	err := c.Patch(context.Background(), "u1", []Change{{Field: "displayName", Value: "Alice L."}})
	if !errors.Is(err, ErrOutcomeUnknown) || !strings.Contains(err.Error(), "answer exceeds") {
		t.Fatalf("got %v, want ErrOutcomeUnknown for an answer too large", err)
	}
}

func TestReadWithAnswerTooLargeIsNotRetried(t *testing.T) {
	srv := newScript(t, huge(200, "u1"))
	c, _ := newTestClient(t, srv.URL, nil)
	if _, err := c.Get(context.Background(), "u1"); err == nil || !strings.Contains(err.Error(), "answer exceeds") {
		t.Fatalf("got %v, want an answer too large", err)
	}
}
