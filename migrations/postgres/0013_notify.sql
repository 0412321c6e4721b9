-- People are told (design §12): users' email addresses, the discussion of each request, and the
-- outbox. `outbox` holds one row per event people hear of, written in the transaction of the
-- change that causes it; the dispatcher expands each into `deliveries`, one per recipient or
-- webhook, each with the id receivers see on every attempt (`delivery`). `status`: pending,
-- sent, dead. A delivery is claimed by writing `claimed_until` (a lease); one whose lease ran
-- out (its instance died between send and mark) is claimed again: at least once.
ALTER TABLE users ADD COLUMN email TEXT;

CREATE TABLE comments (
    id         BIGSERIAL PRIMARY KEY,
    request_id BIGINT NOT NULL REFERENCES requests (id),
    author_id  BIGINT NOT NULL REFERENCES users (id),
    text       TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE INDEX comments_request ON comments (request_id, id);

CREATE TABLE outbox (
    id         BIGSERIAL PRIMARY KEY,
    event      TEXT NOT NULL,
    request_id BIGINT NOT NULL,
    revision   BIGINT,
    actor      TEXT,
    at         TEXT NOT NULL,
    details    TEXT NOT NULL,
    expanded   BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX outbox_unexpanded ON outbox (id) WHERE expanded = 0;

CREATE TABLE deliveries (
    id            BIGSERIAL PRIMARY KEY,
    delivery      TEXT NOT NULL UNIQUE,
    outbox_id     BIGINT NOT NULL REFERENCES outbox (id),
    request_id    BIGINT NOT NULL,
    channel       TEXT NOT NULL,
    recipient     TEXT,
    payload       TEXT NOT NULL,
    status        TEXT NOT NULL,
    attempts      BIGINT NOT NULL DEFAULT 0,
    created_at    TEXT NOT NULL,
    next_at       TEXT NOT NULL,
    claimed_until TEXT,
    last_error    TEXT,
    sent_at       TEXT
);
CREATE INDEX deliveries_due ON deliveries (next_at) WHERE status = 'pending';
CREATE INDEX deliveries_order ON deliveries (channel, request_id, id) WHERE status = 'pending';
CREATE INDEX deliveries_dead ON deliveries (id) WHERE status = 'dead';
