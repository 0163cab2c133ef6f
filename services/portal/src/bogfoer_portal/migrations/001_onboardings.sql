-- The portal's own memory: onboardings and what has been chosen and done so far (the
-- choices as JSON, bogfoer_portal.progress.Progress), the one-time links that open them,
-- the shop owners' web sessions, and Visma Connect authorisations in flight (state, the
-- PKCE verifier and the code sealed: AES-GCM, key from settings).

CREATE TABLE onboardings (
    id            text PRIMARY KEY,
    tenant_id     text NOT NULL,
    purpose       text NOT NULL CHECK (purpose IN ('onboard', 'reconnect')),
    owner_email   text,
    created_by    text NOT NULL,
    progress      jsonb NOT NULL DEFAULT '{}',
    withdrawn_at  timestamptz,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX onboardings_tenant ON onboardings (tenant_id, created_at);

CREATE TABLE onboarding_links (
    token_sha256   bytea PRIMARY KEY,
    onboarding_id  text NOT NULL REFERENCES onboardings (id),
    expires_at     timestamptz NOT NULL,
    used_at        timestamptz
);

CREATE TABLE portal_sessions (
    token_sha256  bytea PRIMARY KEY,
    subject       text NOT NULL,
    role          text NOT NULL,
    tenants       text[] NOT NULL DEFAULT '{}',
    csrf_token    text NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    expires_at    timestamptz NOT NULL
);

CREATE TABLE dinero_authorizations (
    state_sha256    bytea PRIMARY KEY,
    onboarding_id   text NOT NULL REFERENCES onboardings (id),
    code_verifier   bytea NOT NULL,          -- sealed
    redirect_uri    text NOT NULL,
    -- the browser session that left for Visma Connect: only it may finish (a consent cannot
    -- be slipped into someone else's onboarding); null when a platform asked through the API
    session_sha256  bytea,
    return_url      text,
    code            bytea,                   -- sealed; set by the callback
    expires_at      timestamptz NOT NULL,
    used_at         timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now()
);
