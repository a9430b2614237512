-- A fingerprint of Pipedrive's copy of a record, of the content last pushed and of the labels
-- the connector manages, kept by the last run that compared them and found Pipedrive holding
-- what was pushed: a later run that finds the same fingerprint need not compare them again.
ALTER TABLE record_state ADD COLUMN pipedrive_verified INTEGER;
