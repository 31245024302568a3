// Command bench measures syncd end to end on local servers it starts for
// itself (slapd with syncprov, PostgreSQL, the Omni stand-in), at 10,000 and
// 100,000 users (and 1,000,000 with -million):
//
//   - a no-change run with a full read, against state already provisioned:
//     its wall time next to the floor of ldapsearch reading the same
//     entries, its peak RSS, and the SCIM requests it sent (must be 0); and
//     the directory read alone (source.Read) next to the same floor;
//   - the initial provisioning with no rate budget: operations per second
//     and syncd's CPU time per operation;
//   - with group sync on (a group per 50 users, some nested): the run that
//     creates the groups, no-change runs reading users and groups in full
//     and only their changes, and a run after 1% of the groups changed;
//   - how time and memory grow from the smallest size to the largest.
//
// Every sync runs in a child process (this binary re-executed with -child),
// so that its CPU time and peak RSS are syncd's alone. The table goes to
// stdout, the same figures as JSON to -json. It is the `make bench` target.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/syncd-dev/syncd/internal/testsupport/pgtest"
)

func main() {
	var (
		child     = flag.Bool(childFlag, false, "internal: run one sync and report it as JSON")
		cfgPath   = flag.String("config", "", "internal: the child's configuration file")
		readOnly  = flag.Bool("read-only", false, "internal: the child only reads the directory")
		full      = flag.Bool("full", false, "internal: the child reads the whole directory")
		dryRun    = flag.Bool("dry-run", false, "internal: the child plans and sends nothing")
		perMinute = flag.Int("per-minute", 0, "internal: the child's SCIM requests per minute (negative: no limit)")
		cpuProf   = flag.String("cpuprofile", "", "write a CPU profile of the child's sync here")
		memProf   = flag.String("memprofile", "", "write an allocation profile of the child's sync here")

		jsonPath  = flag.String("json", "bench.json", "write the figures as JSON here (empty: do not)")
		million   = flag.Bool("million", false, "also measure 1,000,000 users")
		only      = flag.String("sizes", "", "comma-separated user counts to measure instead of the defaults")
		runs      = flag.Int("runs", 3, "no-change runs and ldapsearch reads per size; the best counts")
		readOnly2 = flag.Bool("read", false, "measure only the full read and the ldapsearch floor: no provisioning, no runs")
		profile   = flag.String("profile", "", "write CPU and allocation profiles of the largest size's first no-change run and first read into this directory")
	)
	flag.Parse()
	if *child {
		err := runChild(childArgs{Config: *cfgPath, PerMinute: *perMinute, ReadOnly: *readOnly, Full: *full, DryRun: *dryRun,
			CPUProfile: *cpuProf, MemProfile: *memProf})
		if err != nil {
			fmt.Fprintf(os.Stderr, "bench child: %v\n", err)
			os.Exit(1)
		}
		return
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	sizes := []int{10_000, 100_000}
	if *million {
		sizes = append(sizes, 1_000_000)
	}
	if *only != "" {
		sizes = nil
		for f := range strings.SplitSeq(*only, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(strings.ReplaceAll(f, "_", "")))
			if err != nil || n < 1 {
				fmt.Fprintf(os.Stderr, "bench: -sizes: %q is not a user count\n", f)
				os.Exit(2)
			}
			sizes = append(sizes, n)
		}
	}
	res, err := bench(ctx, sizes, max(*runs, 1), *profile, *readOnly2)
	if err != nil {
		fmt.Fprintf(os.Stderr, "bench: %v\n", err)
		os.Exit(1)
	}
	res.table().print(os.Stdout)
	if *jsonPath != "" {
		if err := res.writeJSON(*jsonPath); err != nil {
			fmt.Fprintf(os.Stderr, "bench: %v\n", err)
			os.Exit(1)
		}
		fmt.Printf("\nfigures written to %s\n", *jsonPath)
	}
}

func progress(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "bench: "+format+"\n", args...)
}

// bench measures every size in turn on one PostgreSQL, each size with its
// own slapd, stand-in and database.
func bench(ctx context.Context, sizes []int, runs int, profileDir string, readOnly bool) (*results, error) {
	started := time.Now()
	pg, err := pgtest.Start(ctx)
	if err != nil {
		return nil, fmt.Errorf("start postgres: %w", err)
	}
	defer pg.Stop()
	res := &results{Runs: runs}
	for i, n := range sizes {
		prof := ""
		if profileDir != "" && i == len(sizes)-1 {
			prof = profileDir
		}
		sr, err := benchSize(ctx, pg, n, runs, prof, readOnly)
		if err != nil {
			return nil, fmt.Errorf("%d users: %w", n, err)
		}
		res.Sizes = append(res.Sizes, sr)
	}
	res.Took = time.Since(started).Round(time.Second).String()
	return res, nil
}

func benchSize(ctx context.Context, pg *pgtest.Server, users, runs int, profileDir string, readOnly bool) (sizeResult, error) {
	sr := sizeResult{Users: users}
	progress("%d users: generating and loading the directory", users)
	t := time.Now()
	w, err := newWorld(ctx, pg, users)
	if err != nil {
		return sr, err
	}
	defer w.stop()
	progress("%d users: servers up in %v", users, time.Since(t).Round(time.Millisecond))
	nc := noChangeResult{Runs: runs}
	extra := 0
	if profileDir != "" {
		extra = 1
	}
	if !readOnly {
		if err := provisionAndRun(ctx, w, &sr, &nc, runs, extra, profileDir); err != nil {
			return sr, err
		}
	}

	for i := range runs + extra {
		a := childArgs{ReadOnly: true}
		if profileDir != "" && i == 0 {
			a = a.profiled(profileDir, "read-", users)
		}
		r, err := w.child(ctx, a)
		if err != nil {
			return sr, fmt.Errorf("read: %w", err)
		}
		if r.Entries != users || r.InScope != users {
			return sr, fmt.Errorf("read %d entries, %d users; want %d", r.Entries, r.InScope, users)
		}
		if a.CPUProfile != "" {
			continue
		}
		nc.ReadPeakRSSBytes = max(nc.ReadPeakRSSBytes, r.MaxRSS)
		if s := r.Wall.Seconds(); nc.ReadSeconds == 0 || s < nc.ReadSeconds {
			nc.ReadSeconds, nc.ReadCPUSeconds = s, r.CPU.Seconds()
		}
	}
	for range runs {
		d, err := w.ldapsearch(ctx)
		if err != nil {
			return sr, err
		}
		if s := d.Seconds(); nc.FloorSeconds == 0 || s < nc.FloorSeconds {
			nc.FloorSeconds = s
		}
	}
	nc.Ratio = nc.WallSeconds / nc.FloorSeconds
	nc.ReadRatio = nc.ReadSeconds / nc.FloorSeconds
	sr.NoChange = nc
	if !readOnly {
		inc, err := incrementalRuns(ctx, w, runs, nc.FloorSeconds, profileDir)
		if err != nil {
			return sr, err
		}
		sr.Incremental = inc
		if sr.Groups, err = groupRuns(ctx, w, runs, nc.FloorSeconds, profileDir); err != nil {
			return sr, err
		}
	}
	progress("%d users: no-change run %.3fs, read alone %.3fs, ldapsearch %.3fs (run %.2f×, read %.2f×), %d SCIM requests", users,
		nc.WallSeconds, nc.ReadSeconds, nc.FloorSeconds, nc.Ratio, nc.ReadRatio, nc.SCIMRequests)
	if nc.SCIMRequests != 0 {
		return sr, fmt.Errorf("a no-change run sent %d SCIM requests", nc.SCIMRequests)
	}
	return sr, nil
}

// provisionAndRun provisions every user with no rate budget, then makes
// runs no-change runs (and one profiled one more when extra is 1).
func provisionAndRun(ctx context.Context, w *world, sr *sizeResult, nc *noChangeResult, runs, extra int, profileDir string) error {
	users := w.users
	progress("%d users: initial provisioning, no rate budget", users)
	p, err := w.child(ctx, childArgs{PerMinute: -1})
	if err != nil {
		return fmt.Errorf("provisioning: %w", err)
	}
	if p.Counts.Created != users || p.Counts.Failed != 0 {
		return fmt.Errorf("provisioning created %d users (%d failed), want %d", p.Counts.Created, p.Counts.Failed, users)
	}
	ops := p.Counts.Created + p.Counts.Updated + p.Counts.Adopted + p.Counts.Reactivated + p.Counts.Deprovisioned
	sr.Provision = provisionResult{
		Operations: ops, Requests: p.Requests, WallSeconds: p.Wall.Seconds(),
		OpsPerSecond: float64(ops) / p.Wall.Seconds(), CPUSeconds: p.CPU.Seconds(),
		CPUPerOpMillis: p.CPU.Seconds() * 1000 / float64(ops), PeakRSSBytes: p.MaxRSS,
	}
	progress("%d users: provisioned in %v (%.0f ops/s)", users, p.Wall.Round(time.Millisecond), sr.Provision.OpsPerSecond)

	for i := range runs + extra {
		a := childArgs{Full: true}
		if profileDir != "" && i == 0 {
			a = a.profiled(profileDir, "", users)
		}
		r, err := w.child(ctx, a)
		if err != nil {
			return fmt.Errorf("no-change run: %w", err)
		}
		if r.Changes || r.Unchanged != users || r.Entries != users {
			return fmt.Errorf("no-change run read %d entries and planned changes=%t, %d unchanged; want %d unchanged",
				r.Entries, r.Changes, r.Unchanged, users)
		}
		if a.CPUProfile != "" {
			// A profiled run is slower; it does not count.
			progress("%d users: profiles written to %s", users, profileDir)
			continue
		}
		nc.SCIMRequests = max(nc.SCIMRequests, r.Requests)
		nc.PeakRSSBytes = max(nc.PeakRSSBytes, r.MaxRSS)
		if s := r.Wall.Seconds(); nc.WallSeconds == 0 || s < nc.WallSeconds {
			nc.WallSeconds, nc.CPUSeconds = s, r.CPU.Seconds()
		}
	}
	return nil
}
