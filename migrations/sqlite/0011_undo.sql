-- Undo (design §11): a revision may be submitted without undo (reviewers see it in words); a
-- request may revert another's execution; an execution says whether it can be undone
-- (JSON `{available, rows, reason}`); the images of the rows it changed, one a row, stored
-- `pending` before the target commits and confirmed after (or removed when it did not).
ALTER TABLE revisions ADD COLUMN without_undo INTEGER NOT NULL DEFAULT 0;
ALTER TABLE requests ADD COLUMN reverts INTEGER REFERENCES requests (id);
CREATE INDEX requests_reverts ON requests (reverts) WHERE reverts IS NOT NULL;
ALTER TABLE executions ADD COLUMN undo TEXT;
CREATE TABLE undo_images (
    request_id INTEGER NOT NULL REFERENCES requests (id),
    seq        INTEGER NOT NULL,
    image      TEXT NOT NULL,
    pending    INTEGER NOT NULL,
    PRIMARY KEY (request_id, seq)
);
