package omnitest

import (
	mrand "math/rand/v2"
	"strings"
	"time"
)

// Faults injects failures into SCIM requests that passed the bearer check and
// the rate budget. Each in-scope request draws one number from a generator
// seeded with Seed and falls into at most one fault, in the order of the
// fields below (rates are cumulative; if they sum past 1 the last ones get
// what is left). So a client that sends the same requests in the same order
// meets the same faults.
type Faults struct {
	Seed int64
	// Methods lists the methods faults apply to (e.g. "POST"); empty means
	// all.
	Methods []string
	// ErrorRate answers 500 or 503 (half each) without applying.
	ErrorRate float64
	// RateLimitRate answers 429 without applying, on top of the real budget.
	RateLimitRate float64
	// DropRate resets the connection without applying or answering.
	DropRate float64
	// LostReplyRate applies the request, then closes the connection with no
	// answer, so the client cannot know the outcome.
	LostReplyRate float64
	// HangRate holds the request until the client gives up (its context is
	// done) or the Server closes; applied first when HangApplied.
	HangRate    float64
	HangApplied bool
	// Latency delays every in-scope request, before anything else.
	Latency time.Duration
}

type faultKind int

const (
	faultNone faultKind = iota
	faultError500
	faultError503
	faultRateLimit
	faultDrop
	faultLostReply
	faultHang
	faultHangApplied
)

// SetFaults replaces the fault settings and restarts the seeded sequence.
func (s *Server) SetFaults(f Faults) {
	f.Methods = append([]string(nil), f.Methods...)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = f
	s.rng = mrand.New(mrand.NewPCG(uint64(f.Seed), 0x6f6d6e69))
}

func (f Faults) applies(method string) bool {
	if len(f.Methods) == 0 {
		return true
	}
	for _, m := range f.Methods {
		if strings.EqualFold(m, method) {
			return true
		}
	}
	return false
}

func (f Faults) rated() bool {
	return f.ErrorRate+f.RateLimitRate+f.DropRate+f.LostReplyRate+f.HangRate > 0
}

// drawFault picks the fault for one in-scope request; s.mu must be held. It
// draws nothing when no rate is set, so latency alone does not disturb the
// sequence.
func (s *Server) drawFault() faultKind {
	f := s.faults
	if !f.rated() {
		return faultNone
	}
	u := s.rng.Float64()
	edge := 0.0
	steps := []struct {
		rate float64
		kind faultKind
	}{
		{f.ErrorRate / 2, faultError500},
		{f.ErrorRate / 2, faultError503},
		{f.RateLimitRate, faultRateLimit},
		{f.DropRate, faultDrop},
		{f.LostReplyRate, faultLostReply},
		{f.HangRate, faultHang},
	}
	for _, st := range steps {
		edge += st.rate
		if u < edge {
			if st.kind == faultHang && f.HangApplied {
				return faultHangApplied
			}
			return st.kind
		}
	}
	return faultNone
}
