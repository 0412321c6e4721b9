-- A running execution beats every few seconds; one whose heartbeat stopped belongs to a server
-- that died, and is reconciled. Live runs of other instances are left alone.
ALTER TABLE executions ADD COLUMN heartbeat_at TEXT;
