-- Which write a stored state is: a version drawn for the write (62 random bits, > 0), set on
-- every write. A mapper process keeps the states it wrote itself parsed
-- (`bogfoer_mapper.states`) and trusts one only while its row still carries the version it
-- wrote, so a state it wrote is neither sent back nor validated again, and a write by
-- another replica (or one rolled back) is not mistaken for its own.
-- 0: written before versions (never drawn).
ALTER TABLE order_states ADD COLUMN version bigint NOT NULL DEFAULT 0;
