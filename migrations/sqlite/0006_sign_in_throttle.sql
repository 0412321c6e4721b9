-- Failed sign-ins per key: the SHA-256 of a client address or of a user name (never the name
-- itself: a mistyped password in the user name field must not be kept). Shared by every server
-- instance; see countersign_core::throttle for the rules.
CREATE TABLE sign_in_failures (
    key_hash      TEXT PRIMARY KEY,
    failures      INTEGER NOT NULL,
    window_start  TEXT NOT NULL,
    blocked_until TEXT
);
CREATE INDEX sign_in_failures_window ON sign_in_failures (window_start);
