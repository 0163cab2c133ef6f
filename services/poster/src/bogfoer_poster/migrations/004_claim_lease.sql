-- A claim is a lease: the replica that claimed a posting owns it until it finishes the
-- attempt or the lease runs out. The tenant's advisory lock already keeps one worker per
-- tenant; the lease also covers a replica that lost its lock connection mid-posting.
ALTER TABLE postings ADD COLUMN lease_owner text;
ALTER TABLE postings ADD COLUMN lease_until timestamptz;
