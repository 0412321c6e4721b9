-- Rehearsals (design §10): a revision run on its target (or a copy) in a transaction that is
-- always rolled back. `status`: running, done, error, timeout, skipped. `result` is the JSON of
-- what it found (tables, statements with their counts, skips and samples — masked before they
-- are stored); `rows_affected` its total, for the execution's guard. `requested_by` is null when
-- the system started it.
CREATE TABLE rehearsals (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    request_id    INTEGER NOT NULL REFERENCES requests (id),
    revision      INTEGER NOT NULL,
    on_target     TEXT NOT NULL,
    requested_by  INTEGER REFERENCES users (id),
    status        TEXT NOT NULL,
    started_at    TEXT NOT NULL,
    finished_at   TEXT,
    rows_affected INTEGER,
    result        TEXT,
    error         TEXT
);
CREATE INDEX rehearsals_request ON rehearsals (request_id, revision, id);
-- Rehearsals a stopped server left running, settled at start-up.
CREATE INDEX rehearsals_running ON rehearsals (id) WHERE status = 'running';
