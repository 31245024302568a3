package sink

import (
	"errors"
	"fmt"
	"testing"
)

// An answer is matched by its meaning through any wrapping, and only by
// its own.
func TestErrorMeanings(t *testing.T) {
	for _, tt := range []struct {
		status int
		want   error
	}{{409, ErrExists}, {404, ErrNotFound}, {400, ErrInvalid}, {401, ErrUnauthorized}, {403, ErrUnauthorized}} {
		err := fmt.Errorf("create user x: %w", &Error{Method: "POST", Path: "users", Status: tt.status})
		for _, other := range []error{ErrExists, ErrNotFound, ErrInvalid, ErrUnauthorized} {
			if got := errors.Is(err, other); got != (other == tt.want) {
				t.Errorf("status %d: errors.Is(%v) = %t", tt.status, other, got)
			}
		}
	}
}
