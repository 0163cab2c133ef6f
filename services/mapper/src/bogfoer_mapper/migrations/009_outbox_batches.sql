-- An outbox row may hold a run of one tenant's records written together (`topics`,
-- `payloads`, `headers_list`: the mapper's commands and holds of a tenant batch), published
-- and deleted together, instead of a row each (`topic`, `payload`, `headers`, which a row of
-- one record keeps using: the kit writes those for a single record). A row each was a heap
-- tuple, an index entry and a WAL record to insert, lock and delete per command; a batch's
-- row is a few tuples of its arrays (stored out of line uncompressed: pglz on megabytes of
-- JSON is dearer than the bytes it saves). Columns added, none rewritten: rows of the old
-- shape still publish.
ALTER TABLE outbox
    ALTER COLUMN topic DROP NOT NULL,
    ALTER COLUMN payload DROP NOT NULL,
    ADD COLUMN topics text[],
    ADD COLUMN payloads text[],
    ADD COLUMN headers_list text[];
ALTER TABLE outbox
    ALTER COLUMN topics SET STORAGE EXTERNAL,
    ALTER COLUMN payloads SET STORAGE EXTERNAL,
    ALTER COLUMN headers_list SET STORAGE EXTERNAL,
    ADD CONSTRAINT outbox_one_or_many CHECK (
        (payload IS NOT NULL AND topic IS NOT NULL AND payloads IS NULL)
        OR (payload IS NULL AND topic IS NULL AND payloads IS NOT NULL
            AND cardinality(topics) = cardinality(payloads)
            AND cardinality(headers_list) = cardinality(payloads))
    );
