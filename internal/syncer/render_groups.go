package syncer

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/syncd-dev/syncd/internal/diff"
)

// writeGroups prints the group plan: one line per group that changes.
func writeGroups(b *strings.Builder, rep *Report) {
	if !rep.GroupsEnabled {
		return
	}
	g := &rep.Groups
	name := rep.userName
	for _, op := range g.Create {
		fmt.Fprintf(b, "+ group %s (%d members)\n", op.Group.Name, len(op.Add))
	}
	for _, op := range g.Update {
		var parts []string
		if op.Rename != "" && op.Known != nil {
			parts = append(parts, "renamed from "+strconv.Quote(op.Known.Name))
		}
		for _, id := range op.Add {
			parts = append(parts, "+"+name(id))
		}
		for _, id := range op.Remove {
			parts = append(parts, "-"+name(id))
		}
		fmt.Fprintf(b, "~ group %s: %s\n", op.Group.Name, strings.Join(parts, ", "))
	}
	for _, op := range g.Delete {
		fmt.Fprintf(b, "- group %s (%s)\n", op.Group.Name, op.Reason)
	}
	for _, op := range g.Waiting {
		fmt.Fprintf(b, "  waiting group %s (%s; grace period)\n", op.Group.Name, op.Reason)
	}
	for _, op := range g.Held {
		fmt.Fprintf(b, "  held group %s (%s; not deleted this run)\n", op.Group.Name, op.Reason)
	}
	for _, u := range g.Unresolved {
		fmt.Fprintf(b, "! group %s: member %s is no user in scope; not added\n", u.Group, u.Member)
	}
	for _, sk := range rep.GroupSkipped {
		fmt.Fprintf(b, "! skip group %s: %s", sk.DN, sk.Reason)
		if sk.Detail != "" {
			b.WriteString(" (" + sk.Detail + ")")
		}
		b.WriteString("\n")
	}
}

// jsonGroupOp is one group operation in the JSON report.
type jsonGroupOp struct {
	ID     string   `json:"id"`
	Name   string   `json:"name"`
	SCIMID string   `json:"scimId,omitempty"`
	Rename string   `json:"renamedFrom,omitempty"`
	Add    []string `json:"add,omitempty"`
	Remove []string `json:"remove,omitempty"`
	Reason string   `json:"reason,omitempty"`
}

type jsonGroups struct {
	Create     []jsonGroupOp     `json:"create"`
	Update     []jsonGroupOp     `json:"update"`
	Delete     []jsonGroupOp     `json:"delete"`
	Waiting    []jsonGroupOp     `json:"waiting"`
	Held       []jsonGroupOp     `json:"held"`
	Unchanged  int               `json:"unchanged"`
	Unresolved []diff.Unresolved `json:"unresolved"`
	Skipped    any               `json:"skipped"`
}

func jsonGroupReport(rep *Report) *jsonGroups {
	if !rep.GroupsEnabled {
		return nil
	}
	ops := func(in []diff.GroupOp) []jsonGroupOp {
		out := make([]jsonGroupOp, 0, len(in))
		for _, op := range in {
			j := jsonGroupOp{ID: op.Group.ID, Name: op.Group.Name, Reason: op.Reason}
			if op.Known != nil {
				j.SCIMID = op.Known.SCIMID
				if op.Rename != "" {
					j.Rename = op.Known.Name
				}
			}
			for _, id := range op.Add {
				j.Add = append(j.Add, rep.userName(id))
			}
			for _, id := range op.Remove {
				j.Remove = append(j.Remove, rep.userName(id))
			}
			out = append(out, j)
		}
		return out
	}
	g := &rep.Groups
	unresolved := g.Unresolved
	if unresolved == nil {
		unresolved = []diff.Unresolved{}
	}
	return &jsonGroups{Create: ops(g.Create), Update: ops(g.Update), Delete: ops(g.Delete), Waiting: ops(g.Waiting),
		Held: ops(g.Held), Unchanged: g.Unchanged, Unresolved: unresolved, Skipped: rep.GroupSkipped}
}

// userName names a group member by userName, or by directory id when the
// run did not get far enough to know it.
func (rep *Report) userName(id string) string {
	if rep.memberName == nil {
		return id
	}
	return rep.memberName(id)
}
