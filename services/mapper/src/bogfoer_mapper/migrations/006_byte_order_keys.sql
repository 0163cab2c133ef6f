-- The keys the mapper's unique indexes compare — an event's tenant and id (the drop of a
-- copy), a posting key's tenant, key and state (the remap's way back to a sale) — in byte
-- order ("C"). Under a database collation other than "C" (the devstack's C.UTF-8, a libc
-- locale), every comparison an insert's index descent or a lookup makes went through
-- strcoll; these columns are ids. Equality is the same in any deterministic collation, so
-- no row is found or dropped differently; the one order a reader asks for — the remap's
-- first of the states a posting key came from — is now byte order (any of them derives the
-- same posting, 003). Rebuilds the indexes on these columns once; the tables are not
-- rewritten.
ALTER TABLE events
    ALTER COLUMN tenant_id TYPE text COLLATE "C",
    ALTER COLUMN event_id TYPE text COLLATE "C";
ALTER TABLE posting_origins
    ALTER COLUMN tenant_id TYPE text COLLATE "C",
    ALTER COLUMN posting_key TYPE text COLLATE "C",
    ALTER COLUMN state_key TYPE text COLLATE "C";
