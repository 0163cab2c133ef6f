-- Two checks on every history line that the store already guarantees, dropped: together
-- about a fifth of PostgreSQL's time per command recorded (the bench `kafka_paths`).
-- * The foreign key to postings: a line is written in its posting's transaction, with or
--   after the row, and no posting is ever deleted; its check ran a query and locked the
--   posting's row for every line.
-- * Unique (topic, partition, offset, posting_key): a record writes its lines only when
--   its claim in ledger_applied is new (in the same transaction), so a redelivered record
--   writes none; the index was a second copy of that guard, an index entry per line.
ALTER TABLE posting_transitions DROP CONSTRAINT posting_transitions_posting_key_fkey;
ALTER TABLE posting_transitions
    DROP CONSTRAINT posting_transitions_topic_partition_offset_posting_key_key;
