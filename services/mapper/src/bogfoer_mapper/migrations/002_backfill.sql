-- A backfill resends events from before a tenant's cutover with the same ids; it must
-- not be dropped as a redelivery of the original (ignored) event.
ALTER TABLE events ADD COLUMN backfill boolean NOT NULL DEFAULT false;
ALTER TABLE events DROP CONSTRAINT events_tenant_id_event_id_key;
ALTER TABLE events ADD CONSTRAINT events_tenant_event_backfill UNIQUE (tenant_id, event_id, backfill);
