package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/syncd-dev/syncd/internal/config"
	"github.com/syncd-dev/syncd/internal/source"
	"github.com/syncd-dev/syncd/internal/state"
	"github.com/syncd-dev/syncd/internal/syncer"
)

// childFlag makes the binary run one sync and report it instead of the
// benchmark, so that the run's CPU time and peak RSS are its own: the parent
// holds slapd's, PostgreSQL's and the stand-in's.
const childFlag = "child"

// childArgs is what the parent tells a child. The secrets come in the
// environment, as they would for cmd/syncd.
type childArgs struct {
	// Config is the configuration file; the parent's default when empty.
	Config string
	// PerMinute replaces scim.requestsPerMinute when not zero (negative:
	// no limit).
	PerMinute int
	// ReadOnly reads the directory as a run does (source.New on the
	// configuration, then Read) and does nothing else: the full read's own
	// cost, without the state load and the plan.
	ReadOnly bool
	// Full reads the whole directory even when the run could read only
	// what changed; DryRun plans without sending.
	Full       bool
	DryRun     bool
	CPUProfile string
	MemProfile string
}

// childReport is what a child prints on stdout, as JSON.
type childReport struct {
	// Wall is the time syncer.Run took, without process start-up,
	// configuration and store opening.
	Wall      time.Duration `json:"wall"`
	Entries   int           `json:"entries"`
	InScope   int           `json:"inScope"`
	Unchanged int           `json:"unchanged"`
	Changes   bool          `json:"changes"`
	Counts    syncer.Counts `json:"counts"`
	// Incremental says the run read only what changed; Deprovisions are
	// the deprovisions it planned.
	Incremental  bool `json:"incremental"`
	Deprovisions int  `json:"deprovisions"`
	// GroupsIncremental says the run read only the groups' changes;
	// GroupChanges that it planned group writes.
	GroupsIncremental bool `json:"groupsIncremental"`
	GroupChanges      bool `json:"groupChanges"`
	// PeakRSS is the child's own resident high-water mark (VmHWM), in
	// bytes. The rusage the parent gets from wait4 is not: os/exec starts
	// the child with vfork, and Linux carries the parent's high-water mark
	// across the exec into the child's ru_maxrss.
	PeakRSS int64 `json:"peakRSS"`
}

// peakRSS reads this process's VmHWM from /proc/self/status.
func peakRSS() (int64, error) {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, err
	}
	for line := range strings.Lines(string(b)) {
		v, ok := strings.CutPrefix(line, "VmHWM:")
		if !ok {
			continue
		}
		kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("VmHWM %q: %w", strings.TrimSpace(v), err)
		}
		return kb * 1024, nil
	}
	return 0, errors.New("no VmHWM in /proc/self/status")
}

// runChild runs one sync as cmd/syncd would (syncer.Build on the parsed
// configuration, against the migrated store), or only its directory read,
// and prints its report.
func runChild(a childArgs) error {
	syncer.SetDefaultGC(os.Getenv)
	ctx := context.Background()
	cfg, err := config.Load(a.Config, os.Getenv)
	if err != nil {
		return err
	}
	var run func() (childReport, error)
	if a.ReadOnly {
		src, err := source.New(cfg.LDAP.Source(), zerolog.Nop())
		if err != nil {
			return err
		}
		run = func() (childReport, error) {
			res, err := src.Read(ctx)
			if err != nil {
				return childReport{}, err
			}
			if res.Incomplete != "" {
				return childReport{}, errors.New("incomplete read: " + res.Incomplete)
			}
			return childReport{Entries: res.Entries, InScope: len(res.Users)}, nil
		}
	} else {
		store, err := state.Open(ctx, cfg.State.DatabaseURL.Reveal())
		if err != nil {
			return err
		}
		defer store.Close()
		s, err := syncer.Build(cfg, syncer.Wiring{Log: zerolog.Nop(), Store: store, RequestsPerMinute: a.PerMinute, UserAgent: "syncd-bench",
			FullRead: a.Full, DryRun: a.DryRun})
		if err != nil {
			return err
		}
		run = func() (childReport, error) {
			rep, err := s.Run(ctx)
			if err != nil {
				return childReport{}, fmt.Errorf("run: %w", err)
			}
			if rep.Incomplete != "" {
				return childReport{}, errors.New("incomplete read: " + rep.Incomplete)
			}
			return childReport{Entries: rep.Entries, InScope: rep.InScope,
				Unchanged: rep.Plan.Unchanged, Changes: rep.Plan.Changes(), Counts: rep.Counts,
				Incremental: rep.Incremental, Deprovisions: len(rep.Plan.Deprovision),
				GroupsIncremental: rep.GroupsIncremental, GroupChanges: rep.Groups.Changes()}, nil
		}
	}
	if a.CPUProfile != "" {
		f, err := os.Create(a.CPUProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
	}
	if a.MemProfile != "" {
		runtime.MemProfileRate = 64 << 10
	}
	start := time.Now()
	rep, err := run()
	rep.Wall = time.Since(start)
	if a.CPUProfile != "" {
		pprof.StopCPUProfile()
	}
	if err != nil {
		return err
	}
	if rep.PeakRSS, err = peakRSS(); err != nil {
		return err
	}
	if a.MemProfile != "" {
		f, err := os.Create(a.MemProfile)
		if err != nil {
			return err
		}
		if err := pprof.Lookup("allocs").WriteTo(f, 0); err != nil {
			return err
		}
		if err := f.Close(); err != nil {
			return err
		}
	}
	return json.NewEncoder(os.Stdout).Encode(rep)
}

// profiled is a with CPU and allocation profiles written into dir, named
// <prefix>cpu-<users>.pprof and <prefix>allocs-<users>.pprof.
func (a childArgs) profiled(dir, prefix string, users int) childArgs {
	a.CPUProfile = filepath.Join(dir, fmt.Sprintf("%scpu-%d.pprof", prefix, users))
	a.MemProfile = filepath.Join(dir, fmt.Sprintf("%sallocs-%d.pprof", prefix, users))
	return a
}
