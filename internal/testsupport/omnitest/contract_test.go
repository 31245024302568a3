package omnitest_test

import (
	"testing"

	"github.com/syncd-dev/syncd/internal/testsupport/omnitest"
	"github.com/syncd-dev/syncd/internal/testsupport/scimcontract"
)

// The stand-in keeps the contract when spoken to over plain HTTP, not
// through syncd's client: the oracle is held to Omni's documented behaviour
// on its own, so that a client bug the stand-in shares cannot hide.
func TestStandinKeepsTheContract(t *testing.T) {
	scimcontract.Run(t, func(t *testing.T) scimcontract.Omni {
		_, base := omnitest.Start(t, omnitest.Options{})
		return &scimcontract.HTTP{Base: base, Token: omnitest.DefaultToken}
	})
}
