package sink_test

import (
	"context"
	"testing"
	"time"

	"github.com/syncd-dev/syncd/internal/sink"
	"github.com/syncd-dev/syncd/internal/testsupport/omnitest"
	"github.com/syncd-dev/syncd/internal/testsupport/scimcontract"
)

// The client, talking to the stand-in, keeps the contract the syncer relies
// on, under both casings of the users path. This is an external test
// because the contract package imports sink.
func TestClientKeepsTheContract(t *testing.T) {
	for _, path := range []string{"users", "Users"} {
		t.Run(path, func(t *testing.T) {
			scimcontract.Run(t, func(t *testing.T) scimcontract.Omni {
				_, base := omnitest.Start(t, omnitest.Options{})
				c, err := sink.New(sink.Config{
					BaseURL: base, Token: omnitest.DefaultToken, UsersPath: path,
					// No waits: the stand-in answers at once and injects
					// no faults here.
					RequestsPerMinute: -1,
					Sleep:             func(context.Context, time.Duration) error { return nil },
				})
				if err != nil {
					t.Fatal(err)
				}
				return c
			})
		})
	}
}
