-- The Stripe webhook endpoint onboarding registered for the tenant (its secret is the sealed
-- stripe_webhook_secret), and backfills: Stripe's history of a date range fetched through its
-- list APIs and published as canonical events, page by page, resumable after a crash.
ALTER TABLE tenants ADD COLUMN stripe_webhook_endpoint_id text;

CREATE TABLE stripe_backfills (
    id            text PRIMARY KEY,
    tenant_id     text NOT NULL,
    since         timestamptz NOT NULL,
    until         timestamptz NOT NULL,
    state         text NOT NULL DEFAULT 'queued'
                  CHECK (state IN ('queued', 'running', 'done', 'failed')),
    -- charges, then refunds, then payouts; `cursor` is the last object of the last page
    -- published (Stripe's starting_after), `reached` the oldest time that page reached back to
    phase         text NOT NULL DEFAULT 'charges',
    cursor        text,
    reached       timestamptz,
    counts        jsonb NOT NULL DEFAULT '{}',
    skipped       jsonb NOT NULL DEFAULT '[]',
    problem       text,  -- the last transient trouble (running) or why it failed
    retries       integer NOT NULL DEFAULT 0,  -- transient failures in a row (the backoff)
    requested_by  text NOT NULL,
    lease_owner   text,
    lease_until   timestamptz,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    finished_at   timestamptz
);
CREATE INDEX stripe_backfills_open ON stripe_backfills (created_at) WHERE state IN ('queued', 'running');
CREATE INDEX stripe_backfills_tenant ON stripe_backfills (tenant_id, created_at);
