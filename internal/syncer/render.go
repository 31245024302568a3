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
	if rep.Incomplete != "" {
		fmt.Fprintf(&b, "! directory search incomplete: %s\n", rep.Incomplete)
	}
	fmt.Fprintf(&b, "Plan: %d to create, %d to update, %d to reactivate, %d to %s, %d unchanged, %d skipped.\n",
		len(p.Create), len(p.Update), len(p.Reactivate), len(p.Deprovision), rep.Deprovision, p.Unchanged, len(rep.Skipped))
	if !rep.DryRun {
		c := rep.Counts
		fmt.Fprintf(&b, "Applied: %d created, %d adopted, %d updated, %d reactivated, %d deprovisioned, %d failed.\n",
			c.Created, c.Adopted, c.Updated, c.Reactivated, c.Deprovisioned, c.Failed)
		for _, r := range rep.Results {
			if r.Outcome != state.AuditOK {
				fmt.Fprintf(&b, "! failed %s %s: %s\n", r.Action, r.UserName, r.Error)
			}
		}
	} else if !p.Changes() {
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

func jsonReport(rep *Report) any {
	p := &rep.Plan
	unmanaged := make([]string, 0, len(rep.Unmanaged))
	for _, u := range rep.Unmanaged {
		unmanaged = append(unmanaged, u.UserName)
	}
	out := map[string]any{
		"dryRun":          rep.DryRun,
		"outcome":         rep.Outcome,
		"deprovisionMode": rep.Deprovision,
		"create":          jsonOps(p.Create),
		"update":          jsonOps(p.Update),
		"reactivate":      jsonOps(p.Reactivate),
		"deprovision":     jsonOps(p.Deprovision),
		"waiting":         jsonOps(p.Waiting),
		"held":            jsonOps(p.Held),
		"blocked":         jsonOps(p.Blocked),
		"skipped":         rep.Skipped,
		"unmanaged":       unmanaged,
		"guardTrips":      rep.GuardTrips,
		"summary": map[string]int{
			"entries": rep.Entries, "inScope": rep.InScope,
			"create": len(p.Create), "update": len(p.Update), "reactivate": len(p.Reactivate),
			"deprovision": len(p.Deprovision), "waiting": len(p.Waiting), "held": len(p.Held), "blocked": len(p.Blocked),
			"unchanged": p.Unchanged, "skipped": len(rep.Skipped),
		},
	}
	if rep.Incomplete != "" {
		out["incomplete"] = rep.Incomplete
	}
	if !rep.DryRun {
		out["runId"] = rep.RunID
		out["counts"] = rep.Counts
		out["results"] = rep.Results
	}
	if rep.Error != "" {
		out["error"] = rep.Error
	}
	return out
}
