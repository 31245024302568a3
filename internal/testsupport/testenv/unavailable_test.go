package testenv

import (
	"flag"
	"fmt"
	"runtime"
	"strings"
	"testing"
)

// recorder captures how Unavailable ends a test without ending this one.
type recorder struct {
	testing.TB
	skipped, failed bool
	msg             string
}

func (r *recorder) Helper() {}

func (r *recorder) Skipf(format string, args ...any) {
	r.skipped = true
	r.msg = fmt.Sprintf(format, args...)
	runtime.Goexit() // as testing.T does
}

func (r *recorder) Fatalf(format string, args ...any) {
	r.failed = true
	r.msg = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

func TestUnavailable(t *testing.T) {
	tests := []struct {
		short             bool
		wantSkip, wantErr bool
	}{
		{short: true, wantSkip: true},
		{short: false, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(map[bool]string{true: "short", false: "full"}[tt.short], func(t *testing.T) {
			setShort(t, tt.short)
			r := &recorder{}
			done := make(chan struct{})
			go func() {
				defer close(done)
				Unavailable(r, "slapd not found", "apt-get install -y slapd")
			}()
			<-done
			if r.skipped != tt.wantSkip || r.failed != tt.wantErr {
				t.Fatalf("skipped=%v failed=%v, want skipped=%v failed=%v", r.skipped, r.failed, tt.wantSkip, tt.wantErr)
			}
			if !strings.Contains(r.msg, "slapd not found") || !strings.Contains(r.msg, "apt-get install -y slapd") {
				t.Fatalf("message %q lacks what is missing or how to get it", r.msg)
			}
		})
	}
}

func setShort(t *testing.T, short bool) {
	t.Helper()
	f := flag.Lookup("test.short")
	old := f.Value.String()
	if err := f.Value.Set(map[bool]string{true: "true", false: "false"}[short]); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Value.Set(old) })
}
