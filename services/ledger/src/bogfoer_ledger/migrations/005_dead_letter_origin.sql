-- Where a dead letter's record was read (consumers name it in x-original-partition and
-- x-original-offset): a poll dead-lettered again after its commit failed lists it once.
ALTER TABLE dead_letters ADD COLUMN original_partition integer;
ALTER TABLE dead_letters ADD COLUMN original_offset bigint;
UPDATE dead_letters
SET original_partition = (headers ->> 'x-original-partition')::integer,
    original_offset = (headers ->> 'x-original-offset')::bigint
WHERE headers ->> 'x-original-offset' ~ '^[0-9]+$'
  AND headers ->> 'x-original-partition' ~ '^[0-9]+$';
CREATE INDEX dead_letters_origin ON dead_letters (original_topic, original_partition, original_offset)
    WHERE original_offset IS NOT NULL;
