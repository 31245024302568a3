-- Which process ran each run (host and pid), so that replicas can be told
-- apart in the record of who held the run lock when.
ALTER TABLE sync_runs ADD COLUMN runner text NOT NULL DEFAULT '';
