-- A tenant batch of commands or results tracked as one row, its run: the tenant's (record
-- key's) records of one partition from first_offset to last_offset, all applied in one
-- transaction. A tenant's records of a partition come to the ledger in offset order, a
-- tenant batch with none of them left out (`bogfoer_kit.consumer`); a record that failed
-- alone and was dead-lettered is not in any run, and is handled again when it comes again.
-- ledger_applied took a row per record (PostgreSQL's speculative insertion and an index
-- entry each: about a fifth of PostgreSQL's and a tenth of the process's time a command
-- in the bench `kafka_paths`); it stays, read by the claims of runs (the records applied
-- before this migration are found there, nothing copied), and tracks the actions and the
-- dead letters, a record at a time.
CREATE TABLE ledger_applied_runs (
    topic         text    NOT NULL,
    partition     integer NOT NULL,
    tenant        text    NOT NULL,
    first_offset  bigint  NOT NULL,
    last_offset   bigint  NOT NULL,
    applied_at    timestamptz NOT NULL DEFAULT now(),
    -- A claim looks for the runs that end at or after its first record: the recent ones.
    PRIMARY KEY (topic, partition, tenant, last_offset)
);
-- The runs of any tenant whose span holds an offset (the rollout's check below).
CREATE INDEX ledger_applied_runs_span ON ledger_applied_runs (topic, partition, last_offset);

-- Old and new ledgers run side by side during a rollout. An old ledger claims a row per
-- record and does not read the runs: a row claimed for a record in a run's span fails
-- (serialization failure: transient, the batch is retried until the old pod is replaced),
-- so a record a new ledger applied is not applied again. The partition's advisory lock,
-- exclusive here and shared by the claims of runs (`store.claim_run`), makes one wait for
-- the other's transaction: neither misses what the other has not committed yet.
CREATE FUNCTION ledger_applied_outside_runs() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(hashtext('ledger-applied:' || NEW.topic || ':' || NEW.partition));
    IF EXISTS (SELECT 1 FROM ledger_applied_runs
               WHERE topic = NEW.topic AND partition = NEW.partition
                 AND last_offset >= NEW."offset" AND first_offset <= NEW."offset") THEN
        RAISE EXCEPTION 'record %/%/% is tracked in a run (an older ledger''s claim)',
            NEW.topic, NEW.partition, NEW."offset" USING ERRCODE = 'serialization_failure';
    END IF;
    RETURN NEW;
END
$$;

CREATE TRIGGER ledger_applied_outside_runs BEFORE INSERT ON ledger_applied
    FOR EACH ROW EXECUTE FUNCTION ledger_applied_outside_runs();
