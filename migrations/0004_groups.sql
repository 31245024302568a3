-- Groups syncd has linked to Omni, keyed by the directory group's stable id.
-- members holds the directory ids of the users syncd put in the group: the
-- only members it may remove; members added by hand in Omni are not listed
-- and stay.
CREATE TABLE groups (
    ldap_id          text        PRIMARY KEY,
    scim_id          text        NOT NULL,
    name             text        NOT NULL,
    members          text[]      NOT NULL DEFAULT '{}',
    status           text        NOT NULL CHECK (status IN ('active', 'deleted')),
    origin           text        NOT NULL CHECK (origin IN ('created', 'adopted')),
    first_missing_at timestamptz,
    missing_runs     integer     NOT NULL DEFAULT 0 CHECK (missing_runs >= 0),
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now()
);

-- One directory group per Omni group.
CREATE UNIQUE INDEX groups_active_scim_id ON groups (scim_id) WHERE status = 'active';

-- Group writes are journaled like user writes.
ALTER TABLE operations DROP CONSTRAINT operations_kind_check;
ALTER TABLE operations ADD CONSTRAINT operations_kind_check
    CHECK (kind IN ('create', 'update', 'reactivate', 'deactivate', 'delete', 'adopt',
                    'group_create', 'group_adopt', 'group_update', 'group_delete'));

-- The plausibility guard for groups compares with the last good group read.
ALTER TABLE sync_runs
    ADD COLUMN group_source_complete boolean NOT NULL DEFAULT false,
    ADD COLUMN group_source_count    integer NOT NULL DEFAULT 0;
