package syncer

import (
	"testing"

	"github.com/syncd-dev/syncd/internal/testsupport/scimcontract"
)

// The contract's Omni is the syncer's Sink: each converts to the other, so
// what the contract checks is what the syncer calls.
var (
	_ scimcontract.Omni = Sink(nil)
	_ Sink              = scimcontract.Omni(nil)
)

// The dry-run sink keeps the write contract: every write answers as Omni
// would on success, with the values sent and the id carried through, and it
// claims to know nothing of what Omni holds. It keeps no users, so the
// stateful cases of scimcontract.Run do not apply and are not run.
func TestDryRunSinkKeepsTheWriteContract(t *testing.T) {
	scimcontract.RunWrites(t, func(*testing.T) scimcontract.Omni { return dryRunSink{} })
}
