-- Signed checkpoints of the audit chain: event seq had hash `hash`, signed with a key the store
-- never holds. Kept beside the chain, not in it, so that cutting the chain's end short leaves
-- checkpoints pointing past it.
CREATE TABLE audit_checkpoints (
    seq        INTEGER PRIMARY KEY,
    hash       TEXT NOT NULL,
    at         TEXT NOT NULL,
    public_key TEXT NOT NULL,
    signature  TEXT NOT NULL
);
