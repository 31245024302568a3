-- What syncd_app, the role the daemon runs as, may do. Run as syncd_owner,
-- which owns every table, after each `syncd migrate`; running it again is
-- harmless.
GRANT USAGE ON SCHEMA public TO syncd_app;

-- The state tables: read and write.
GRANT SELECT, INSERT, UPDATE, DELETE ON users, groups, operations, sync_runs, held_operations, skipped_entries, read_cursors, directory_groups, directory_users TO syncd_app;
-- The migration bookkeeping: read only, to see that nothing is pending.
GRANT SELECT ON schema_migrations TO syncd_app;
REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON schema_migrations FROM syncd_app;
-- The audit log: read and append, never change or remove.
GRANT SELECT, INSERT ON audit_events TO syncd_app;
REVOKE UPDATE, DELETE, TRUNCATE ON audit_events FROM syncd_app;
-- The id sequences behind bigserial columns.
GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO syncd_app;

-- Tables and sequences that later migrations create get the same as the
-- state tables. A migration adding another append-only table revokes
-- UPDATE, DELETE and TRUNCATE on it, as above for audit_events.
ALTER DEFAULT PRIVILEGES FOR ROLE syncd_owner IN SCHEMA public
    GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO syncd_app;
ALTER DEFAULT PRIVILEGES FOR ROLE syncd_owner IN SCHEMA public
    GRANT USAGE ON SEQUENCES TO syncd_app;
