package source

import (
	"strings"
	"testing"
)

func TestUSNMarkEncode(t *testing.T) {
	m := USNMark{DC: "dc1.corp.example.com", InvocationID: "0f3a9c1e-2b4d-4e5f-8a6b-7c8d9e0f1a2b", HighestUSN: 123456789}
	enc := m.Encode()
	// The stored form is a format: changing it needs a new version.
	const want = `{"v":1,"dc":"dc1.corp.example.com","invocationId":"0f3a9c1e-2b4d-4e5f-8a6b-7c8d9e0f1a2b","highestUSN":123456789}`
	if string(enc) != want {
		t.Errorf("Encode = %s, want %s", enc, want)
	}
	got, err := DecodeUSNMark(enc)
	if err != nil || got != m {
		t.Errorf("DecodeUSNMark(Encode) = %+v, %v; want %+v", got, err, m)
	}

	if enc := (USNMark{}).Encode(); enc != nil {
		t.Errorf("zero mark encodes as %q, want nil", enc)
	}
	if got, err := DecodeUSNMark(nil); err != nil || !got.IsZero() {
		t.Errorf("DecodeUSNMark(nil) = %+v, %v; want the zero mark", got, err)
	}

	for _, bad := range []struct{ in, want string }{
		{"not json", "usn mark"},
		{`{"v":2,"dc":"dc1","invocationId":"x","highestUSN":5}`, "version 2"},
		{`{"dc":"dc1","invocationId":"x","highestUSN":5}`, "version 0"},
		{`{"v":1,"invocationId":"x","highestUSN":5}`, "incomplete"},
		{`{"v":1,"dc":"dc1","highestUSN":5}`, "incomplete"},
		{`{"v":1,"dc":"dc1","invocationId":"x","highestUSN":-1}`, "incomplete"},
	} {
		got, err := DecodeUSNMark([]byte(bad.in))
		if err == nil || !strings.Contains(err.Error(), bad.want) || !got.IsZero() {
			t.Errorf("DecodeUSNMark(%s) = %+v, %v; want the zero mark and an error with %q", bad.in, got, err, bad.want)
		}
	}
}
