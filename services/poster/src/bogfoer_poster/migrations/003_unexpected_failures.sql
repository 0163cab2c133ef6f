-- Unexpected failures counted on their own: waits and Dinero's own retries must not use up
-- the few tries a bug meeting this posting gets before it is failed.
ALTER TABLE postings ADD COLUMN unexpected_failures integer NOT NULL DEFAULT 0;
