-- When the current holder took the lease, so that whoever finds it taken can say since when.
ALTER TABLE leases ADD COLUMN acquired_at TIMESTAMPTZ;
