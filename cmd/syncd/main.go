// Command syncd keeps an Omni organisation's users in line with an LDAP
// directory. See README.md for how to run it.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/syncd-dev/syncd/internal/syncer"
)

// version is stamped at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	syncer.SetDefaultGC(os.Getenv)
	exitOnSecondSignal(os.Stderr)
	err := run(context.Background(), os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	os.Exit(report(os.Stderr, err))
}

// exitOnSecondSignal makes a second SIGTERM or SIGINT end the process at
// once. The first stops the run gracefully (run's own signal context): the
// request in flight finishes and is recorded, within one scim.timeout. An
// operator who cannot wait for that sends another.
func exitOnSecondSignal(w io.Writer) {
	ch := make(chan os.Signal, 2)
	signal.Notify(ch, os.Interrupt, syscall.SIGTERM)
	go func() {
		<-ch
		<-ch
		fmt.Fprintln(w, "syncd: second signal; exiting at once without recording the request in flight (the next run settles it)")
		os.Exit(exitFailed)
	}()
}

// report prints err with a hint for the person at the terminal and returns
// the process exit code.
func report(w *os.File, err error) int {
	if err == nil {
		return 0
	}
	var ee *exitError
	if errors.As(err, &ee) && ee.err == nil {
		return ee.code
	}
	fmt.Fprintf(w, "syncd: %v\n", err)
	if ee != nil && ee.hint != "" {
		fmt.Fprintf(w, "hint: %s\n", ee.hint)
	}
	if ee != nil {
		return ee.code
	}
	return exitFailed
}
