-- The ledger's record: one row per posting key with its current state, an append-only
-- history of transitions, and the Kafka records already applied (exactly-once tracking).

CREATE TABLE ledger_applied (
    topic       text    NOT NULL,
    partition   integer NOT NULL,
    "offset"    bigint  NOT NULL,
    applied_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (topic, partition, "offset")
);

CREATE TABLE postings (
    posting_key     text PRIMARY KEY,
    tenant_id       text NOT NULL,
    kind            text NOT NULL,
    state           text NOT NULL,
    amount_minor    bigint,
    currency        text,
    dinero_guid     text,
    dinero_number   bigint,
    attempts        integer NOT NULL DEFAULT 0,
    last_error      jsonb,
    detail          text,
    depends_on      text[] NOT NULL DEFAULT '{}',
    command         jsonb,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX postings_tenant_state ON postings (tenant_id, state, updated_at DESC);

CREATE TABLE posting_transitions (
    id            bigserial PRIMARY KEY,
    posting_key   text NOT NULL REFERENCES postings (posting_key),
    from_state    text,
    to_state      text NOT NULL,
    detail        text,
    error         jsonb,
    topic         text NOT NULL,
    partition     integer NOT NULL,
    "offset"      bigint NOT NULL,
    at            timestamptz NOT NULL,
    UNIQUE (topic, partition, "offset", posting_key)
);
CREATE INDEX posting_transitions_key ON posting_transitions (posting_key, id);

CREATE TABLE dead_letters (
    id            bigserial PRIMARY KEY,
    tenant_id     text,
    topic         text NOT NULL,
    partition     integer NOT NULL,
    "offset"      bigint NOT NULL,
    original_topic text,
    reason        text NOT NULL,
    detail        text,
    payload       bytea NOT NULL,
    headers       jsonb NOT NULL,
    at            timestamptz NOT NULL DEFAULT now(),
    redriven_at   timestamptz,
    UNIQUE (topic, partition, "offset")
);
CREATE INDEX dead_letters_tenant ON dead_letters (tenant_id, at DESC);
