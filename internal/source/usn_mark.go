package source

import (
	"encoding/json"
	"fmt"
)

// usnMarkVersion is the encoding of a USNMark; DecodeUSNMark refuses others,
// so a format change makes the next run start over with a full read instead
// of misreading a cookie.
const usnMarkVersion = 1

// USNMark is where a USN read resumes: the domain controller read, its
// invocationId (which changes when the DC's database is restored) and the
// highest USN it had committed when the last read began. Store it as an
// opaque cookie (Encode) once the run that used it has committed.
type USNMark struct {
	// DC is the domain controller's DNS host name (dnsHostName, or the
	// serverName DN when the root DSE has no host name).
	DC string
	// InvocationID is the DC's invocationId, as a canonical GUID string.
	InvocationID string
	HighestUSN   int64
}

// IsZero reports the mark of a source never read: the next ReadUSN asks
// for a full read.
func (m USNMark) IsZero() bool { return m == USNMark{} }

type usnMarkJSON struct {
	V            int    `json:"v"`
	DC           string `json:"dc"`
	InvocationID string `json:"invocationId"`
	HighestUSN   int64  `json:"highestUSN"`
}

// Encode returns the mark as a versioned cookie; the zero mark encodes as
// nil, which DecodeUSNMark turns back into the zero mark.
func (m USNMark) Encode() []byte {
	if m.IsZero() {
		return nil
	}
	// Marshalling a struct of strings and integers cannot fail.
	b, _ := json.Marshal(usnMarkJSON{V: usnMarkVersion, DC: m.DC, InvocationID: m.InvocationID, HighestUSN: m.HighestUSN})
	return b
}

// DecodeUSNMark reads a cookie written by Encode. An empty cookie is the
// zero mark. An error means the cookie is unusable (corrupt, or from another
// version); the caller should then start from the zero mark, i.e. a full
// read, rather than guess.
func DecodeUSNMark(b []byte) (USNMark, error) {
	if len(b) == 0 {
		return USNMark{}, nil
	}
	var j usnMarkJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return USNMark{}, fmt.Errorf("usn mark: %w", err)
	}
	if j.V != usnMarkVersion {
		return USNMark{}, fmt.Errorf("usn mark: version %d, want %d", j.V, usnMarkVersion)
	}
	m := USNMark{DC: j.DC, InvocationID: j.InvocationID, HighestUSN: j.HighestUSN}
	if m.DC == "" || m.InvocationID == "" || m.HighestUSN < 0 {
		return USNMark{}, fmt.Errorf("usn mark: incomplete (dc %q, invocationId %q, usn %d)", m.DC, m.InvocationID, m.HighestUSN)
	}
	return m, nil
}
