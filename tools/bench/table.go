package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"text/tabwriter"
)

// results are every figure of one invocation, as written to the JSON file.
type results struct {
	GoVersion string       `json:"goVersion"`
	CPUs      int          `json:"cpus"`
	Runs      int          `json:"runs"`
	Took      string       `json:"took"`
	Sizes     []sizeResult `json:"sizes"`
	// Growth compares the largest size with the smallest.
	Growth *growth `json:"growth,omitempty"`
}

type sizeResult struct {
	Users       int               `json:"users"`
	NoChange    noChangeResult    `json:"noChange"`
	Incremental incrementalResult `json:"incremental"`
	Provision   provisionResult   `json:"provision"`
	Groups      groupsResult      `json:"groups"`
}

// noChangeResult is the run of most ticks: a full read, nothing to do.
type noChangeResult struct {
	Runs         int     `json:"runs"`
	WallSeconds  float64 `json:"wallSeconds"`
	CPUSeconds   float64 `json:"cpuSeconds"`
	FloorSeconds float64 `json:"ldapsearchSeconds"`
	Ratio        float64 `json:"ratioToLdapsearch"`
	PeakRSSBytes int64   `json:"peakRSSBytes"`
	SCIMRequests int     `json:"scimRequests"`
	// The directory read alone, in a child of its own (best of Runs).
	ReadSeconds      float64 `json:"readSeconds"`
	ReadCPUSeconds   float64 `json:"readCPUSeconds"`
	ReadRatio        float64 `json:"readRatioToLdapsearch"`
	ReadPeakRSSBytes int64   `json:"readPeakRSSBytes"`
}

// provisionResult is the initial sync into an empty Omni, no rate budget.
type provisionResult struct {
	Operations     int     `json:"operations"`
	Requests       int     `json:"scimRequests"`
	WallSeconds    float64 `json:"wallSeconds"`
	OpsPerSecond   float64 `json:"operationsPerSecond"`
	CPUSeconds     float64 `json:"cpuSeconds"`
	CPUPerOpMillis float64 `json:"cpuPerOperationMillis"`
	PeakRSSBytes   int64   `json:"peakRSSBytes"`
}

type growth struct {
	From, To          int
	UsersRatio        float64 `json:"usersRatio"`
	NoChangeTime      float64 `json:"noChangeTimeRatio"`
	NoChangeRSS       float64 `json:"noChangePeakRSSRatio"`
	ProvisionTime     float64 `json:"provisionTimeRatio"`
	ProvisionCPUPerOp float64 `json:"provisionCPUPerOperationRatio"`
}

func (r *results) growth() *growth {
	if len(r.Sizes) < 2 {
		return nil
	}
	a, b := r.Sizes[0], r.Sizes[len(r.Sizes)-1]
	return &growth{
		From: a.Users, To: b.Users, UsersRatio: float64(b.Users) / float64(a.Users),
		NoChangeTime:      b.NoChange.WallSeconds / a.NoChange.WallSeconds,
		NoChangeRSS:       float64(b.NoChange.PeakRSSBytes) / float64(a.NoChange.PeakRSSBytes),
		ProvisionTime:     b.Provision.WallSeconds / a.Provision.WallSeconds,
		ProvisionCPUPerOp: b.Provision.CPUPerOpMillis / a.Provision.CPUPerOpMillis,
	}
}

func (r *results) writeJSON(path string) error {
	r.GoVersion, r.CPUs, r.Growth = runtime.Version(), runtime.NumCPU(), r.growth()
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

// A table is sections of rows, one column per size and, for the rows that
// have one, the growth from the smallest size to the largest. A kind of run
// is one section: adding one (incremental reads, say) is adding a section
// with its rows in table().
type table struct {
	sizes    []sizeResult
	sections []section
}

type section struct {
	title string
	rows  []row
}

type row struct {
	metric string
	// value gives the cell of one size.
	value  func(sizeResult) float64
	format string
	// growth shows largest/smallest in the last column.
	growth bool
}

func (r *results) table() table {
	t := table{sizes: r.Sizes}
	mib := func(b int64) float64 { return float64(b) / (1 << 20) }
	t.sections = []section{
		{"no-change run, full read", []row{
			{"syncd run (s)", func(s sizeResult) float64 { return s.NoChange.WallSeconds }, "%.3f", true},
			{"ldapsearch floor (s)", func(s sizeResult) float64 { return s.NoChange.FloorSeconds }, "%.3f", true},
			{"ratio to floor", func(s sizeResult) float64 { return s.NoChange.Ratio }, "%.2f×", false},
			{"syncd CPU (s)", func(s sizeResult) float64 { return s.NoChange.CPUSeconds }, "%.2f", true},
			{"peak RSS (MiB)", func(s sizeResult) float64 { return mib(s.NoChange.PeakRSSBytes) }, "%.0f", true},
			{"SCIM requests", func(s sizeResult) float64 { return float64(s.NoChange.SCIMRequests) }, "%.0f", false},
		}},
		{"no-change run, incremental", []row{
			{"syncd run (s)", func(s sizeResult) float64 { return s.Incremental.NoChangeSeconds }, "%.3f", true},
			{"ratio to full-read floor", func(s sizeResult) float64 { return s.Incremental.NoChangeRatio }, "%.3f×", false},
			{"peak RSS (MiB)", func(s sizeResult) float64 { return mib(s.Incremental.NoChangePeakRSSBytes) }, "%.0f", true},
			{"SCIM requests", func(s sizeResult) float64 { return float64(s.Incremental.NoChangeRequests) }, "%.0f", false},
		}},
		{"1% of users changed, incremental", []row{
			{"changes", func(s sizeResult) float64 { return float64(s.Incremental.Changed) }, "%.0f", false},
			{"SCIM requests", func(s sizeResult) float64 { return float64(s.Incremental.ChangedRequests) }, "%.0f", false},
			{"syncd run (s)", func(s sizeResult) float64 { return s.Incremental.ChangedSeconds }, "%.3f", true},
		}},
		{"1% of users deleted, incremental (dry run)", []row{
			{"deletions", func(s sizeResult) float64 { return float64(s.Incremental.Deleted) }, "%.0f", false},
			{"deprovisions planned", func(s sizeResult) float64 { return float64(s.Incremental.DeprovisionsPlanned) }, "%.0f", false},
			{"syncd run (s)", func(s sizeResult) float64 { return s.Incremental.DeletedSeconds }, "%.3f", true},
		}},
		{"with group sync (a group per 50 users)", []row{
			{"groups", func(s sizeResult) float64 { return float64(s.Groups.Groups) }, "%.0f", false},
			{"no-change run, full read (s)", func(s sizeResult) float64 { return s.Groups.FullSeconds }, "%.3f", true},
			{"  peak RSS (MiB)", func(s sizeResult) float64 { return mib(s.Groups.FullPeakRSSBytes) }, "%.0f", true},
			{"no-change run, incremental (s)", func(s sizeResult) float64 { return s.Groups.NoChangeSeconds }, "%.3f", true},
			{"  ratio to users' full-read floor", func(s sizeResult) float64 { return s.Groups.NoChangeRatio }, "%.3f×", false},
			{"  peak RSS (MiB)", func(s sizeResult) float64 { return mib(s.Groups.NoChangePeakRSSBytes) }, "%.0f", true},
			{"  SCIM requests", func(s sizeResult) float64 { return float64(s.Groups.NoChangeRequests) }, "%.0f", false},
			{"1% of groups changed: groups", func(s sizeResult) float64 { return float64(s.Groups.Changed) }, "%.0f", false},
			{"  SCIM requests", func(s sizeResult) float64 { return float64(s.Groups.ChangedRequests) }, "%.0f", false},
			{"  syncd run (s)", func(s sizeResult) float64 { return s.Groups.ChangedSeconds }, "%.3f", true},
		}},
		{"full read alone (source.Read)", []row{
			{"read (s)", func(s sizeResult) float64 { return s.NoChange.ReadSeconds }, "%.3f", true},
			{"ratio to floor", func(s sizeResult) float64 { return s.NoChange.ReadRatio }, "%.2f×", false},
			{"CPU (s)", func(s sizeResult) float64 { return s.NoChange.ReadCPUSeconds }, "%.2f", true},
			{"peak RSS (MiB)", func(s sizeResult) float64 { return mib(s.NoChange.ReadPeakRSSBytes) }, "%.0f", true},
		}},
		{"initial provisioning, no rate budget", []row{
			{"operations", func(s sizeResult) float64 { return float64(s.Provision.Operations) }, "%.0f", false},
			{"wall (s)", func(s sizeResult) float64 { return s.Provision.WallSeconds }, "%.1f", true},
			{"operations/s", func(s sizeResult) float64 { return s.Provision.OpsPerSecond }, "%.0f", false},
			{"syncd CPU/operation (ms)", func(s sizeResult) float64 { return s.Provision.CPUPerOpMillis }, "%.3f", true},
			{"peak RSS (MiB)", func(s sizeResult) float64 { return mib(s.Provision.PeakRSSBytes) }, "%.0f", true},
		}},
	}
	// A kind of run not measured (-read) has no rows.
	measured := func(f func(sizeResult) float64) bool {
		return len(r.Sizes) > 0 && f(r.Sizes[0]) > 0
	}
	kept := t.sections[:0]
	for _, s := range t.sections {
		if measured(s.rows[0].value) {
			kept = append(kept, s)
		}
	}
	t.sections = kept
	return t
}

func (t table) print(out io.Writer) {
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	head := []string{"users"}
	for _, s := range t.sizes {
		head = append(head, thousands(s.Users))
	}
	growthCol := len(t.sizes) > 1
	if growthCol {
		head = append(head, fmt.Sprintf("%s/%s", thousands(t.sizes[len(t.sizes)-1].Users), thousands(t.sizes[0].Users)))
	}
	// The first column is padded here so that it reads left-aligned while
	// the figures align right.
	width := len(head[0])
	for _, s := range t.sections {
		width = max(width, len(s.title))
		for _, r := range s.rows {
			width = max(width, len(r.metric)+2)
		}
	}
	line := func(cells []string) {
		cells[0] = fmt.Sprintf("%-*s", width, cells[0])
		fmt.Fprintln(tw, strings.Join(cells, "\t")+"\t")
	}
	line(head)
	for _, s := range t.sections {
		line(append([]string{s.title}, make([]string, len(head)-1)...))
		for _, r := range s.rows {
			cells := []string{"  " + r.metric}
			var first, last float64
			for i, sz := range t.sizes {
				v := r.value(sz)
				if i == 0 {
					first = v
				}
				last = v
				cells = append(cells, fmt.Sprintf(r.format, v))
			}
			if growthCol {
				g := ""
				if r.growth && first != 0 {
					g = fmt.Sprintf("%.1f×", last/first)
				}
				cells = append(cells, g)
			}
			line(cells)
		}
	}
	_ = tw.Flush()
}

func thousands(n int) string {
	s := fmt.Sprint(n)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}
