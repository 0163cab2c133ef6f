-- The trace a command arrived in, so the Dinero calls made for it later, by a worker,
-- continue that trace (one trace per sale, from the shop's request to the ledger).
ALTER TABLE postings ADD COLUMN traceparent text;
