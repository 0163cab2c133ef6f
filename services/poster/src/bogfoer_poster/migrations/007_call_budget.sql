-- Issue 11: Dinero's 100 calls a minute.
--
-- Whether the last attempt at a posting may have changed Dinero without our record of it: set
-- when an attempt is claimed (a crash from then on leaves it set), cleared when the attempt
-- ends with every answer recorded, kept when a write's answer was lost. Only then does the
-- next attempt look its ExternalReference up before writing; a wait, a 429 or a refused call
-- costs no look-up.
ALTER TABLE postings ADD COLUMN outcome_unknown boolean NOT NULL DEFAULT false;
UPDATE postings SET outcome_unknown = true WHERE attempts > 0 AND state <> 'done';

-- Daily summaries: a member (its command's `summary`) gathers until its day closes
-- (`gathering`, with the day it belongs to), then waits for the summary posting that books it
-- (`gathered`, with that posting's key); it is done when the summary is.
ALTER TABLE postings DROP CONSTRAINT postings_state_check;
ALTER TABLE postings ADD CONSTRAINT postings_state_check CHECK (
    state IN ('queued', 'in_flight', 'waiting', 'done', 'failed', 'gathering', 'gathered'));
ALTER TABLE postings ADD COLUMN summary_day date;
ALTER TABLE postings ADD COLUMN summary_key text;
CREATE INDEX postings_gathering ON postings (tenant_id, summary_day) WHERE state = 'gathering';
CREATE INDEX postings_summary_key ON postings (summary_key) WHERE summary_key IS NOT NULL;
-- The last day closed per tenant: a member of an earlier day arriving later joins the next.
ALTER TABLE tenants ADD COLUMN summary_closed_through date;

-- Drafts a bookkeeper books: changesSince has covered [drafts_covered_from, drafts_polled_at]
-- without a gap, so a draft created inside it and booked is known booked.
ALTER TABLE tenants ADD COLUMN drafts_covered_from timestamptz;
CREATE INDEX postings_watch ON postings (tenant_id, watch_invoice)
    WHERE state = 'waiting' AND watch_invoice IS NOT NULL;
