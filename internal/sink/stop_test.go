package sink

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/syncd-dev/syncd/internal/identity"
)

// Told to stop while an attempt is in flight, an operation lets that
// attempt finish, makes no other, and says its outcome is unknown.
func TestStopMakesNoNewAttempt(t *testing.T) {
	stop := make(chan struct{})
	var requests atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if requests.Add(1) == 1 {
			close(stop) // the signal lands while this request is in flight
		}
		w.Header().Set("Retry-After", "60")
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	defer srv.Close()
	c, _ := newTestClient(t, srv.URL, func(cfg *Config) { cfg.MaxAttempts = 6 })
	ctx := WithStop(context.WithoutCancel(context.Background()), stop)
	_, err := c.Create(ctx, identity.User{UserName: "a@corp.example", DisplayName: "A"})
	if !errors.Is(err, ErrStopped) || !errors.Is(err, ErrOutcomeUnknown) {
		t.Fatalf("create stopped mid-flight: %v, want ErrStopped and ErrOutcomeUnknown", err)
	}
	if n := requests.Load(); n != 1 {
		t.Errorf("%d requests, want only the one in flight", n)
	}
	// A new operation after the stop sends nothing.
	if err := c.SetActive(ctx, "u1", false); !errors.Is(err, ErrStopped) || requests.Load() != 1 {
		t.Errorf("after the stop: %v, %d requests", err, requests.Load())
	}
}
