-- Which order state each posting key came from (emitted or held), and how often it has been
-- re-mapped: a remap_posting action names a posting key and the mapper must find the sale's
-- facts behind it. A key may come from more than one state (a contact by each order of its
-- customer, a fee by payment.fee and by the payout); any of them derives the same posting.
CREATE TABLE posting_origins (
    tenant_id    text NOT NULL,
    posting_key  text NOT NULL,
    state_key    text NOT NULL,
    revision     integer NOT NULL DEFAULT 0,
    PRIMARY KEY (tenant_id, posting_key, state_key)
);
INSERT INTO posting_origins (tenant_id, posting_key, state_key)
    SELECT tenant_id, jsonb_array_elements_text(state -> 'emitted'), state_key FROM order_states
    ON CONFLICT DO NOTHING;
INSERT INTO posting_origins (tenant_id, posting_key, state_key)
    SELECT tenant_id, split_part(jsonb_array_elements_text(state -> 'holds_raised'), '|', 1),
           state_key FROM order_states
    ON CONFLICT DO NOTHING;

-- States with holds, re-evaluated when the tenant's settings change.
CREATE INDEX order_states_held ON order_states (tenant_id)
    WHERE jsonb_array_length(state -> 'holds_raised') > 0;

-- Operator actions carried out (a redelivered action changes nothing).
CREATE TABLE actions_applied (
    action_id   text PRIMARY KEY,
    applied_at  timestamptz NOT NULL DEFAULT now()
);
