package textutil

import (
	"testing"
	"unicode/utf8"
)

func TestClip(t *testing.T) {
	for _, tt := range []struct {
		s    string
		n    int
		mark string
		want string
	}{
		{"short", 10, "…", "short"},
		{"exactly", 7, "…", "exactly"},
		{"abcdef", 3, "…", "abc…"},
		{"abcdef", 3, "", "abc"},
		{"zoë zoë", 3, "…", "zo…"}, // ë is two bytes: never split
		{"ëëë", 1, "", ""},
		{"abc", -1, "…", "…"},
	} {
		got := Clip(tt.s, tt.n, tt.mark)
		if got != tt.want || !utf8.ValidString(got) {
			t.Errorf("Clip(%q, %d, %q) = %q, want %q", tt.s, tt.n, tt.mark, got, tt.want)
		}
	}
}

func TestClean(t *testing.T) {
	for in, want := range map[string]string{"plain": "plain", "nul\x00byte": "nulbyte", "bad\xffutf8": "bad\uFFFDutf8"} {
		if got := Clean(in); got != want {
			t.Errorf("Clean(%q) = %q, want %q", in, got, want)
		}
	}
}
