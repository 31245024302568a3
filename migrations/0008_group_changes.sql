-- What incremental reads of groups need: each group entry and each user
-- entry as the directory last gave them, so that a run works out again only
-- the groups its changes name and resolves their members without loading
-- every user; and each linked user's DN in the form group members are
-- matched in, for the users no longer in the directory.
--
-- dn_key is identity.NormalizeDN of the DN. PostgreSQL cannot compute it,
-- so syncd fills it for the users already stored when it applies this
-- migration, and writes it with every user from then on.
ALTER TABLE users ADD COLUMN dn_key text;
-- Why a user or group in its grace period is: "not in directory" or
-- "disabled in directory", for the runs that do not read it again.
ALTER TABLE users ADD COLUMN missing_reason text NOT NULL DEFAULT '';
ALTER TABLE groups ADD COLUMN missing_reason text NOT NULL DEFAULT '';
CREATE INDEX users_dn_key ON users (dn_key);

-- One row per group entry of the last read (mapped or skipped): its DN and
-- lower-cased name (both as keys), its name, its direct member DNs
-- (normalized, member groups included) or member logins, and, for an entry
-- that could not be mapped, why.
CREATE TABLE directory_groups (
    ldap_id     text   PRIMARY KEY,
    dn_key      text   NOT NULL,
    name        text   NOT NULL,
    name_key    text   NOT NULL,
    member_dns  text[] NOT NULL,
    logins      text[] NOT NULL,
    skip_reason text   NOT NULL DEFAULT '',
    skip_detail text   NOT NULL DEFAULT ''
);
CREATE INDEX directory_groups_dn_key ON directory_groups (dn_key);
CREATE INDEX directory_groups_name_key ON directory_groups (name_key);
CREATE INDEX directory_groups_members ON directory_groups USING gin (member_dns);

-- One row per user entry of the last read (mapped or skipped): its DN (as a
-- key), whether it mapped to a user and whether that user is enabled.
CREATE TABLE directory_users (
    ldap_id text    PRIMARY KEY,
    dn_key  text    NOT NULL,
    mapped  boolean NOT NULL,
    active  boolean NOT NULL
);
CREATE INDEX directory_users_dn_key ON directory_users (dn_key);
