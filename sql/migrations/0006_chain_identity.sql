-- The read models belong to one chain. The indexer records the genesis hash of the
-- chain it indexes on its first start and checks it on every connect to the node (at
-- start and after every reconnect): a node with another genesis (a localnet reset on
-- the same port) is refused, and only `python -m indexer --reset-chain` starts the read
-- models afresh for it (indexer/chain_identity.py).

-- One row at most (the `singleton` key can only be true).
CREATE TABLE chain_identity (
    singleton    boolean     PRIMARY KEY DEFAULT true CHECK (singleton),
    genesis_hash text        NOT NULL,  -- getGenesisHash of the node, base58
    program_id   text        NOT NULL,  -- the program the indexer recorded it for
    rpc_url      text,                  -- where it was first seen (for the operator; the hash is what counts)
    recorded_at  timestamptz NOT NULL DEFAULT now()
);

-- Every --reset-chain, for the operator: which chain's rows were dropped, and how many.
CREATE TABLE chain_resets (
    id                  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    old_genesis_hash    text,           -- NULL: none was recorded
    new_genesis_hash    text        NOT NULL,
    dropped             jsonb       NOT NULL,  -- table -> rows deleted
    last_event_id       bigint,         -- chain_events.id before the reset: ids go on above it
    reset_at            timestamptz NOT NULL DEFAULT now()
);

-- chain_events is append-only; its row trigger does not see TRUNCATE. Refuse it too,
-- except inside the --reset-chain transaction, which sets mirror.chain_reset locally.
CREATE FUNCTION chain_events_no_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF coalesce(current_setting('mirror.chain_reset', true), '') <> 'on' THEN
        RAISE EXCEPTION 'chain_events is append-only: only `python -m indexer --reset-chain` may empty it';
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER chain_events_no_truncate BEFORE TRUNCATE ON chain_events
    FOR EACH STATEMENT EXECUTE FUNCTION chain_events_no_truncate();
