-- Operator actions (ops.actions.v1) already carried out: a redelivered action is dropped.
CREATE TABLE handled_actions (
    action_id   text PRIMARY KEY,
    action      text NOT NULL,
    outcome     text NOT NULL,
    handled_at  timestamptz NOT NULL DEFAULT now()
);
