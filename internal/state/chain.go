package state

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
)

// The audit log is a hash chain: each row written by syncd holds its
// position seq, the hash of the row at seq-1 (prev_hash) and its own hash,
// sha256 over prev_hash and every stored column but id. The first hashed
// row's prev_hash is genesisHash. Rows written before migration 0002 have a
// seq but no hashes; they are the chain's unhashed prefix.
//
// The chain makes changing, removing or inserting a row evident, even to
// the table's owner with the triggers disabled. It cannot tell that rows
// were cut off the end, or that the owner rewrote every hash after a row:
// compare the head (seq and hash) that syncd audit --verify prints with one
// recorded earlier, and run syncd as a role that does not own the table
// (docs/database-roles.md).
const genesisHash = "0000000000000000000000000000000000000000000000000000000000000000"

// atLayout encodes at in the hash: UTC, always six fractional digits, which
// is exactly what timestamptz stores.
const atLayout = "2006-01-02T15:04:05.000000Z07:00"

const insertAudit = `
	INSERT INTO audit_events (run_id, at, action, ldap_id, scim_id, user_name, changes, outcome, http_status, error, detail,
		seq, prev_hash, hash)
	VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)`

// auditRow is one audit_events row as stored and hashed.
type auditRow struct {
	runID      pgtype.Int8
	at         time.Time
	action     string
	ldapID     string
	scimID     string
	userName   string
	changes    []byte // nil: SQL NULL
	outcome    string
	httpStatus int
	errText    string
	detail     string
	seq        int64
	prevHash   string
	hash       string
}

// newAuditRow is the row ev is stored as, with text bounded and the time
// set (now, unless ev has one) to the microsecond, so that the hashed value
// is the stored one.
func newAuditRow(ev AuditEvent) auditRow {
	at := ev.At
	if at.IsZero() {
		at = time.Now()
	}
	var changes []byte
	if len(ev.Changes) > 0 {
		// A map of strings always encodes.
		changes, _ = json.Marshal(ev.Changes)
	}
	return auditRow{
		runID:  pgtype.Int8{Int64: ev.RunID, Valid: ev.RunID != 0},
		at:     at.UTC().Truncate(time.Microsecond),
		action: ev.Action, ldapID: ev.LDAPID, scimID: ev.SCIMID, userName: ev.UserName,
		changes: changes, outcome: string(ev.Outcome), httpStatus: ev.HTTPStatus,
		errText: bound(ev.Error), detail: bound(ev.Detail),
	}
}

// args are insertAudit's arguments for r.
func (r *auditRow) args() []any {
	return []any{r.runID, r.at, r.action, r.ldapID, r.scimID, r.userName, r.changes,
		r.outcome, r.httpStatus, r.errText, r.detail, r.seq, r.prevHash, r.hash}
}

// computeHash is the hex sha256 of r's prev_hash and columns, each
// prefixed by its length so that no two rows encode alike. A NULL run_id or
// changes encodes as empty, which no present value does.
func (r *auditRow) computeHash() string {
	h := sha256.New()
	field := func(s string) {
		var n [8]byte
		binary.BigEndian.PutUint64(n[:], uint64(len(s)))
		h.Write(n[:])
		h.Write([]byte(s))
	}
	runID := ""
	if r.runID.Valid {
		runID = strconv.FormatInt(r.runID.Int64, 10)
	}
	field(r.prevHash)
	field(runID)
	field(r.at.UTC().Format(atLayout))
	field(r.action)
	field(r.ldapID)
	field(r.scimID)
	field(r.userName)
	field(string(r.changes))
	field(r.outcome)
	field(strconv.Itoa(r.httpStatus))
	field(r.errText)
	field(r.detail)
	field(strconv.FormatInt(r.seq, 10))
	return hex.EncodeToString(h.Sum(nil))
}

// appendAudit appends evs to the chain inside tx. Writers serialise on a
// transaction-scoped advisory lock taken before the head is read, so the
// head cannot move until tx ends: one lock and one head query per
// transaction, however many events.
func appendAudit(ctx context.Context, tx pgx.Tx, evs ...AuditEvent) error {
	if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", lockKeyAudit); err != nil {
		return fmt.Errorf("take audit lock: %w", err)
	}
	var (
		seq  int64
		head pgtype.Text
	)
	err := tx.QueryRow(ctx, "SELECT seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1").Scan(&seq, &head)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("read audit chain head: %w", err)
	}
	prev := genesisHash
	if head.Valid {
		prev = head.String
	}
	b := &pgx.Batch{}
	for _, ev := range evs {
		r := newAuditRow(ev)
		seq++
		r.seq, r.prevHash = seq, prev
		r.hash = r.computeHash()
		prev = r.hash
		b.Queue(insertAudit, r.args()...).Exec(func(tag pgconn.CommandTag) error {
			// A rule or trigger that swallows the row would break the
			// chain silently.
			if tag.RowsAffected() != 1 {
				return fmt.Errorf("audit event %d was not stored (%s)", r.seq, tag)
			}
			return nil
		})
	}
	return tx.SendBatch(ctx, b).Close()
}

// AuditVerification is what VerifyAudit found.
type AuditVerification struct {
	OK       bool
	Checked  int64       // hashed rows recomputed and found intact
	Unhashed int64       // rows before the first hashed one: written before the chain existed
	HeadSeq  int64       // seq of the last intact hashed row; 0 if none
	HeadHash string      // its hash: record it to detect later truncation
	Break    *AuditBreak // the first break; nil when OK
}

// AuditBreak is where and how the chain breaks.
type AuditBreak struct {
	Seq     int64
	ID      int64
	Problem AuditProblem
	Detail  string
}

func (b *AuditBreak) String() string {
	return fmt.Sprintf("seq %d (event id %d): %s: %s", b.Seq, b.ID, b.Problem, b.Detail)
}

// AuditProblem names what is wrong at a break.
type AuditProblem string

const (
	// AuditRowChanged: the row's hash does not match its columns.
	AuditRowChanged AuditProblem = "hash mismatch, row changed"
	// AuditPrevHashMismatch: the row does not follow the one before it in
	// the chain, so a row was removed, inserted or re-hashed before it.
	AuditPrevHashMismatch AuditProblem = "prev_hash mismatch, row removed or inserted before it"
	// AuditSeqGap: positions are missing before the row.
	AuditSeqGap AuditProblem = "gap in seq, row removed or inserted"
	// AuditRowUnhashed: a row without a hash follows hashed rows, so it
	// was inserted bypassing syncd.
	AuditRowUnhashed AuditProblem = "no hash after hashed rows, row inserted bypassing syncd"
)

const selectChain = `
	SELECT id, seq, run_id, at, action, ldap_id, scim_id, user_name, changes, outcome, http_status, error, detail,
		prev_hash, hash
	FROM audit_events ORDER BY seq`

// VerifyAudit streams the audit log in chain order and recomputes the
// chain, stopping at the first break. An error means the log could not be
// read, not that it was tampered with.
func (s *Store) VerifyAudit(ctx context.Context) (AuditVerification, error) {
	ctx, cancel := withTimeout(ctx, bulkTimeout)
	defer cancel()
	rows, err := s.pool.Query(ctx, selectChain)
	if err != nil {
		return AuditVerification{}, fmt.Errorf("verify audit log: %w", err)
	}
	defer rows.Close()
	var (
		v         AuditVerification
		r         auditRow
		id        int64
		prev, hsh pgtype.Text
	)
	wantSeq := int64(1)
	for rows.Next() {
		if err := rows.Scan(&id, &r.seq, &r.runID, &r.at, &r.action, &r.ldapID, &r.scimID, &r.userName, &r.changes,
			&r.outcome, &r.httpStatus, &r.errText, &r.detail, &prev, &hsh); err != nil {
			return AuditVerification{}, fmt.Errorf("verify audit log: read event: %w", err)
		}
		if b := v.check(&r, id, wantSeq, prev, hsh); b != nil {
			v.Break = b
			return v, nil
		}
		wantSeq++
	}
	if err := rows.Err(); err != nil {
		return AuditVerification{}, fmt.Errorf("verify audit log: %w", err)
	}
	v.OK = true
	return v, nil
}

// check checks one row that should sit at wantSeq, counting it when intact.
func (v *AuditVerification) check(r *auditRow, id, wantSeq int64, prev, hsh pgtype.Text) *AuditBreak {
	brk := func(p AuditProblem, format string, args ...any) *AuditBreak {
		return &AuditBreak{Seq: r.seq, ID: id, Problem: p, Detail: fmt.Sprintf(format, args...)}
	}
	if r.seq != wantSeq {
		return brk(AuditSeqGap, "expected seq %d, found %d", wantSeq, r.seq)
	}
	if !hsh.Valid {
		if v.Checked > 0 {
			return brk(AuditRowUnhashed, "row has no hash, but seq %d before it has", v.HeadSeq)
		}
		v.Unhashed++
		return nil
	}
	wantPrev := genesisHash
	if v.Checked > 0 {
		wantPrev = v.HeadHash
	}
	if !prev.Valid || prev.String != wantPrev {
		return brk(AuditPrevHashMismatch, "prev_hash %s, but the chain before it ends in %s", prev.String, wantPrev)
	}
	canon, err := canonicalChanges(r.changes)
	if err != nil {
		return brk(AuditRowChanged, "changes %s", err)
	}
	r.changes, r.prevHash = canon, prev.String
	if got := r.computeHash(); got != hsh.String {
		return brk(AuditRowChanged, "stored hash %s, columns hash to %s", hsh.String, got)
	}
	v.Checked++
	v.HeadSeq, v.HeadHash = r.seq, hsh.String
	return nil
}

// canonicalChanges re-encodes stored changes the way syncd encoded them
// before storing, since jsonb keeps the value and not the text. Anything
// syncd could not have written, such as extra fields, is an error.
func canonicalChanges(stored []byte) ([]byte, error) {
	if stored == nil {
		return nil, nil
	}
	var m map[string]Change
	dec := json.NewDecoder(bytes.NewReader(stored))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("are not what syncd writes: %w", err)
	}
	canon, _ := json.Marshal(m)
	var a, b any
	if json.Unmarshal(stored, &a) != nil || json.Unmarshal(canon, &b) != nil || !reflect.DeepEqual(a, b) {
		return nil, errors.New("are not what syncd writes")
	}
	return canon, nil
}
