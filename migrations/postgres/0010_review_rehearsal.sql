-- A review records the rehearsal its reviewer saw (the latest of the revision when they
-- reviewed; null when there was none).
ALTER TABLE reviews ADD COLUMN rehearsal_id BIGINT REFERENCES rehearsals (id);
