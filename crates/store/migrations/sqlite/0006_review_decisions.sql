-- The review queue's audit trail: one row per pair and decision (a pair decided again gets
-- another row), naming how it was decided (one pair, a group, a score rule) and by whom.
CREATE TABLE review_decisions (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    review_id  INTEGER NOT NULL REFERENCES reviews (id),
    decision   TEXT    NOT NULL,
    rule       TEXT    NOT NULL,
    decided_by TEXT    NOT NULL,
    decided_at TEXT    NOT NULL
);
CREATE INDEX review_decisions_by_review ON review_decisions (review_id, id);
