-- A re-mapped command (remap_posting, after the tenant fixed its settings) carries a higher
-- revision than the one stored and replaces it, unless the posting is mid-attempt: then it
-- waits in next_command until the attempt ends. dinero_revision is the revision the document
-- in Dinero was written for; an older one is checked (and a draft rewritten) before use.
ALTER TABLE postings ADD COLUMN revision integer NOT NULL DEFAULT 0;
ALTER TABLE postings ADD COLUMN dinero_revision integer NOT NULL DEFAULT 0;
ALTER TABLE postings ADD COLUMN next_command jsonb;
