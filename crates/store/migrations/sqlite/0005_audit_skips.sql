-- A skip of a record whose audit trail already holds a full copy of what was read is kept narrow:
-- the record, its customer and the source are those of the copy (`full_copy_id`), the extracted
-- record is not stored again, the content hash only when it differs from the copy's, the outcome
-- text once in `audit_outcomes`. A no-change full run then adds well under 100 bytes a record.
-- Ids come from audit_events' sequence, so both tables read as one trail, newest first by id.
-- Times are microseconds since 1970 (UTC): 8 bytes instead of 27 of text.
-- Keep in step with ../postgres/0005_audit_skips.sql.

CREATE TABLE audit_outcomes (
    id   INTEGER PRIMARY KEY,
    text TEXT    NOT NULL UNIQUE
);

CREATE TABLE audit_skips (
    id           INTEGER PRIMARY KEY,
    run_id       INTEGER NOT NULL REFERENCES runs (id),
    full_copy_id INTEGER NOT NULL,
    content_hash TEXT,
    pipedrive_id INTEGER,
    outcome_id   INTEGER NOT NULL,
    read_at      INTEGER NOT NULL,
    recorded_at  INTEGER NOT NULL
);
CREATE INDEX audit_skips_by_copy ON audit_skips (full_copy_id, id);
CREATE INDEX audit_skips_by_run ON audit_skips (run_id, id);

-- A record's newest full copy, found when its skip is written and when the trail is pruned.
CREATE INDEX audit_events_by_record ON audit_events (connection, kind, ecc_key, id);

-- The shared id sequence must exist before the first skip takes an id from it.
INSERT INTO sqlite_sequence (name, seq)
SELECT 'audit_events', COALESCE((SELECT MAX(id) FROM audit_events), 0)
WHERE NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = 'audit_events');
