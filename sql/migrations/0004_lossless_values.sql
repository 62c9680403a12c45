-- Every value the chain can hold is stored losslessly (DESIGN.md §4), so no value that one
-- user can send stops the indexer for everyone.
--
-- i64 timestamps: the raw integer is the truth, in `<column>_unix`. The timestamptz beside
-- it (for analysts) is chain_time(raw): the instant, or ±infinity outside the years 1..9999,
-- the range Python and most clients can hold (PostgreSQL's own ends in 294276).
-- u64 values are numeric(20,0); u32 values bigint.

CREATE FUNCTION chain_time(seconds bigint) RETURNS timestamptz
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT CASE WHEN seconds > 253402300799 THEN 'infinity'::timestamptz      -- after 9999-12-31T23:59:59Z
                WHEN seconds < -62135596800 THEN '-infinity'::timestamptz     -- before 0001-01-01T00:00:00Z
                ELSE to_timestamp(seconds) END
$$;
COMMENT ON FUNCTION chain_time(bigint) IS
    'unix seconds -> timestamptz; ±infinity outside the years 1..9999 (the raw value is kept beside it)';

-- chain_events: the block time as the node (or the event's Clock) gave it.
ALTER TABLE chain_events ADD COLUMN block_time_unix bigint;
UPDATE chain_events SET block_time_unix = extract(epoch FROM block_time)::bigint WHERE block_time IS NOT NULL;

CREATE OR REPLACE FUNCTION chain_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        RAISE EXCEPTION 'chain_events is append-only';
    END IF;
    IF (NEW.signature, NEW.event_index, NEW.slot, NEW.program_id, NEW.name, NEW.payload, NEW.block_time_unix)
       IS DISTINCT FROM (OLD.signature, OLD.event_index, OLD.slot, OLD.program_id, OLD.name, OLD.payload, OLD.block_time_unix)
       OR (OLD.commitment = 'finalized' AND NEW.commitment <> 'finalized') THEN
        RAISE EXCEPTION 'chain_events is append-only: only commitment confirmed -> finalized may change';
    END IF;
    RETURN NEW;
END $$;

-- Views that read columns whose type changes, or subtract timestamps that may now be
-- infinite, are dropped here and created again below.
DROP VIEW analytics.model_lineage;
DROP VIEW analytics.training_durations;

ALTER TABLE config
    ADD COLUMN created_at_unix bigint,
    ADD COLUMN updated_at_unix bigint;
UPDATE config SET created_at_unix = extract(epoch FROM created_at)::bigint, updated_at_unix = extract(epoch FROM updated_at)::bigint;
ALTER TABLE config ALTER COLUMN created_at_unix SET NOT NULL, ALTER COLUMN updated_at_unix SET NOT NULL;

ALTER TABLE trainers
    ADD COLUMN registered_at_unix bigint,
    ADD COLUMN updated_at_unix bigint;
UPDATE trainers SET registered_at_unix = extract(epoch FROM registered_at)::bigint, updated_at_unix = extract(epoch FROM updated_at)::bigint;
ALTER TABLE trainers ALTER COLUMN registered_at_unix SET NOT NULL, ALTER COLUMN updated_at_unix SET NOT NULL;

ALTER TABLE mirrors
    ALTER COLUMN job_count TYPE numeric(20,0),
    ALTER COLUMN model_version TYPE bigint,
    ADD COLUMN created_at_unix bigint,
    ADD COLUMN updated_at_unix bigint;
UPDATE mirrors SET created_at_unix = extract(epoch FROM created_at)::bigint, updated_at_unix = extract(epoch FROM updated_at)::bigint;
ALTER TABLE mirrors ALTER COLUMN created_at_unix SET NOT NULL, ALTER COLUMN updated_at_unix SET NOT NULL;

ALTER TABLE access_grants
    ADD COLUMN expires_at_unix bigint,   -- as on chain: 0 = never (expires_at is then NULL)
    ADD COLUMN granted_at_unix bigint,
    ADD COLUMN updated_at_unix bigint,
    ADD COLUMN revoked_at_unix bigint;
UPDATE access_grants SET expires_at_unix = coalesce(extract(epoch FROM expires_at)::bigint, 0),
                         granted_at_unix = extract(epoch FROM granted_at)::bigint,
                         updated_at_unix = extract(epoch FROM updated_at)::bigint,
                         revoked_at_unix = extract(epoch FROM revoked_at)::bigint;
ALTER TABLE access_grants ALTER COLUMN expires_at_unix SET NOT NULL, ALTER COLUMN granted_at_unix SET NOT NULL,
                          ALTER COLUMN updated_at_unix SET NOT NULL;

ALTER TABLE training_jobs
    ALTER COLUMN job_id TYPE numeric(20,0),
    ADD COLUMN requested_at_unix bigint,
    ADD COLUMN started_at_unix bigint,
    ADD COLUMN finished_at_unix bigint;
UPDATE training_jobs SET requested_at_unix = extract(epoch FROM requested_at)::bigint,
                         started_at_unix = extract(epoch FROM started_at)::bigint,
                         finished_at_unix = extract(epoch FROM finished_at)::bigint;
ALTER TABLE training_jobs ALTER COLUMN requested_at_unix SET NOT NULL;

ALTER TABLE model_versions
    ALTER COLUMN version TYPE bigint,
    ADD COLUMN created_at_unix bigint;
UPDATE model_versions SET created_at_unix = extract(epoch FROM created_at)::bigint;
ALTER TABLE model_versions ALTER COLUMN created_at_unix SET NOT NULL;

-- Training duration (start to completion or failure, in seconds) percentiles, per outcome.
-- From the raw seconds, in numeric: any two i64 timestamps subtract without overflow.
CREATE VIEW analytics.training_durations AS
SELECT status                                                                            AS outcome,
       count(*)                                                                          AS jobs,
       percentile_cont(0.5)  WITHIN GROUP (ORDER BY (finished_at_unix::numeric - started_at_unix)::float8) AS p50_seconds,
       percentile_cont(0.9)  WITHIN GROUP (ORDER BY (finished_at_unix::numeric - started_at_unix)::float8) AS p90_seconds,
       percentile_cont(0.99) WITHIN GROUP (ORDER BY (finished_at_unix::numeric - started_at_unix)::float8) AS p99_seconds,
       max(finished_at_unix::numeric - started_at_unix)                                 AS max_seconds
FROM training_jobs
WHERE status IN ('Completed', 'Failed') AND started_at_unix IS NOT NULL AND finished_at_unix IS NOT NULL
GROUP BY status;

-- Model lineage: each version of a mirror's model, the job and dataset that produced it,
-- and the version it replaced (with the change in final loss).
CREATE VIEW analytics.model_lineage AS
SELECT v.mirror,
       v.version,
       v.address                                   AS model,
       v.model_cid,
       v.weights_sha256,
       v.final_loss_micros,
       v.tokens_trained,
       v.created_at,
       v.created_at_unix,
       v.job,
       j.job_id,
       j.dataset_cid,
       j.requester,
       j.trainer,
       j.epochs,
       j.learning_rate_micros,
       lag(v.version)   OVER w                     AS parent_version,
       lag(v.model_cid) OVER w                     AS parent_model_cid,
       v.final_loss_micros - lag(v.final_loss_micros) OVER w AS loss_delta_micros
FROM model_versions v
LEFT JOIN training_jobs j ON j.address = v.job
WINDOW w AS (PARTITION BY v.mirror ORDER BY v.version);
