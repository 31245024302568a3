package sink

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/syncd-dev/syncd/internal/testsupport/omnitest"
)

// BenchmarkKeysBudget checks that K keys give K times one key's throughput:
// K goroutines create users through one Client holding K keys, against a
// stand-in enforcing perMinute per key over a sliding minute, for a fixed
// span of wall time. It reports the share of the whole budget (K×perMinute
// a minute) the requests used, and the 429s met (the Client must meet
// none). Like BenchmarkRateBudget, b.N only repeats the fixed workload, so
// its time per op is the workload's length, not a cost; a span of wall time
// is the only way to measure a rate limit Omni enforces in wall time.
func BenchmarkKeysBudget(b *testing.B) {
	const perMinute, span = 600, 30 * time.Second
	tokens := make([]string, 4)
	for i := range tokens {
		tokens[i] = fmt.Sprintf("bench-key-%d", i+1)
	}
	for _, k := range []int{1, 2, 4} {
		b.Run(fmt.Sprintf("keys=%d", k), func(b *testing.B) {
			var requests, tooMany int
			var elapsed time.Duration
			for b.Loop() {
				b.StopTimer()
				srv, base := omnitest.Start(b, omnitest.Options{Tokens: tokens[:k], RequestsPerMinute: perMinute})
				c, err := New(Config{BaseURL: base, Tokens: tokens[:k], RequestsPerMinute: perMinute, Timeout: 5 * time.Second})
				if err != nil {
					b.Fatal(err)
				}
				var (
					wg   sync.WaitGroup
					next atomic.Int64
					fail sync.Once
				)
				b.StartTimer()
				start := time.Now()
				end := start.Add(span)
				for range k {
					wg.Go(func() {
						u := benchUser()
						for time.Now().Before(end) {
							u.UserName = fmt.Sprintf("user%d@example.com", next.Add(1))
							if _, err := c.Create(context.Background(), u); err != nil {
								fail.Do(func() { b.Errorf("create %s: %v", u.UserName, err) })
								return
							}
						}
					})
				}
				wg.Wait()
				elapsed += time.Since(start)
				b.StopTimer()
				c.hc.CloseIdleConnections()
				st := srv.Stats()
				requests += st.Total - st.TooMany
				tooMany += st.TooMany
				b.StartTimer()
			}
			budget := elapsed.Minutes() * float64(k*perMinute)
			used := float64(requests) / budget * 100
			b.ReportMetric(used, "budget%")
			b.ReportMetric(float64(tooMany), "429s")
			b.ReportMetric(float64(requests)/elapsed.Seconds(), "requests/s")
			if tooMany > 0 {
				// A failed benchmark prints no metrics, so the message carries them.
				b.Errorf("%d keys met %d 429s in %d requests (budget used %.1f%%)", k, tooMany, requests, used)
			}
		})
	}
}
