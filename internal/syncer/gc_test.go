package syncer_test

import (
	"runtime/debug"
	"testing"

	"github.com/syncd-dev/syncd/internal/syncer"
)

func TestSetDefaultGC(t *testing.T) {
	was := debug.SetGCPercent(100)
	defer debug.SetGCPercent(was)

	syncer.SetDefaultGC(func(string) string { return "" })
	if got := debug.SetGCPercent(100); got != syncer.DefaultGCPercent {
		t.Errorf("without GOGC: GC percent %d, want %d", got, syncer.DefaultGCPercent)
	}
	syncer.SetDefaultGC(func(k string) string {
		if k == "GOGC" {
			return "100"
		}
		return ""
	})
	if got := debug.SetGCPercent(100); got != 100 {
		t.Errorf("with GOGC set: GC percent %d, want it left alone (100)", got)
	}
}
