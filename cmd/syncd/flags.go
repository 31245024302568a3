package main

import (
	"flag"
	"fmt"
	"io"
	"strings"
	"time"
)

// commands are the words syncd takes; "" is the sync itself.
var commands = map[string]bool{"": true, "migrate": true, "check": true, "audit": true, "version": true}

// valueFlags are the flags, of any command, that take a value in the next
// argument, so that the value is not taken for the command.
var valueFlags = map[string]bool{"config": true, "output": true, "since": true, "user": true, "run": true}

// splitCommand finds the command, which may stand before or after the
// flags, and returns the other arguments.
func splitCommand(args []string) (string, []string, error) {
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			break
		}
		if strings.HasPrefix(a, "-") {
			name := strings.TrimLeft(a, "-")
			if valueFlags[name] && !strings.Contains(name, "=") {
				i++
			}
			continue
		}
		if !commands[a] {
			return "", nil, fmt.Errorf("unknown command %q", a)
		}
		rest := append(append([]string(nil), args[:i]...), args[i+1:]...)
		return a, rest, nil
	}
	return "", args, nil
}

// flags are every command's flags; each command's flag set defines only its
// own, so that a flag given to the wrong command is an error, not ignored.
type flags struct {
	config, output, user            string
	once, dryRun, allowMass, verify bool
	full                            bool
	since                           time.Duration
	run                             int64
}

func parseFlags(cmd string, args []string, stderr io.Writer) (*flags, error) {
	f := &flags{output: "text"}
	name := "syncd"
	if cmd != "" {
		name += " " + cmd
	}
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	if cmd != "version" {
		fs.StringVar(&f.config, "config", "", "configuration file (default $SYNCD_CONFIG or /etc/syncd/syncd.yaml)")
	}
	switch cmd {
	case "":
		fs.BoolVar(&f.once, "once", false, "run one sync and exit")
		fs.BoolVar(&f.dryRun, "dry-run", false, "plan only: send nothing to Omni and change no state (implies --once)")
		fs.StringVar(&f.output, "output", "text", "plan output with --once: text or json")
		fs.BoolVar(&f.allowMass, "allow-mass-deprovision", false, "let this run exceed the deprovision caps (audited)")
		fs.BoolVar(&f.full, "full", false, "read the whole directory this run, even when only changes could be read")
	case "audit":
		fs.DurationVar(&f.since, "since", 24*time.Hour, "events newer than this")
		fs.StringVar(&f.user, "user", "", "only events for this userName")
		fs.Int64Var(&f.run, "run", 0, "only events of this run id")
		fs.BoolVar(&f.verify, "verify", false, "verify the audit log's hash chain instead of listing events")
		fs.StringVar(&f.output, "output", "text", "text or json (one event per line)")
	}
	fs.Usage = func() {
		fmt.Fprint(stderr, usage)
		fmt.Fprintf(stderr, "\nFlags of %s:\n", name)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	return f, nil
}
