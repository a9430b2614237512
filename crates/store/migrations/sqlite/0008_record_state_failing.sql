-- The states whose last write failed, found without reading every state: a delta reads them
-- each time it polls (and the service counts the parked ones after each run), and at a million
-- customers the scan of every state took seconds a poll, more when the store was not cached.
-- Only the few failing rows are in it, so keeping it costs a write nothing.
CREATE INDEX record_state_failing ON record_state (connection, kind, ecc_key) WHERE failures > 0;
