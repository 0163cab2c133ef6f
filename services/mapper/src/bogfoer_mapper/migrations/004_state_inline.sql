-- Order states are rewritten on every event of their order and are mostly 2-6 kB of JSON:
-- with the default TOAST target (2 kB) PostgreSQL compresses each write with pglz, the
-- largest part of the mapper's database time (about a third less CPU per state written
-- without it, measured over the bench stream). Rows up to a page stay inline, uncompressed;
-- larger states are still moved out and compressed as before.
ALTER TABLE order_states SET (toast_tuple_target = 8160);
