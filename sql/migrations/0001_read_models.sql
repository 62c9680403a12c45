-- Read models of the Mirror program (DESIGN.md §4). Every row here can be rebuilt
-- from the chain: chain_events is the log, the other tables are projections of it.

-- One row per decoded event. Append-only: the only change a row may see is its
-- commitment moving from confirmed to finalized (enforced by the trigger below).
CREATE TABLE chain_events (
    id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,  -- arrival order
    signature         text        NOT NULL,
    event_index       integer     NOT NULL,  -- position among the program's events in the transaction
    slot              bigint      NOT NULL,
    block_time        timestamptz,
    program_id        text        NOT NULL,
    name              text        NOT NULL,
    payload           jsonb       NOT NULL,
    instruction_index integer,
    commitment        text        NOT NULL DEFAULT 'confirmed' CHECK (commitment IN ('confirmed', 'finalized')),
    indexed_at        timestamptz NOT NULL DEFAULT now(),
    UNIQUE (signature, event_index)
);
CREATE INDEX chain_events_slot ON chain_events (slot, id);
CREATE INDEX chain_events_name_slot ON chain_events (name, slot);
CREATE INDEX chain_events_unfinalized ON chain_events (slot) WHERE commitment = 'confirmed';
CREATE INDEX chain_events_mirror ON chain_events ((payload->>'mirror'), slot) WHERE payload ? 'mirror';
CREATE INDEX chain_events_job ON chain_events ((payload->>'job')) WHERE payload ? 'job';
CREATE INDEX chain_events_grant ON chain_events ((payload->>'grant')) WHERE payload ? 'grant';
CREATE INDEX chain_events_model ON chain_events ((payload->>'model')) WHERE payload ? 'model';
CREATE INDEX chain_events_trainer ON chain_events ((payload->>'trainer')) WHERE payload ? 'trainer';
CREATE INDEX chain_events_config ON chain_events ((payload->>'config')) WHERE payload ? 'config';

CREATE FUNCTION chain_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        RAISE EXCEPTION 'chain_events is append-only';
    END IF;
    IF (NEW.signature, NEW.event_index, NEW.slot, NEW.program_id, NEW.name, NEW.payload)
       IS DISTINCT FROM (OLD.signature, OLD.event_index, OLD.slot, OLD.program_id, OLD.name, OLD.payload)
       OR (OLD.commitment = 'finalized' AND NEW.commitment <> 'finalized') THEN
        RAISE EXCEPTION 'chain_events is append-only: only commitment confirmed -> finalized may change';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER chain_events_append_only BEFORE UPDATE OR DELETE ON chain_events
    FOR EACH ROW EXECUTE FUNCTION chain_events_append_only();

-- Projections. Keys are the accounts' addresses (chain identity); last_slot is the
-- slot of the newest event applied to the row (an older event arriving later makes
-- the indexer rebuild the row from chain_events in chain order).

CREATE TABLE config (
    address     text PRIMARY KEY,
    admin       text        NOT NULL,
    paused      boolean     NOT NULL DEFAULT false,
    created_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL,
    last_slot   bigint      NOT NULL
);

CREATE TABLE trainers (
    address        text PRIMARY KEY,      -- Trainer PDA
    authority      text        NOT NULL,  -- the key that signs start/complete/fail
    encryption_key text        NOT NULL,  -- X25519 public key, hex
    active         boolean     NOT NULL,
    registered_at  timestamptz NOT NULL,
    updated_at     timestamptz NOT NULL,
    last_slot      bigint      NOT NULL
);
CREATE UNIQUE INDEX trainers_authority ON trainers (authority);

CREATE TABLE mirrors (
    address        text PRIMARY KEY,
    creator        text          NOT NULL,
    owner          text          NOT NULL,
    mirror_id      numeric(20,0) NOT NULL,
    name           text          NOT NULL,
    metadata_uri   text          NOT NULL,
    visibility     text          NOT NULL CHECK (visibility IN ('Public', 'Private')),
    status         text          NOT NULL CHECK (status IN ('Active', 'Frozen')),
    model_version  integer       NOT NULL DEFAULT 0,
    job_count      bigint        NOT NULL DEFAULT 0,
    created_at     timestamptz   NOT NULL,
    updated_at     timestamptz   NOT NULL,
    created_slot   bigint        NOT NULL,
    created_signature text       NOT NULL,
    last_slot      bigint        NOT NULL
);
CREATE INDEX mirrors_owner ON mirrors (owner, created_at DESC);
CREATE INDEX mirrors_creator ON mirrors (creator, mirror_id);
CREATE INDEX mirrors_created_at ON mirrors (created_at DESC, address);
CREATE INDEX mirrors_public ON mirrors (created_at DESC) WHERE visibility = 'Public';

CREATE TABLE access_grants (
    address      text PRIMARY KEY,       -- AccessGrant PDA ["grant", mirror, grantee]
    mirror       text        NOT NULL,
    grantee      text        NOT NULL,
    permissions  smallint    NOT NULL,   -- VIEW=1 INFER=2 TRAIN=4 MANAGE=8
    expires_at   timestamptz,            -- NULL: never (0 on chain)
    granted_by   text        NOT NULL,   -- counts only while this is still the mirror's owner
    granted_at   timestamptz NOT NULL,
    updated_at   timestamptz NOT NULL,
    revoked_at   timestamptz,            -- set when the account is closed; a new grant clears it
    revoked_by   text,
    last_slot    bigint      NOT NULL,
    UNIQUE (mirror, grantee)
);
CREATE INDEX access_grants_grantee ON access_grants (grantee) WHERE revoked_at IS NULL;

CREATE TABLE training_jobs (
    address          text PRIMARY KEY,   -- TrainingJob PDA ["job", mirror, job_id]
    mirror           text          NOT NULL,
    job_id           bigint        NOT NULL,
    requester        text          NOT NULL,
    dataset_cid      text          NOT NULL,
    epochs           integer       NOT NULL,
    seq_len          integer       NOT NULL,
    batch_size       integer       NOT NULL,
    learning_rate_micros bigint    NOT NULL,
    status           text          NOT NULL CHECK (status IN ('Requested', 'Running', 'Completed', 'Failed', 'Cancelled')),
    trainer          text,                -- trainer authority once started
    model_cid        text,
    weights_sha256   text,
    final_loss_micros numeric(20,0),
    tokens_trained   numeric(20,0),
    failure_code     integer,
    cancelled_by     text,
    requested_at     timestamptz   NOT NULL,
    started_at       timestamptz,
    finished_at      timestamptz,
    last_slot        bigint        NOT NULL,
    UNIQUE (mirror, job_id)
);
CREATE INDEX training_jobs_status ON training_jobs (status, requested_at);
CREATE INDEX training_jobs_requester ON training_jobs (requester);
CREATE INDEX training_jobs_trainer ON training_jobs (trainer) WHERE trainer IS NOT NULL;

CREATE TABLE model_versions (
    address           text PRIMARY KEY,  -- ModelVersion PDA ["model", mirror, version]
    mirror            text          NOT NULL,
    version           integer       NOT NULL,
    job               text          NOT NULL,
    model_cid         text          NOT NULL,
    weights_sha256    text          NOT NULL,
    final_loss_micros numeric(20,0) NOT NULL,
    tokens_trained    numeric(20,0) NOT NULL,
    created_at        timestamptz   NOT NULL,
    last_slot         bigint        NOT NULL,
    UNIQUE (mirror, version)
);
CREATE INDEX model_versions_job ON model_versions (job);

-- Where the indexer stands: per program and commitment, the last transaction whose
-- events are all applied (confirmed) or all marked finalized (finalized).
CREATE TABLE indexer_cursor (
    program_id  text   NOT NULL,
    commitment  text   NOT NULL CHECK (commitment IN ('confirmed', 'finalized')),
    signature   text,
    slot        bigint NOT NULL DEFAULT 0,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (program_id, commitment)
);

-- Publishing to Redis follows chain_events.id: messages go out after commit, in
-- commit order, and the watermark moves only once Redis took them (at least once).
CREATE TABLE publish_cursor (
    name          text PRIMARY KEY,
    last_event_id bigint NOT NULL DEFAULT 0,
    updated_at    timestamptz NOT NULL DEFAULT now()
);

-- What the indexer could not apply, for an operator to see: undecodable payloads,
-- unknown event discriminators (payload kept raw), transactions the RPC could not
-- return, truncated logs. Nothing is skipped silently.
CREATE TABLE skipped_items (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    signature    text        NOT NULL,
    event_index  integer     NOT NULL DEFAULT -1,  -- -1: the whole transaction
    slot         bigint,
    program_id   text        NOT NULL,
    reason       text        NOT NULL CHECK (reason IN ('unknown_discriminator', 'decode_error', 'bad_log_line', 'rpc_unavailable', 'log_truncated')),
    detail       text        NOT NULL,
    raw          text,                             -- base64 payload when there was one
    created_at   timestamptz NOT NULL DEFAULT now(),
    resolved_at  timestamptz,
    UNIQUE (signature, event_index, reason)
);
CREATE INDEX skipped_items_open ON skipped_items (created_at) WHERE resolved_at IS NULL;
