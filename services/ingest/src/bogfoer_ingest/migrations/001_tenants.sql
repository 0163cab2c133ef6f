-- Who may send events for a tenant: an HMAC signing secret and/or an API key (stored
-- only as a SHA-256 hash), and the tenant's Stripe webhook secret and restricted key.
-- Secrets that must be read back are sealed (AES-GCM, key from settings).
CREATE TABLE tenants (
    tenant_id              text PRIMARY KEY,
    hmac_secret            bytea,
    api_key_sha256         bytea,
    stripe_webhook_secret  bytea,
    stripe_api_key         bytea,
    updated_at             timestamptz NOT NULL DEFAULT now()
);
