-- Where incremental reads resume: the mechanism's position (a syncrepl
-- cookie, or an Active Directory DC's identity and uSN watermark), stored
-- only after the run that consumed the changes committed, with when the
-- last full read was and how many users it found, so that an incremental
-- run need not count the directory.
CREATE TABLE read_cursors (
    name         text        PRIMARY KEY,
    mechanism    text        NOT NULL CHECK (mechanism IN ('syncrepl', 'usn')),
    cookie       bytea       NOT NULL,
    full_read_at timestamptz NOT NULL,
    source_count integer     NOT NULL CHECK (source_count >= 0),
    updated_at   timestamptz NOT NULL DEFAULT now()
);
