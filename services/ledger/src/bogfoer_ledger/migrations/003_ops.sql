-- What ops needs beyond the postings: the trace each posting's sale belongs to, the trail of
-- operator actions, the web app's sessions and the read tokens issued to shop platforms.

ALTER TABLE postings ADD COLUMN trace_id text;
-- When the ledger first heard of the posting: its age in the pipeline ("stuck for an hour"),
-- unlike created_at, the sale's own time, which a backfill sets months back.
ALTER TABLE postings ADD COLUMN seen_at timestamptz NOT NULL DEFAULT now();
-- The overview's "oldest open posting" and the stuck list read non-final postings by age.
CREATE INDEX postings_open_seen ON postings (tenant_id, seen_at)
    WHERE state IN ('pending', 'waiting', 'parked');
CREATE INDEX postings_tenant_kind ON postings (tenant_id, kind, updated_at DESC);

-- Every operator action seen on ops.actions.v1 or taken here (a dead letter re-driven):
-- who asked, when, for what, and what came of it once known.
CREATE TABLE ops_actions (
    action_id       text PRIMARY KEY,
    action          text NOT NULL,
    tenant_id       text,
    posting_key     text,
    dead_letter_id  bigint,
    requested_by    text NOT NULL,
    requested_at    timestamptz NOT NULL,
    note            text,
    outcome         text,
    outcome_detail  text,
    outcome_at      timestamptz,
    recorded_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ops_actions_tenant ON ops_actions (tenant_id, requested_at DESC);
CREATE INDEX ops_actions_posting ON ops_actions (posting_key, requested_at DESC);
CREATE INDEX ops_actions_open ON ops_actions (tenant_id) WHERE outcome IS NULL;

-- The web app's sessions: only a digest of the cookie's value is stored.
CREATE TABLE ops_sessions (
    token_sha256  bytea PRIMARY KEY,
    subject       text NOT NULL,
    role          text NOT NULL,
    csrf_token    text NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    expires_at    timestamptz NOT NULL
);

-- Read tokens for shop platforms, each scoped to one tenant; only a digest is stored.
CREATE TABLE tenant_tokens (
    id            bigserial PRIMARY KEY,
    tenant_id     text NOT NULL,
    token_sha256  bytea NOT NULL UNIQUE,
    label         text NOT NULL,
    created_by    text NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    revoked_at    timestamptz
);
CREATE INDEX tenant_tokens_tenant ON tenant_tokens (tenant_id);
