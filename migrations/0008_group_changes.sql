-- What incremental reads of groups need: each group entry as the
-- directory last gave it, so that a run re-reads only the groups its
-- changes name, and each user's DN in the form group members are matched
-- in, so that a group's members resolve without loading every user.
--
-- dn_key is identity.NormalizeDN of the DN. PostgreSQL cannot compute it,
-- so syncd fills it for the users already stored when it applies this
-- migration, and writes it with every user from then on.
ALTER TABLE users ADD COLUMN dn_key text;
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
