package sink

import (
	"context"
	"fmt"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/syncd-dev/syncd/internal/testsupport/omnitest"
)

// BenchmarkRateBudget checks how well the client spends a key's budget: a
// stand-in enforcing perMinute requests over a sliding minute, a client
// configured with the same rate, and creates sent one after another for
// about seconds of wall time per iteration. Each iteration gets a fresh
// stand-in and client, as a process restart would. It reports the 429s met
// (the client must meet none), the share of the budget used (requests sent
// over elapsed minutes times perMinute), and the request rate. b.N only
// repeats the fixed workload: its time per op is the workload's length, not
// a cost. The second case outlasts the stand-in's window, as any initial
// sync of more than a minute's budget does, so the window slides over a
// full minute of the client's requests.
func BenchmarkRateBudget(b *testing.B) {
	for _, bc := range []struct {
		perMinute, seconds int
	}{
		{600, 30},
		{600, 90},
	} {
		b.Run(fmt.Sprintf("rpm=%d/%ds", bc.perMinute, bc.seconds), func(b *testing.B) {
			creates := bc.perMinute * bc.seconds / 60
			var requests, tooMany int
			first := 0 // the request that met the first 429, counted from 1
			for b.Loop() {
				b.StopTimer()
				srv, base := omnitest.Start(b, omnitest.Options{Token: testToken, RequestsPerMinute: bc.perMinute})
				var sent, refused atomic.Int64
				c, err := New(Config{BaseURL: base, Token: testToken, RequestsPerMinute: bc.perMinute, Timeout: 5 * time.Second,
					Observe: func(_ string, status int, _ time.Duration) {
						n := sent.Add(1)
						if status == http.StatusTooManyRequests && refused.Add(1) == 1 && first == 0 {
							first = requests + int(n)
						}
					}})
				if err != nil {
					b.Fatal(err)
				}
				ctx, cancel := context.WithTimeout(context.Background(), time.Duration(4*bc.seconds)*time.Second)
				u := benchUser()
				b.StartTimer()
				for i := range creates {
					u.UserName = fmt.Sprintf("user%d@example.com", i)
					if _, err := c.Create(ctx, u); err != nil {
						cancel()
						b.Fatalf("create %d of %d: %v", i+1, creates, err)
					}
				}
				b.StopTimer()
				cancel()
				c.hc.CloseIdleConnections()
				st := srv.Stats()
				requests += st.Total
				tooMany += st.TooMany
				if int(refused.Load()) != st.TooMany {
					b.Fatalf("client saw %d 429s, stand-in sent %d", refused.Load(), st.TooMany)
				}
				b.StartTimer()
			}
			used := float64(requests) / (b.Elapsed().Minutes() * float64(bc.perMinute)) * 100
			perSecond := float64(requests) / b.Elapsed().Seconds()
			b.ReportMetric(float64(tooMany), "429s")
			b.ReportMetric(used, "budget_used_%")
			b.ReportMetric(perSecond, "requests/s")
			if tooMany > 0 {
				// A failed benchmark prints no metrics, so the message carries them.
				b.Errorf("the client met %d 429s in %d requests at its configured rate, the first on request %d (budget used %.1f%%, %.2f requests/s)",
					tooMany, requests, first, used, perSecond)
			}
		})
	}
}
