-- Users syncd has linked to Omni, keyed by the directory's stable id. pushed
-- holds the values last sent to Omni so that a run can diff without asking Omni.
CREATE TABLE users (
    ldap_id          text        PRIMARY KEY,
    scim_id          text        NOT NULL,
    user_name        text        NOT NULL,
    pushed           jsonb       NOT NULL,
    content_hash     text        NOT NULL,
    status           text        NOT NULL CHECK (status IN ('active', 'deprovisioned')),
    origin           text        NOT NULL CHECK (origin IN ('created', 'adopted')),
    first_missing_at timestamptz,
    missing_runs     integer     NOT NULL DEFAULT 0 CHECK (missing_runs >= 0),
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now()
);

-- Omni refuses two users with one email, so two active links sharing a
-- userName mean two directory entries point at one Omni user: refuse it here
-- rather than let one entry's updates overwrite the other's.
CREATE UNIQUE INDEX users_active_user_name ON users (lower(user_name)) WHERE status = 'active';
CREATE INDEX users_scim_id ON users (scim_id);

CREATE TABLE sync_runs (
    id              bigserial   PRIMARY KEY,
    started_at      timestamptz NOT NULL DEFAULT now(),
    finished_at     timestamptz,
    dry_run         boolean     NOT NULL DEFAULT false,
    trigger         text        NOT NULL DEFAULT '',
    outcome         text        NOT NULL DEFAULT 'running'
                    CHECK (outcome IN ('running', 'success', 'partial', 'failed', 'interrupted', 'skipped')),
    source_complete boolean     NOT NULL DEFAULT false,
    source_count    integer     NOT NULL DEFAULT 0,
    created         integer     NOT NULL DEFAULT 0,
    updated         integer     NOT NULL DEFAULT 0,
    reactivated     integer     NOT NULL DEFAULT 0,
    deprovisioned   integer     NOT NULL DEFAULT 0,
    unchanged       integer     NOT NULL DEFAULT 0,
    skipped         integer     NOT NULL DEFAULT 0,
    failed          integer     NOT NULL DEFAULT 0,
    guard_trips     text[]      NOT NULL DEFAULT '{}',
    error           text        NOT NULL DEFAULT ''
);

-- The plausibility guard compares each run with the last good one.
CREATE INDEX sync_runs_good ON sync_runs (id DESC)
    WHERE NOT dry_run AND source_complete AND outcome IN ('success', 'partial');

-- The journal: a row is written as pending before a request goes to Omni, so a
-- crash leaves evidence of a write whose outcome is unknown.
CREATE TABLE operations (
    id           bigserial   PRIMARY KEY,
    run_id       bigint      NOT NULL REFERENCES sync_runs (id),
    kind         text        NOT NULL
                 CHECK (kind IN ('create', 'update', 'reactivate', 'deactivate', 'delete', 'adopt')),
    ldap_id      text        NOT NULL,
    user_name    text        NOT NULL DEFAULT '',
    scim_id      text        NOT NULL DEFAULT '',
    status       text        NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'done', 'failed')),
    http_status  integer     NOT NULL DEFAULT 0,
    error        text        NOT NULL DEFAULT '',
    created_at   timestamptz NOT NULL DEFAULT now(),
    completed_at timestamptz
);

CREATE INDEX operations_pending ON operations (id) WHERE status = 'pending';

-- The audit log is append-only: what syncd did to Omni must stay provable
-- even after the fact. Action and outcome must say something.
CREATE TABLE audit_events (
    id          bigserial   PRIMARY KEY,
    run_id      bigint      REFERENCES sync_runs (id),
    at          timestamptz NOT NULL DEFAULT now(),
    action      text        NOT NULL CHECK (action <> ''),
    ldap_id     text        NOT NULL DEFAULT '',
    scim_id     text        NOT NULL DEFAULT '',
    user_name   text        NOT NULL DEFAULT '',
    changes     jsonb,
    outcome     text        NOT NULL CHECK (outcome <> ''),
    http_status integer     NOT NULL DEFAULT 0,
    error       text        NOT NULL DEFAULT '' CHECK (octet_length(error) <= 2048),
    detail      text        NOT NULL DEFAULT ''
);

CREATE INDEX audit_events_at ON audit_events (at, id);
CREATE INDEX audit_events_run ON audit_events (run_id, id);
CREATE INDEX audit_events_user_name ON audit_events (lower(user_name), at);

CREATE FUNCTION audit_events_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_events is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege',
              HINT = 'audit events are never changed or removed';
END;
$$;

-- Statement-level, so that even a statement matching no rows is refused.
CREATE TRIGGER audit_events_no_update_delete
    BEFORE UPDATE OR DELETE ON audit_events
    FOR EACH STATEMENT EXECUTE FUNCTION audit_events_append_only();

CREATE TRIGGER audit_events_no_truncate
    BEFORE TRUNCATE ON audit_events
    FOR EACH STATEMENT EXECUTE FUNCTION audit_events_append_only();
