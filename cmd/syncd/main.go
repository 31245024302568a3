// Command syncd keeps an Omni organisation's users in line with an LDAP
// directory. See README.md for how to run it.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
)

// version is stamped at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	err := run(context.Background(), os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	os.Exit(report(os.Stderr, err))
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
