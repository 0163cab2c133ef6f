-- The kit's outbox (`bogfoer_kit.outbox`) reads rows that hold a run of one tenant's
-- records (`topics`, `payloads`, `headers_list`) as well as rows of one (`topic`, `payload`,
-- `headers`): the same table as the mapper's (its 009). The poster writes its results one at
-- a time, rows of the old shape; the columns are added, none rewritten.
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
