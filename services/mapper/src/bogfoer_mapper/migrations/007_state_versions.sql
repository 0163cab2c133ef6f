-- Which write a stored state is: the id of the transaction that wrote it (`xid8`, never
-- reused, as a bigint), set on every write. A mapper process keeps the states it wrote
-- itself parsed (`bogfoer_mapper.states`) and trusts one only while its row still carries
-- the version it wrote, so a state it wrote is neither sent back nor validated again,
-- and a write by another replica (or one rolled back) is never mistaken for its own.
-- 0: written before versions (never a transaction's id).
ALTER TABLE order_states ADD COLUMN version bigint NOT NULL DEFAULT 0;
