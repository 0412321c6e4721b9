-- Undo (design §11): a revision may be submitted without undo (reviewers see it in words); a
-- request may revert another's execution; an execution says whether it can be undone
-- (JSON `{available, rows, reason}`); the images of the rows it changed, one a row, stored
-- `pending` before the target commits and confirmed after (or removed when it did not).
ALTER TABLE revisions ADD COLUMN without_undo BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE requests ADD COLUMN reverts BIGINT REFERENCES requests (id);
CREATE INDEX requests_reverts ON requests (reverts) WHERE reverts IS NOT NULL;
ALTER TABLE executions ADD COLUMN undo TEXT;
CREATE TABLE undo_images (
    request_id BIGINT NOT NULL REFERENCES requests (id),
    seq        BIGINT NOT NULL,
    image      TEXT NOT NULL,
    pending    BOOLEAN NOT NULL,
    PRIMARY KEY (request_id, seq)
);
