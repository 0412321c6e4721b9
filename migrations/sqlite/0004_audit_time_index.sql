-- Exports and the audit page filter by time; without this a `since` scans from the first event.
CREATE INDEX audit_events_at ON audit_events (at);
