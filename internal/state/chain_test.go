package state

import (
	"fmt"
	"io/fs"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/syncd-dev/syncd/internal/identity"
	"github.com/syncd-dev/syncd/internal/testsupport/pgtest"
	"github.com/syncd-dev/syncd/migrations"
)

// chainedStore returns a migrated store whose audit log holds five chained
// events (seq 1-5): a batch of three, one through CompleteOp, and one more.
func chainedStore(t *testing.T) *Store {
	t.Helper()
	ctx := testContext(t)
	s := newStore(t)
	run := mustRun(t, s)
	t0 := time.Date(2026, 7, 1, 12, 0, 0, 123456789, time.UTC) // nanoseconds: stored to the microsecond
	if err := s.Audit(ctx,
		AuditEvent{RunID: run, At: t0, Action: "skip", Outcome: "skipped", Detail: "no email"},
		AuditEvent{Action: "guard", Outcome: "tripped", Changes: map[string]Change{"z": {After: "<&>"}, "a": {Before: "x"}}},
		AuditEvent{RunID: run, Action: "skip", Outcome: "skipped", UserName: "Ada@example.org", HTTPStatus: 409, Error: "conflict"},
	); err != nil {
		t.Fatal(err)
	}
	link(t, s, run, identity.Linked{
		User:   identity.User{ID: "id-1", UserName: "ada@example.org", DisplayName: "Ada", Active: true},
		SCIMID: "omni-1", Status: identity.StatusActive, Origin: identity.OriginCreated,
	})
	if err := s.Audit(ctx, AuditEvent{Action: "guard", Outcome: "ok"}); err != nil {
		t.Fatal(err)
	}
	return s
}

// verify runs VerifyAudit, failing the test on an error.
func verify(t *testing.T, s *Store) AuditVerification {
	t.Helper()
	v, err := s.VerifyAudit(testContext(t))
	if err != nil {
		t.Fatalf("VerifyAudit: %v", err)
	}
	if v.OK != (v.Break == nil) {
		t.Errorf("OK %v with break %v", v.OK, v.Break)
	}
	return v
}

// tamper runs stmts as the table's owner with the append-only trigger
// disabled, as someone covering their tracks would.
func tamper(t *testing.T, s *Store, stmts ...string) {
	t.Helper()
	ctx := testContext(t)
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		stmts = append(append([]string{"ALTER TABLE audit_events DISABLE TRIGGER audit_events_no_update_delete"}, stmts...),
			"ALTER TABLE audit_events ENABLE TRIGGER audit_events_no_update_delete")
		for _, stmt := range stmts {
			if _, err := tx.Exec(ctx, stmt); err != nil {
				return fmt.Errorf("%s: %w", stmt, err)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestAuditChainVerifies(t *testing.T) {
	s := chainedStore(t)
	v := verify(t, s)
	if !v.OK || v.Checked != 5 || v.Unhashed != 0 || v.HeadSeq != 5 || len(v.HeadHash) != 64 {
		t.Fatalf("verification = %+v, want 5 intact events", v)
	}
	rows, err := s.pool.Query(testContext(t), "SELECT seq, prev_hash, hash FROM audit_events ORDER BY id")
	if err != nil {
		t.Fatal(err)
	}
	prev := genesisHash
	var seq int64
	for rows.Next() {
		var got int64
		var p, h string
		if err := rows.Scan(&got, &p, &h); err != nil {
			t.Fatal(err)
		}
		seq++
		if got != seq || p != prev {
			t.Errorf("row %d: seq %d prev_hash %s, want seq %d after %s", seq, got, p, seq, prev)
		}
		prev = h
	}
	if rows.Err() != nil || seq != 5 {
		t.Fatalf("read %d rows: %v", seq, rows.Err())
	}
	if prev != v.HeadHash {
		t.Errorf("head hash %s, last row's %s", v.HeadHash, prev)
	}
}

// TestVerifyAuditFindsChangedRow: the table owner disables the trigger and
// edits a row; verification names that row.
func TestVerifyAuditFindsChangedRow(t *testing.T) {
	for _, tt := range []struct {
		name string
		seq  int64
		set  string
	}{
		{"detail", 3, "detail = 'nothing happened'"},
		{"back-dated", 1, "at = at - interval '30 days'"},
		{"changes gain a field", 2, `changes = '{"a": {"before": "x", "after": "", "by": "me"}, "z": {"before": "", "after": "<&>"}}'`},
		{"changes emptied", 2, "changes = '{}'"},
		{"run removed", 4, "run_id = NULL"},
		{"hash rewritten", 5, "detail = 'x', hash = md5('x') || md5('y')"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := chainedStore(t)
			tamper(t, s, fmt.Sprintf("UPDATE audit_events SET %s WHERE seq = %d", tt.set, tt.seq))
			v := verify(t, s)
			if v.OK || v.Break.Seq != tt.seq || v.Break.Problem != AuditRowChanged {
				t.Fatalf("verification = %+v (%v), want %s at seq %d", v, v.Break, AuditRowChanged, tt.seq)
			}
			if v.Checked != tt.seq-1 || v.HeadSeq != tt.seq-1 {
				t.Errorf("checked %d rows up to seq %d before the break at %d", v.Checked, v.HeadSeq, tt.seq)
			}
		})
	}
}

// TestVerifyAuditFindsRemovedRow: a deleted row leaves a gap in seq.
func TestVerifyAuditFindsRemovedRow(t *testing.T) {
	for _, tt := range []struct {
		name   string
		delete string
		at     int64
	}{
		{"middle", "seq = 3", 4},
		{"first", "seq = 1", 2},
		{"two", "seq IN (2, 3)", 4},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := chainedStore(t)
			tamper(t, s, "DELETE FROM audit_events WHERE "+tt.delete)
			v := verify(t, s)
			if v.OK || v.Break.Seq != tt.at || v.Break.Problem != AuditSeqGap {
				t.Fatalf("verification = %+v (%v), want %s at seq %d", v, v.Break, AuditSeqGap, tt.at)
			}
		})
	}
}

// TestVerifyAuditFindsInsertedRow: rows inserted with plain SQL, the
// triggers untouched, are reported whether or not they carry a hash.
func TestVerifyAuditFindsInsertedRow(t *testing.T) {
	const backDated = `INSERT INTO audit_events (at, action, outcome, detail, seq, prev_hash, hash)
		VALUES (now() - interval '90 days', 'delete', 'done', 'approved', %s, %s, %s)`
	head := "(SELECT hash FROM audit_events WHERE seq = 5)"
	for _, tt := range []struct {
		name    string
		insert  string
		at      int64
		problem AuditProblem
	}{
		{"no hash", fmt.Sprintf(backDated, "6", "NULL", "NULL"), 6, AuditRowUnhashed},
		{"forged hash", fmt.Sprintf(backDated, "6", head, "encode(sha256('delete done approved'), 'hex')"), 6, AuditRowChanged},
		{"copied hash", fmt.Sprintf(backDated, "6", head, head), 6, AuditRowChanged},
		{"skipping a position", fmt.Sprintf(backDated, "7", head, "encode(sha256('x'), 'hex')"), 7, AuditSeqGap},
		{"before the chain", "ALTER TABLE audit_events DROP CONSTRAINT audit_events_seq_positive; " +
			fmt.Sprintf(backDated, "0", "NULL", "NULL"), 0, AuditSeqGap},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := chainedStore(t)
			if _, err := s.pool.Exec(testContext(t), tt.insert); err != nil {
				t.Fatal(err)
			}
			v := verify(t, s)
			if v.OK || v.Break.Seq != tt.at || v.Break.Problem != tt.problem {
				t.Fatalf("verification = %+v (%v), want %s at seq %d", v, v.Break, tt.problem, tt.at)
			}
			// syncd's next event still chains on; the break stays reported.
			if err := s.Audit(testContext(t), AuditEvent{Action: "skip", Outcome: "skipped"}); err != nil {
				t.Fatal(err)
			}
			if v := verify(t, s); v.OK || v.Break.Seq != tt.at {
				t.Errorf("after another event: %+v (%v)", v, v.Break)
			}
		})
	}
}

// TestAuditChainConcurrently has several goroutines, on two stores as two
// replicas would be, write events at once: the chain must come out as one,
// with every seq once and no fork.
func TestAuditChainConcurrently(t *testing.T) {
	url := pgtest.NewDatabase(t)
	a := openStore(t, url)
	if _, err := a.Migrate(testContext(t)); err != nil {
		t.Fatal(err)
	}
	b := openStore(t, url)
	run := mustRun(t, a)
	const writers, each = 8, 10
	ctx := testContext(t)
	errs := make(chan error, writers*each)
	var wg sync.WaitGroup
	for w := range writers {
		s := []*Store{a, b}[w%2]
		wg.Go(func() {
			for i := range each {
				if w%4 == 3 {
					op, err := s.BeginOp(ctx, Op{RunID: run, Kind: "update", LDAPID: fmt.Sprintf("id-%d-%d", w, i)})
					if err == nil {
						op.Status = OpFailed
						err = s.CompleteOp(ctx, op, nil, AuditEvent{Action: "update", Outcome: "failed"})
					}
					errs <- err
					continue
				}
				evs := make([]AuditEvent, 1+i%3)
				for j := range evs {
					evs[j] = AuditEvent{RunID: run, Action: "skip", Outcome: "skipped", Detail: fmt.Sprintf("%d/%d/%d", w, i, j)}
				}
				errs <- s.Audit(ctx, evs...)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	var n, distinct, maxSeq, prevs int64
	if err := a.pool.QueryRow(ctx, `SELECT count(*), count(DISTINCT seq), max(seq), count(DISTINCT prev_hash)
		FROM audit_events`).Scan(&n, &distinct, &maxSeq, &prevs); err != nil {
		t.Fatal(err)
	}
	if n != distinct || n != maxSeq || n != prevs {
		t.Errorf("%d rows, %d distinct seq up to %d, %d distinct prev_hash: want one unforked chain", n, distinct, maxSeq, prevs)
	}
	v := verify(t, a)
	if !v.OK || v.Checked != n {
		t.Errorf("verification = %+v (%v), want %d intact events", v, v.Break, n)
	}
}

// TestAuditChainAfterUnhashedPrefix: rows written before migration 0002 get
// positions and stay unhashed; the chain starts after them.
func TestAuditChainAfterUnhashedPrefix(t *testing.T) {
	ctx := testContext(t)
	s := openStore(t, pgtest.NewDatabase(t))
	first, err := fs.ReadFile(migrations.FS, "0001_init.sql")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.migrate(ctx, fstest.MapFS{"0001_init.sql": {Data: first}}); err != nil {
		t.Fatal(err)
	}
	for _, detail := range []string{"old 1", "old 2", "old 3"} {
		if _, err := s.pool.Exec(ctx, "INSERT INTO audit_events (action, outcome, detail) VALUES ('skip', 'skipped', $1)", detail); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.Audit(ctx, AuditEvent{Action: "skip", Outcome: "skipped"}, AuditEvent{Action: "guard", Outcome: "ok"}); err != nil {
		t.Fatal(err)
	}
	v := verify(t, s)
	if !v.OK || v.Unhashed != 3 || v.Checked != 2 || v.HeadSeq != 5 {
		t.Fatalf("verification = %+v (%v), want 3 unhashed then 2 intact", v, v.Break)
	}
	evs, err := s.ListAudit(ctx, AuditFilter{})
	if err != nil || len(evs) != 5 || evs[0].Detail != "old 1" {
		t.Fatalf("ListAudit = %+v, %v", evs, err)
	}

	// Stripping the hashes off the chain's first row does not make it
	// part of the prefix: the next row no longer follows.
	tamper(t, s, "UPDATE audit_events SET prev_hash = NULL, hash = NULL WHERE seq = 4")
	if v := verify(t, s); v.OK || v.Break.Seq != 5 || v.Break.Problem != AuditPrevHashMismatch {
		t.Errorf("verification = %+v (%v), want %s at seq 5", v, v.Break, AuditPrevHashMismatch)
	}
}
