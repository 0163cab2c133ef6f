-- An event's row is found by its identity (tenant, id, backfill: the drop of a copy) or, while
-- it waits, through `events_unprocessed` (tenant, seq); no statement looks a row up by its
-- seq alone. The primary key on seq was an index entry written for every event mapped (about
-- an eighth of the CPU of recording a mapped event's row, and ~65 bytes of WAL each, measured
-- over the bench stream) that no query read. The identity's unique index becomes the primary
-- key instead; seq stays, the order of the events that wait. Rebuilds the identity's index
-- once; the table is not rewritten.
ALTER TABLE events DROP CONSTRAINT events_pkey;
ALTER TABLE events DROP CONSTRAINT events_tenant_event_backfill;
ALTER TABLE events ADD CONSTRAINT events_pkey PRIMARY KEY (tenant_id, event_id, backfill);
