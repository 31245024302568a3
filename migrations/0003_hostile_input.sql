-- A run that died (killed, machine lost) leaves its row 'running'; the next
-- run, which holds the run lock, closes it as 'crashed'.
ALTER TABLE sync_runs DROP CONSTRAINT sync_runs_outcome_check;
ALTER TABLE sync_runs ADD CONSTRAINT sync_runs_outcome_check
    CHECK (outcome IN ('running', 'success', 'partial', 'failed', 'interrupted', 'skipped', 'crashed'));

-- Operations Omni refused in a way no retry can fix (a deactivated user holds
-- the email, the Omni user is linked to another entry, Omni judged the values
-- invalid). While the directory entry keeps the values that were refused
-- (desired_hash), the operation is not sent again; the admin is told what to
-- do instead.
CREATE TABLE held_operations (
    ldap_id       text        PRIMARY KEY,
    kind          text        NOT NULL,
    user_name     text        NOT NULL DEFAULT '',
    desired_hash  text        NOT NULL,
    reason        text        NOT NULL CHECK (octet_length(reason) <= 2048),
    action        text        NOT NULL DEFAULT '' CHECK (octet_length(action) <= 2048),
    http_status   integer     NOT NULL DEFAULT 0,
    run_id        bigint      REFERENCES sync_runs (id),
    first_at      timestamptz NOT NULL DEFAULT now(),
    last_tried_at timestamptz NOT NULL DEFAULT now(),
    attempts      integer     NOT NULL DEFAULT 1 CHECK (attempts >= 1)
);

-- Directory entries skipped by earlier runs, so that an entry is audited when
-- it is first skipped or its reason changes, not again on every run.
CREATE TABLE skipped_entries (
    dn_key        text        PRIMARY KEY,
    dn            text        NOT NULL,
    ldap_id       text        NOT NULL DEFAULT '',
    reason        text        NOT NULL,
    detail        text        NOT NULL DEFAULT '',
    first_run_id  bigint      REFERENCES sync_runs (id),
    first_seen_at timestamptz NOT NULL DEFAULT now()
);
