-- When the newest applied result happened: results from two poster replicas can arrive out
-- of order, and an older one must not overwrite a newer state.
ALTER TABLE postings ADD COLUMN last_result_at timestamptz;
