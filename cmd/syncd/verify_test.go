package main

import (
	"context"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
)

// syncd audit --verify says the chain is intact after real runs, and names
// the row an intruder changed behind the triggers' back.
func TestAuditVerify(t *testing.T) {
	w := newWorld(t, true, 8)
	if code, out, errOut := w.syncd(t, "--once"); code != exitOK {
		t.Fatalf("sync: exit %d\n%s%s", code, out, errOut)
	}
	code, out, _ := w.syncd(t, "audit", "--verify")
	if code != exitOK || !strings.Contains(out, "chain intact") {
		t.Fatalf("verify after a sync: exit %d\n%s", code, out)
	}
	ctx := context.Background()
	c, err := pgx.Connect(ctx, w.env["SYNCD_DATABASE_URL"])
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	for _, stmt := range []string{
		"ALTER TABLE audit_events DISABLE TRIGGER audit_events_no_update_delete",
		"UPDATE audit_events SET detail = 'nothing happened' WHERE id = (SELECT min(id) + 2 FROM audit_events)",
		"ALTER TABLE audit_events ENABLE TRIGGER audit_events_no_update_delete",
	} {
		if _, err := c.Exec(ctx, stmt); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
	}
	code, out, errOut := w.syncd(t, "audit", "--verify")
	if code != exitFailed || !strings.Contains(out+errOut, "changed") {
		t.Errorf("verify after tampering: exit %d\n%s%s", code, out, errOut)
	}
}
