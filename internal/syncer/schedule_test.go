package syncer

import (
	"testing"
	"time"

	"github.com/robfig/cron/v3"
)

// Ticks that pass while a run is going are counted as skipped.
func TestTicksBetween(t *testing.T) {
	every, err := cron.ParseStandard("@every 2s")
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	for _, tt := range []struct {
		run  time.Duration
		want int
	}{{time.Second, 0}, {2 * time.Second, 0}, {2*time.Second + time.Millisecond, 1}, {9 * time.Second, 4}} {
		if got := ticksBetween(every, t0, t0.Add(tt.run)); got != tt.want {
			t.Errorf("a run of %s skipped %d ticks, want %d", tt.run, got, tt.want)
		}
	}
}

// Jitter delays a tick by less than the jitter, never brings it forward.
func TestNextTickJitter(t *testing.T) {
	every, _ := cron.ParseStandard("@every 1m")
	t0 := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	plain := nextTick(every, t0, 0)
	for range 200 {
		got := nextTick(every, t0, 30*time.Second)
		if got.Before(plain) || !got.Before(plain.Add(30*time.Second)) {
			t.Fatalf("jittered tick %s outside [%s, +30s)", got, plain)
		}
	}
}
