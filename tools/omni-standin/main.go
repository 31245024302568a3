// Command omni-standin serves the Omni SCIM stand-in (package omnitest) over
// TCP, so that demos, benchmarks and a syncd under manual test can talk to
// something that behaves like Omni's users API, rate limit and faults
// included. Besides the SCIM path it serves unauthenticated admin endpoints
// under /_standin/ to seed users, read what was stored and read or reset the
// request counters. It prints its SCIM base URL on start and stops on SIGINT
// or SIGTERM.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/syncd-dev/syncd/internal/testsupport/omnitest"
)

func main() {
	if err := run(context.Background(), os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "omni-standin:", err)
		os.Exit(1)
	}
}

// run serves until ctx is done or a signal arrives. It writes the SCIM base
// URL as the first line of stdout, so scripts can read it.
func run(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("omni-standin", flag.ContinueOnError)
	listen := fs.String("listen", "127.0.0.1:8089", "address to listen on (port 0 picks a free one)")
	token := fs.String("token", omnitest.DefaultToken, "the accepted bearer token")
	rpm := fs.Int("rpm", 60, "requests per minute per token, as Omni allows (0: unlimited)")
	retryAfter := fs.Bool("retry-after", false, "send Retry-After on 429")
	allowReactivate := fs.Bool("allow-reactivate", false, "let PATCH/PUT active=true reactivate a deactivated user")
	reuseEmail := fs.Bool("reuse-inactive-email", false, "let POST create a new user with a deactivated user's email")
	var f omnitest.Faults
	fs.Int64Var(&f.Seed, "seed", 1, "seed of the fault sequence")
	methods := fs.String("fault-methods", "", "comma-separated methods faults apply to (default all)")
	fs.Float64Var(&f.ErrorRate, "error-rate", 0, "fraction of requests answered 500/503 without applying")
	fs.Float64Var(&f.RateLimitRate, "ratelimit-rate", 0, "fraction of requests answered 429 without applying")
	fs.Float64Var(&f.DropRate, "drop-rate", 0, "fraction of connections reset without applying")
	fs.Float64Var(&f.LostReplyRate, "lost-reply-rate", 0, "fraction of requests applied, then closed without an answer")
	fs.Float64Var(&f.HangRate, "hang-rate", 0, "fraction of requests held until the client gives up")
	fs.BoolVar(&f.HangApplied, "hang-applied", false, "apply hung requests before holding them")
	fs.DurationVar(&f.Latency, "latency", 0, "delay added to every request")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments: %s", strings.Join(fs.Args(), " "))
	}
	for _, r := range []float64{f.ErrorRate, f.RateLimitRate, f.DropRate, f.LostReplyRate, f.HangRate} {
		if r < 0 || r > 1 {
			return fmt.Errorf("fault rates must be between 0 and 1, got %v", r)
		}
	}
	if *methods != "" {
		for _, m := range strings.Split(*methods, ",") {
			f.Methods = append(f.Methods, strings.ToUpper(strings.TrimSpace(m)))
		}
	}

	srv := omnitest.New(omnitest.Options{
		Token:              *token,
		RequestsPerMinute:  *rpm,
		RetryAfter:         *retryAfter,
		AllowReactivate:    *allowReactivate,
		ReuseInactiveEmail: *reuseEmail,
	})
	srv.SetFaults(f)
	mux := http.NewServeMux()
	mux.Handle(omnitest.AdminPrefix, srv.AdminHandler())
	mux.Handle("/", srv)

	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	fmt.Fprintf(stdout, "http://%s/api/scim/v2\n", ln.Addr())
	budget := "no rate limit"
	if *rpm > 0 {
		budget = fmt.Sprintf("%d requests/minute", *rpm)
	}
	fmt.Fprintf(stdout, "omni-standin: %s, admin at http://%s%s{users,stats,reset-stats,faults}\n", budget, ln.Addr(), omnitest.AdminPrefix)

	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	served := make(chan error, 1)
	go func() { served <- hs.Serve(ln) }()
	select {
	case err := <-served:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	// Hung requests would otherwise hold Shutdown until its deadline.
	srv.Close()
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := hs.Shutdown(sctx); err != nil {
		_ = hs.Close()
		if !errors.Is(err, context.DeadlineExceeded) {
			return fmt.Errorf("shut down: %w", err)
		}
	}
	return nil
}
