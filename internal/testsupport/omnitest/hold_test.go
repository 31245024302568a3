package omnitest

import (
	"context"
	"errors"
	"testing"
)

// A held request waits, unapplied and uncounted, until released; then it is
// applied and answered as usual, and the next request passes unheld.
func TestHoldKeepsOneRequestInFlightUntilReleased(t *testing.T) {
	srv, base := Start(t, Options{})
	c := newClient(t, base)
	c.create("first@example.com", "First") // a GET or an earlier POST is not held

	h := srv.Hold("post")
	got := make(chan response, 1)
	go func() { got <- c.do("POST", "/users", createBody("held@example.com")) }()
	<-h.Arrived()
	if h.Path() != "/api/scim/v2/users" {
		t.Errorf("held path %q", h.Path())
	}
	if _, found := findUser(srv, "held@example.com"); found {
		t.Error("the held create was applied before its release")
	}
	if st := srv.Stats(); st.Total != 1 {
		t.Errorf("%d requests counted while one is held, want 1 (the one before): %v", st.Total, st.ByMethodStatus)
	}
	select {
	case r := <-got:
		t.Fatalf("the held request was answered before its release: %d", r.status)
	default:
	}
	h.Release()
	if r := <-got; r.status != 201 {
		t.Fatalf("released create answered %d: %s", r.status, r.body)
	}
	if _, found := findUser(srv, "held@example.com"); !found {
		t.Error("the released create was not applied")
	}
	c.create("after@example.com", "After") // no hold left: answered at once
	if st := srv.Stats(); st.ByMethodStatus["POST 201"] != 3 {
		t.Errorf("stats %v, want 3 creates answered", st.ByMethodStatus)
	}
}

// A client that gives up on a held request leaves it unapplied and counted
// as canceled.
func TestHoldOfAnAbandonedRequestAppliesNothing(t *testing.T) {
	srv, base := Start(t, Options{})
	c := newClient(t, base)
	h := srv.Hold("POST")
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		_, err := c.try(ctx, "POST", "/users", createBody("gone@example.com"))
		errc <- err
	}()
	<-h.Arrived()
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("client error %v, want context.Canceled", err)
	}
	<-h.Left()
	if st := srv.Stats(); st.ByMethodStatus["POST canceled"] != 1 {
		t.Errorf("stats %v, want the abandoned create counted as canceled", st.ByMethodStatus)
	}
	if _, found := findUser(srv, "gone@example.com"); found {
		t.Error("the abandoned create was applied")
	}
}
