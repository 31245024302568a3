-- Chain the audit log so that tampering is evident. The append-only triggers
-- stop accidents, but the table's owner can disable them, replace their
-- function, or insert rows by hand. Each row written from now on carries its
-- position (seq), the hash of the row before it (prev_hash) and its own hash:
-- sha256 over prev_hash and every stored column but id, computed by syncd
-- (internal/state/chain.go). Changing, removing or inserting a row breaks
-- the chain, and syncd audit --verify says where.
ALTER TABLE audit_events
    ADD COLUMN seq       bigint,
    ADD COLUMN prev_hash text,
    ADD COLUMN hash      text;

-- Rows written before this migration take their place in the chain in the
-- order they were written, unhashed: they are the chain's unhashed prefix.
-- Giving them a position is the one update the log ever sees, so the
-- append-only trigger steps aside for it, inside this transaction only.
ALTER TABLE audit_events DISABLE TRIGGER audit_events_no_update_delete;
UPDATE audit_events a SET seq = o.seq
FROM (SELECT id, row_number() OVER (ORDER BY id) AS seq FROM audit_events) o
WHERE a.id = o.id;
ALTER TABLE audit_events ENABLE TRIGGER audit_events_no_update_delete;

-- seq has no default: a row inserted without syncd must pick a position,
-- and one without a hash after hashed rows is reported by verification.
ALTER TABLE audit_events
    ALTER COLUMN seq SET NOT NULL,
    ADD CONSTRAINT audit_events_seq_key UNIQUE (seq),
    ADD CONSTRAINT audit_events_seq_positive CHECK (seq > 0),
    ADD CONSTRAINT audit_events_hashed_together CHECK ((prev_hash IS NULL) = (hash IS NULL)),
    ADD CONSTRAINT audit_events_hash_hex CHECK (hash ~ '^[0-9a-f]{64}$' AND prev_hash ~ '^[0-9a-f]{64}$');
