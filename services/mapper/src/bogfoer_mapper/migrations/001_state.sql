-- The mapper's own memory: tenant settings, every event seen (dedup by id, and events
-- that wait for their tenant's settings), each order's state, and the outbox of commands
-- and holds that are published only after the transaction that made them committed.

CREATE TABLE tenant_configs (
    tenant_id   text PRIMARY KEY,
    version     integer NOT NULL,
    config      jsonb NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE events (
    seq         bigserial PRIMARY KEY,
    tenant_id   text NOT NULL,
    event_id    text NOT NULL,
    state_key   text NOT NULL,
    payload     jsonb NOT NULL,
    processed   boolean NOT NULL DEFAULT false,
    outcome     text,
    received_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, event_id)
);
CREATE INDEX events_unprocessed ON events (tenant_id, seq) WHERE NOT processed;

CREATE TABLE order_states (
    tenant_id   text NOT NULL,
    state_key   text NOT NULL,
    state       jsonb NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, state_key)
);

CREATE TABLE outbox (
    seq         bigserial PRIMARY KEY,
    tenant_id   text NOT NULL,
    topic       text NOT NULL,
    payload     text NOT NULL,  -- the exact bytes to publish
    headers     jsonb NOT NULL DEFAULT '{}',
    created_at  timestamptz NOT NULL DEFAULT now()
);
