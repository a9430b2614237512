-- The customer a record belongs to, kept with its state: a failed contact person is retried by
-- re-reading its customer, which is looked up here rather than searched for in the audit trail.
ALTER TABLE record_state ADD COLUMN customer_number TEXT;

-- An organization is its own customer.
UPDATE record_state SET customer_number = ecc_key WHERE kind = 'organization';

-- A person's customer, from its newest audit event (the only place it was kept before).
UPDATE record_state SET customer_number = (
    SELECT audit_events.customer_number FROM audit_events
    WHERE audit_events.connection = record_state.connection
      AND audit_events.kind = 'person'
      AND audit_events.ecc_key = record_state.ecc_key
    ORDER BY audit_events.id DESC
    LIMIT 1
) WHERE kind = 'person';
