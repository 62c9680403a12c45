-- The API's own records (graphql_api/, DESIGN.md §6). Not read models: nothing here
-- comes from the chain, and nothing here is rebuilt from it.

-- Security-relevant actions: sign-ins, refusals, rate-limit hits, logouts, TOTP enrolment.
-- Append-only (the trigger refuses UPDATE and DELETE), so a compromised API process
-- cannot rewrite what it did; retention is an operator's TRUNCATE or partition drop.
CREATE TABLE api_audit (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at          timestamptz NOT NULL DEFAULT now(),
    action      text        NOT NULL,  -- sign_in, refused, rate_limited, logout, totp_enrolled
    code        text,                  -- the machine-readable reason of a refusal
    wallet      text,
    ip          text,
    request_id  text,
    detail      jsonb       NOT NULL DEFAULT '{}'::jsonb
);
CREATE INDEX api_audit_at ON api_audit (at);
CREATE INDEX api_audit_wallet ON api_audit (wallet, at) WHERE wallet IS NOT NULL;

CREATE FUNCTION api_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'api_audit is append-only';
END $$;
CREATE TRIGGER api_audit_append_only BEFORE UPDATE OR DELETE ON api_audit
    FOR EACH ROW EXECUTE FUNCTION api_audit_append_only();

-- A wallet's TOTP second factor. The secret is sealed (XSalsa20-Poly1305) under a key
-- derived from the API's JWT secret; confirmed_at NULL: enrolment started, not yet proven
-- with a code, so sign-in does not ask for one yet.
CREATE TABLE api_totp (
    wallet        text PRIMARY KEY,
    sealed_secret bytea       NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    confirmed_at  timestamptz
);
