-- The state store on SQLite. Timestamps are UTC text of fixed width
-- (2026-01-31T08:00:00.000000Z) so that comparing them as text compares the times.
-- Keep in step with ../postgres/0001_initial.sql: same tables, columns and indexes.

CREATE TABLE runs (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    connection  TEXT    NOT NULL,
    instance    TEXT    NOT NULL,
    mode        TEXT    NOT NULL,
    started_at  TEXT    NOT NULL,
    finished_at TEXT,
    status      TEXT    NOT NULL,
    counts      TEXT    NOT NULL,
    tokens_used INTEGER NOT NULL DEFAULT 0,
    alert       TEXT,
    error       TEXT
);
CREATE INDEX runs_by_connection ON runs (connection, id);

CREATE TABLE links (
    connection   TEXT    NOT NULL,
    kind         TEXT    NOT NULL,
    ecc_key      TEXT    NOT NULL,
    pipedrive_id INTEGER NOT NULL,
    linked_at    TEXT    NOT NULL,
    PRIMARY KEY (connection, kind, ecc_key),
    UNIQUE (connection, kind, pipedrive_id)
);

CREATE TABLE record_state (
    connection   TEXT    NOT NULL,
    kind         TEXT    NOT NULL,
    ecc_key      TEXT    NOT NULL,
    pushed_hash  TEXT,
    last_seen_at TEXT,
    last_run_id  INTEGER REFERENCES runs (id),
    failures     INTEGER NOT NULL DEFAULT 0,
    retry_after  TEXT,
    parked       BOOLEAN NOT NULL DEFAULT FALSE,
    last_error   TEXT,
    PRIMARY KEY (connection, kind, ecc_key)
);

CREATE TABLE intents (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    connection TEXT    NOT NULL,
    run_id     INTEGER NOT NULL REFERENCES runs (id),
    kind       TEXT    NOT NULL,
    ecc_key    TEXT    NOT NULL,
    operation  TEXT    NOT NULL,
    payload    TEXT    NOT NULL,
    created_at TEXT    NOT NULL
);
CREATE INDEX intents_by_connection ON intents (connection, id);

CREATE TABLE audit_events (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    connection      TEXT    NOT NULL,
    run_id          INTEGER NOT NULL REFERENCES runs (id),
    kind            TEXT    NOT NULL,
    ecc_key         TEXT    NOT NULL,
    customer_number TEXT    NOT NULL,
    read_at         TEXT    NOT NULL,
    source          TEXT    NOT NULL,
    extracted       TEXT    NOT NULL,
    content_hash    TEXT    NOT NULL,
    action          TEXT    NOT NULL,
    pipedrive_id    INTEGER,
    outcome         TEXT    NOT NULL,
    error           TEXT,
    recorded_at     TEXT    NOT NULL
);
CREATE INDEX audit_events_by_connection ON audit_events (connection, id);
CREATE INDEX audit_events_by_customer ON audit_events (customer_number, id);
CREATE INDEX audit_events_by_run ON audit_events (run_id, id);
CREATE INDEX audit_events_by_action ON audit_events (action, id);
CREATE INDEX audit_events_by_time ON audit_events (recorded_at);

CREATE TABLE cursors (
    connection TEXT    NOT NULL,
    stream     TEXT    NOT NULL,
    value      TEXT    NOT NULL,
    version    INTEGER NOT NULL,
    updated_at TEXT    NOT NULL,
    PRIMARY KEY (connection, stream)
);

CREATE TABLE reviews (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    connection   TEXT    NOT NULL,
    kind         TEXT    NOT NULL,
    ecc_key      TEXT    NOT NULL,
    pipedrive_id INTEGER NOT NULL,
    score        REAL    NOT NULL,
    evidence     TEXT    NOT NULL,
    status       TEXT    NOT NULL,
    created_at   TEXT    NOT NULL,
    decided_at   TEXT,
    UNIQUE (connection, kind, ecc_key, pipedrive_id)
);
CREATE INDEX reviews_by_status ON reviews (connection, status, id);

CREATE TABLE token_ledger (
    company TEXT    NOT NULL,
    day     TEXT    NOT NULL,
    used    INTEGER NOT NULL,
    PRIMARY KEY (company, day)
);

-- One row per connection that was ever leased; `holder` is NULL once released. The row (and its
-- fencing token) stays so that the next holder's token is larger than every earlier one.
CREATE TABLE leases (
    connection    TEXT    PRIMARY KEY,
    holder        TEXT,
    fencing_token INTEGER NOT NULL,
    expires_at    TEXT    NOT NULL
);

CREATE TABLE secrets (
    name       TEXT PRIMARY KEY,
    nonce      BLOB NOT NULL,
    ciphertext BLOB NOT NULL,
    updated_at TEXT NOT NULL
);
