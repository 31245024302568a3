-- The active users still marked missing, whom every incremental run loads
-- (their grace clock runs on): found through this index, not by reading
-- the whole table.
CREATE INDEX users_missing ON users (ldap_id) WHERE status = 'active' AND first_missing_at IS NOT NULL;
