-- Execution made exact: what identifies a run on its target besides PostgreSQL's txid (the
-- target session — PostgreSQL backend pid or MySQL connection id — and the key of the marker
-- row written inside the run's transaction on MySQL/MariaDB and SQLite), what the database
-- counted as changed per table (JSON), and what the guard compared against.
ALTER TABLE executions ADD COLUMN target_session TEXT;
ALTER TABLE executions ADD COLUMN marker TEXT;
ALTER TABLE executions ADD COLUMN tables TEXT;
ALTER TABLE executions ADD COLUMN guard_source TEXT;
-- Runs not yet finished, looked at by every instance's reconciler.
CREATE INDEX executions_open ON executions (request_id) WHERE outcome IS NULL;
