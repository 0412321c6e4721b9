-- Edit requests, their revisions, named reviewers, reviews and the one execution (PostgreSQL).

CREATE TABLE requests (
    id         BIGSERIAL PRIMARY KEY,
    title      TEXT NOT NULL,
    target     TEXT NOT NULL,
    author_id  BIGINT NOT NULL REFERENCES users (id),
    status     TEXT NOT NULL,
    revision   BIGINT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX requests_status ON requests (status);
CREATE INDEX requests_author ON requests (author_id);

CREATE TABLE revisions (
    request_id    BIGINT NOT NULL REFERENCES requests (id),
    revision      BIGINT NOT NULL,
    intent        TEXT NOT NULL,
    sql           TEXT NOT NULL,
    sql_sha256    TEXT NOT NULL,
    expected_rows BIGINT,
    risk          TEXT NOT NULL,
    analysis      TEXT NOT NULL,
    created_at    TEXT NOT NULL,
    PRIMARY KEY (request_id, revision)
);

CREATE TABLE revision_reviewers (
    request_id  BIGINT NOT NULL,
    revision    BIGINT NOT NULL,
    reviewer_id BIGINT NOT NULL REFERENCES users (id),
    PRIMARY KEY (request_id, revision, reviewer_id),
    FOREIGN KEY (request_id, revision) REFERENCES revisions (request_id, revision)
);
CREATE INDEX revision_reviewers_reviewer ON revision_reviewers (reviewer_id);

CREATE TABLE reviews (
    id          BIGSERIAL PRIMARY KEY,
    request_id  BIGINT NOT NULL,
    revision    BIGINT NOT NULL,
    reviewer_id BIGINT NOT NULL REFERENCES users (id),
    decision    TEXT NOT NULL CHECK (decision IN ('approve', 'reject')),
    comment     TEXT NOT NULL,
    sql_sha256  TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    FOREIGN KEY (request_id, revision) REFERENCES revisions (request_id, revision)
);
CREATE INDEX reviews_request ON reviews (request_id, revision);

-- At most one execution per request: the primary key is a second wall behind the status claim.
CREATE TABLE executions (
    request_id    BIGINT PRIMARY KEY REFERENCES requests (id),
    revision      BIGINT NOT NULL,
    triggered_by  BIGINT NOT NULL REFERENCES users (id),
    started_at    TEXT NOT NULL,
    finished_at   TEXT,
    outcome       TEXT,
    expected_rows BIGINT,
    rows_affected BIGINT,
    statements    TEXT,
    error         TEXT,
    txid          TEXT
);
