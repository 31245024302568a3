package syncer

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/syncd-dev/syncd/internal/diff"
	"github.com/syncd-dev/syncd/internal/state"
)

// WriteText prints a plan (and, after a real run, its outcome) for a person:
// one line per change, then a summary line.
func WriteText(w io.Writer, rep *Report) error {
	var b strings.Builder
	p := &rep.Plan
	for _, op := range p.Create {
		fmt.Fprintf(&b, "+ create %s (%s)\n", op.User.UserName, strconv.Quote(op.User.DisplayName))
	}
	for _, op := range p.Update {
		fmt.Fprintf(&b, "~ update %s %s\n", op.User.UserName, changes(op.Changes))
	}
	for _, op := range p.Reactivate {
		line := "~ reactivate " + op.User.UserName
		if len(op.Changes) > 0 {
			line += " " + changes(op.Changes)
		}
		b.WriteString(line + "\n")
	}
	for _, op := range p.Deprovision {
		fmt.Fprintf(&b, "- %s %s (%s)\n", rep.Deprovision, op.User.UserName, op.Reason)
	}
	for _, op := range p.Waiting {
		due := ""
		if !op.Due.IsZero() {
			due = ", due " + op.Due.UTC().Format("2006-01-02 15:04 MST")
		}
		fmt.Fprintf(&b, "  waiting %s (%s; grace period%s)\n", op.User.UserName, op.Reason, due)
	}
	for _, op := range p.Held {
		fmt.Fprintf(&b, "  held %s (%s; not deprovisioned this run)\n", op.User.UserName, op.Reason)
	}
	writeGroups(&b, rep)
	for _, op := range p.Blocked {
		fmt.Fprintf(&b, "! blocked %s %s (%s)\n", op.Kind, op.User.UserName, op.Reason)
	}
	for _, sk := range rep.Skipped {
		fmt.Fprintf(&b, "! skip %s: %s", sk.DN, sk.Reason)
		if sk.Detail != "" {
			b.WriteString(" (" + sk.Detail + ")")
		}
		b.WriteString("\n")
	}
	for _, u := range rep.Unmanaged {
		fmt.Fprintf(&b, "  unmanaged %s (in Omni, not in the directory; left alone)\n", u.UserName)
	}
	for _, t := range rep.GuardTrips {
		fmt.Fprintf(&b, "! guard: %s\n", t)
	}
	for _, k := range rep.KeysRefused {
		fmt.Fprintf(&b, "! API key %d refused by Omni; the run went on with the others: replace it\n", k.Position)
	}
	if rep.Incomplete != "" {
		fmt.Fprintf(&b, "! directory search incomplete: %s\n", rep.Incomplete)
	}
	fmt.Fprintf(&b, "Plan: %d to create, %d to update, %d to reactivate, %d to %s, %d unchanged, %d skipped.\n",
		len(p.Create), len(p.Update), len(p.Reactivate), len(p.Deprovision), rep.Deprovision, p.Unchanged, len(rep.Skipped))
	if g := &rep.Groups; rep.GroupsEnabled {
		fmt.Fprintf(&b, "Groups: %d to create, %d to update, %d to delete, %d unchanged, %d skipped.\n",
			len(g.Create), len(g.Update), len(g.Delete), g.Unchanged, len(rep.GroupSkipped))
	}
	if !rep.DryRun {
		c := rep.Counts
		fmt.Fprintf(&b, "Applied: %d created, %d adopted, %d updated, %d reactivated, %d deprovisioned, %d failed.\n",
			c.Created, c.Adopted, c.Updated, c.Reactivated, c.Deprovisioned, c.Failed)
		for _, r := range rep.Results {
			if r.Outcome != state.AuditOK {
				fmt.Fprintf(&b, "! failed %s %s: %s\n", r.Action, r.UserName, r.Error)
			}
		}
	} else if !p.Changes() && !rep.Groups.Changes() {
		b.WriteString("Nothing to change.\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func changes(cs []diff.FieldChange) string {
	parts := make([]string, 0, len(cs))
	for _, c := range cs {
		parts = append(parts, fmt.Sprintf("%s: %s -> %s", c.Field, strconv.Quote(c.Before), strconv.Quote(c.After)))
	}
	return strings.Join(parts, ", ")
}

// WriteJSON prints the report as one JSON document for machines.
func WriteJSON(w io.Writer, rep *Report) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(jsonReport(rep))
}

type jsonOp struct {
	ID          string             `json:"id"`
	UserName    string             `json:"userName"`
	DisplayName string             `json:"displayName,omitempty"`
	SCIMID      string             `json:"scimId,omitempty"`
	Changes     []diff.FieldChange `json:"changes,omitempty"`
	Reason      string             `json:"reason,omitempty"`
	Due         string             `json:"due,omitempty"`
}

func jsonOps(ops []diff.Op) []jsonOp {
	out := make([]jsonOp, 0, len(ops))
	for _, op := range ops {
		j := jsonOp{ID: op.User.ID, UserName: op.User.UserName, Changes: op.Changes, Reason: op.Reason}
		if op.Kind == diff.Create {
			j.DisplayName = op.User.DisplayName
		}
		if op.Known != nil {
			j.SCIMID = op.Known.SCIMID
		}
		if !op.Due.IsZero() {
			j.Due = op.Due.UTC().Format("2006-01-02T15:04:05Z")
		}
		out = append(out, j)
	}
	return out
}

// jsonReportDoc is the JSON report. Fields are in name order, so the
// document reads the same as it always has.
type jsonReportDoc struct {
	Blocked     []jsonOp    `json:"blocked"`
	Counts      *Counts     `json:"counts,omitempty"`
	Create      []jsonOp    `json:"create"`
	Deprovision []jsonOp    `json:"deprovision"`
	Mode        string      `json:"deprovisionMode"`
	DryRun      bool        `json:"dryRun"`
	Error       string      `json:"error,omitempty"`
	GuardTrips  []string    `json:"guardTrips"`
	Groups      *jsonGroups `json:"groups,omitempty"`
	Held        []jsonOp    `json:"held"`
	Incomplete  string      `json:"incomplete,omitempty"`
	Outcome     string      `json:"outcome"`
	Reactivate  []jsonOp    `json:"reactivate"`
	Results     *[]OpResult `json:"results,omitempty"`
	RunID       int64       `json:"runId,omitempty"`
	Skipped     any         `json:"skipped"`
	Summary     jsonSummary `json:"summary"`
	Unmanaged   []string    `json:"unmanaged"`
	Update      []jsonOp    `json:"update"`
	Waiting     []jsonOp    `json:"waiting"`
}

type jsonSummary struct {
	Blocked     int `json:"blocked"`
	Create      int `json:"create"`
	Deprovision int `json:"deprovision"`
	Entries     int `json:"entries"`
	Held        int `json:"held"`
	InScope     int `json:"inScope"`
	Reactivate  int `json:"reactivate"`
	Skipped     int `json:"skipped"`
	Unchanged   int `json:"unchanged"`
	Update      int `json:"update"`
	Waiting     int `json:"waiting"`
}

func jsonReport(rep *Report) jsonReportDoc {
	p := &rep.Plan
	unmanaged := make([]string, 0, len(rep.Unmanaged))
	for _, u := range rep.Unmanaged {
		unmanaged = append(unmanaged, u.UserName)
	}
	out := jsonReportDoc{
		DryRun:      rep.DryRun,
		Outcome:     string(rep.Outcome),
		Mode:        rep.Deprovision,
		Create:      jsonOps(p.Create),
		Update:      jsonOps(p.Update),
		Reactivate:  jsonOps(p.Reactivate),
		Deprovision: jsonOps(p.Deprovision),
		Waiting:     jsonOps(p.Waiting),
		Held:        jsonOps(p.Held),
		Blocked:     jsonOps(p.Blocked),
		Skipped:     rep.Skipped,
		Unmanaged:   unmanaged,
		GuardTrips:  rep.GuardTrips,
		Incomplete:  rep.Incomplete,
		Error:       rep.Error,
		Groups:      jsonGroupReport(rep),
		Summary: jsonSummary{
			Entries: rep.Entries, InScope: rep.InScope,
			Create: len(p.Create), Update: len(p.Update), Reactivate: len(p.Reactivate),
			Deprovision: len(p.Deprovision), Waiting: len(p.Waiting), Held: len(p.Held), Blocked: len(p.Blocked),
			Unchanged: p.Unchanged, Skipped: len(rep.Skipped),
		},
	}
	if !rep.DryRun {
		out.RunID, out.Counts, out.Results = rep.RunID, &rep.Counts, &rep.Results
	}
	return out
}
