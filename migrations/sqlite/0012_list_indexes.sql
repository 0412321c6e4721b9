-- Every list is served by an index in the order it is read (issue 18), so a page costs the same
-- whatever the store holds: requests newest first (`id DESC`) by status, author, target, named
-- reviewer and "waiting for my review"; audit events by `seq` for an actor, a request or an
-- action. (SQLite appends the rowid to every index, so `(status)` already ends with `id`; the
-- columns are spelled out to keep both backends' indexes alike.)

DROP INDEX requests_status;
DROP INDEX requests_author;
CREATE INDEX requests_status ON requests (status, id);
CREATE INDEX requests_author ON requests (author_id, id);
CREATE INDEX requests_target ON requests (target, id);

DROP INDEX revision_reviewers_reviewer;
CREATE INDEX revision_reviewers_reviewer ON revision_reviewers (reviewer_id, request_id);

DROP INDEX audit_events_request;
CREATE INDEX audit_events_request ON audit_events (request_id, seq);
CREATE INDEX audit_events_actor ON audit_events (actor, seq);
CREATE INDEX audit_events_action ON audit_events (action, seq);

-- Who still has to review what: one row per (reviewer, request) while the request is
-- 'pending_review' (core's RequestStatus::PendingReview), the reviewer is named on its current
-- revision and has not reviewed that revision. Kept by the triggers below in the transaction of
-- every change, whichever code makes it, so the dashboard's "Waiting for my review" reads its
-- page from the primary key instead of every request that ever named the reviewer.
CREATE TABLE pending_reviews (
    reviewer_id INTEGER NOT NULL REFERENCES users (id),
    request_id  INTEGER NOT NULL REFERENCES requests (id),
    PRIMARY KEY (reviewer_id, request_id)
) WITHOUT ROWID;
CREATE INDEX pending_reviews_request ON pending_reviews (request_id);

INSERT INTO pending_reviews (reviewer_id, request_id)
SELECT n.reviewer_id, r.id
FROM requests r JOIN revision_reviewers n ON n.request_id = r.id AND n.revision = r.revision
WHERE r.status = 'pending_review'
  AND NOT EXISTS (SELECT 1 FROM reviews w WHERE w.request_id = r.id AND w.revision = r.revision
                  AND w.reviewer_id = n.reviewer_id);

-- A reviewer named on the current revision of a request waiting for review (submit, revise).
CREATE TRIGGER pending_reviews_named AFTER INSERT ON revision_reviewers
BEGIN
    INSERT OR IGNORE INTO pending_reviews (reviewer_id, request_id)
    SELECT NEW.reviewer_id, r.id FROM requests r
    WHERE r.id = NEW.request_id AND r.revision = NEW.revision AND r.status = 'pending_review'
      AND NOT EXISTS (SELECT 1 FROM reviews w WHERE w.request_id = r.id
                      AND w.revision = r.revision AND w.reviewer_id = NEW.reviewer_id);
END;

-- A review of the current revision: that reviewer is no longer waited for.
CREATE TRIGGER pending_reviews_reviewed AFTER INSERT ON reviews
BEGIN
    DELETE FROM pending_reviews
    WHERE reviewer_id = NEW.reviewer_id AND request_id = NEW.request_id
      AND NEW.revision = (SELECT revision FROM requests WHERE id = NEW.request_id);
END;

-- A new status or revision: the request's rows are made again from what it now is.
CREATE TRIGGER pending_reviews_status AFTER UPDATE OF status, revision ON requests
WHEN OLD.status IS NOT NEW.status OR OLD.revision IS NOT NEW.revision
BEGIN
    DELETE FROM pending_reviews WHERE request_id = NEW.id;
    INSERT INTO pending_reviews (reviewer_id, request_id)
    SELECT n.reviewer_id, NEW.id FROM revision_reviewers n
    WHERE NEW.status = 'pending_review' AND n.request_id = NEW.id AND n.revision = NEW.revision
      AND NOT EXISTS (SELECT 1 FROM reviews w WHERE w.request_id = NEW.id
                      AND w.revision = NEW.revision AND w.reviewer_id = n.reviewer_id);
END;
