-- Pipedrive webhook deliveries already taken (by `meta.id`, the same on every retry of one
-- delivery), so a retried delivery is applied once; pruned after `webhooks.keep_days`.
CREATE TABLE webhook_events (
    connection  TEXT        NOT NULL,
    event_id    TEXT        NOT NULL,
    received_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (connection, event_id)
);
CREATE INDEX webhook_events_by_time ON webhook_events (received_at);
