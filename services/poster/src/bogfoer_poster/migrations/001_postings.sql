-- The poster's durable inbox of postings (one row per posting key: the claim), each
-- tenant's standing, and the outbox of results and dead letters published after commit.

CREATE TABLE postings (
    seq              bigserial UNIQUE,
    posting_key      text PRIMARY KEY,
    tenant_id        text NOT NULL,
    organization_id  bigint NOT NULL,
    kind             text NOT NULL,
    command          jsonb NOT NULL,
    depends_on       text[] NOT NULL DEFAULT '{}',
    -- queued: never tried; in_flight: a call may have reached Dinero, so look the
    -- ExternalReference up before writing; waiting: a prerequisite is missing (its
    -- dependency, or a bookkeeper who has to book a draft); done / failed: final.
    state            text NOT NULL DEFAULT 'queued'
                     CHECK (state IN ('queued', 'in_flight', 'waiting', 'done', 'failed')),
    step             text,  -- progress inside a multi-call posting: created, booked, emailed
    dinero_guid      text,
    dinero_number    bigint,
    dinero_timestamp text,
    -- a draft invoice (guid) this posting waits for a person to book in Dinero
    watch_invoice    text,
    attempts         integer NOT NULL DEFAULT 0,
    next_attempt_at  timestamptz NOT NULL DEFAULT now(),
    last_error       jsonb,
    detail           text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX postings_runnable ON postings (tenant_id, next_attempt_at, seq)
    WHERE state IN ('queued', 'in_flight', 'waiting');
CREATE INDEX postings_depends_on ON postings USING gin (depends_on);

CREATE TABLE tenants (
    tenant_id        text PRIMARY KEY,
    parked_reason    text,
    parked_at        timestamptz,
    config_version   integer NOT NULL DEFAULT 0,
    config           jsonb,
    drafts_polled_at timestamptz
);

CREATE TABLE outbox (
    seq        bigserial PRIMARY KEY,
    tenant_id  text NOT NULL,
    topic      text NOT NULL,
    payload    text NOT NULL,
    headers    jsonb NOT NULL DEFAULT '{}',
    created_at timestamptz NOT NULL DEFAULT now()
);
