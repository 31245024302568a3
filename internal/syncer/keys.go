package syncer

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/syncd-dev/syncd/internal/state"
)

// ErrKeyRefused: Omni refused one of several API keys; the run went on with
// the others, and the key needs replacing.
var ErrKeyRefused = errors.New("omni refused an API key")

// KeyRefusal is an API key Omni refused (401/403), named by its position in
// the configuration, never by its value.
type KeyRefusal struct {
	Position int
	Error    string
}

// keyRefused is the SCIM client's OnKeyRefused: it notes the refusal for the
// run in progress to audit and report.
func (s *Syncer) keyRefused(position int, err error) {
	s.refusedMu.Lock()
	s.refused = append(s.refused, KeyRefusal{Position: position, Error: err.Error()})
	s.refusedMu.Unlock()
	s.Log.Error().Int("key", position).Str("error", err.Error()).
		Msg("omni refused this API key; syncd goes on with the other keys until it restarts")
	s.Metrics.observeKeyRefused()
}

func (s *Syncer) takeRefused() []KeyRefusal {
	s.refusedMu.Lock()
	defer s.refusedMu.Unlock()
	out := s.refused
	s.refused = nil
	return out
}

// recordRefusedKeys audits the keys refused during the run and returns the
// problem they make, or nil.
func (r *run) recordRefusedKeys(ctx context.Context) error {
	if r.takeRefused == nil {
		return nil
	}
	refused := r.takeRefused()
	if len(refused) == 0 {
		return nil
	}
	r.rep.KeysRefused = append(r.rep.KeysRefused, refused...)
	names := make([]string, 0, len(refused))
	for _, k := range refused {
		r.audit(ctx, state.AuditEvent{Action: "key_refused", Outcome: state.AuditFailed,
			Detail: fmt.Sprintf("API key %d (by position in the configuration) refused; taken out of this process; replace it", k.Position),
			Error:  k.Error})
		names = append(names, fmt.Sprintf("key %d", k.Position))
	}
	return &HintError{Err: fmt.Errorf("%w: %s", ErrKeyRefused, strings.Join(names, ", ")),
		Hint: "replace the refused API key (scim.tokens, by position); " + hintUnauthorized}
}
