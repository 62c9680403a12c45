-- Views for analysts (DESIGN.md §4). Read-only, computed from the projections.
CREATE SCHEMA analytics;

-- Mirrors created per UTC day (days without creations are absent).
CREATE VIEW analytics.daily_mirror_creations AS
SELECT (created_at AT TIME ZONE 'UTC')::date AS day,
       count(*)                             AS mirrors_created,
       count(DISTINCT creator)              AS distinct_creators,
       count(*) FILTER (WHERE visibility = 'Public') AS public_mirrors
FROM mirrors
GROUP BY 1;

-- Per UTC day of request: outcomes and success rate of training jobs.
-- success_rate = completed / (completed + failed); NULL while nothing has finished.
CREATE VIEW analytics.training_success_rate AS
SELECT (requested_at AT TIME ZONE 'UTC')::date AS day,
       count(*)                                   AS requested,
       count(*) FILTER (WHERE status = 'Completed') AS completed,
       count(*) FILTER (WHERE status = 'Failed')    AS failed,
       count(*) FILTER (WHERE status = 'Cancelled') AS cancelled,
       count(*) FILTER (WHERE status IN ('Requested', 'Running')) AS in_progress,
       round(count(*) FILTER (WHERE status = 'Completed')::numeric
             / NULLIF(count(*) FILTER (WHERE status IN ('Completed', 'Failed')), 0), 4) AS success_rate
FROM training_jobs
GROUP BY 1;

-- Training duration (start to completion or failure, in seconds) percentiles, per outcome.
CREATE VIEW analytics.training_durations AS
SELECT status                                                                  AS outcome,
       count(*)                                                                AS jobs,
       percentile_cont(0.5)  WITHIN GROUP (ORDER BY extract(epoch FROM finished_at - started_at)) AS p50_seconds,
       percentile_cont(0.9)  WITHIN GROUP (ORDER BY extract(epoch FROM finished_at - started_at)) AS p90_seconds,
       percentile_cont(0.99) WITHIN GROUP (ORDER BY extract(epoch FROM finished_at - started_at)) AS p99_seconds,
       max(extract(epoch FROM finished_at - started_at))                        AS max_seconds
FROM training_jobs
WHERE status IN ('Completed', 'Failed') AND started_at IS NOT NULL AND finished_at IS NOT NULL
GROUP BY status;

-- Grants per mirror: live grants (not revoked, not expired, and made by the current owner:
-- a sale does not carry the seller's grants) by permission bit, and all ever made.
CREATE VIEW analytics.grants_per_mirror AS
SELECT m.address AS mirror,
       m.owner,
       m.name,
       count(g.address) FILTER (WHERE g.revoked_at IS NULL AND g.granted_by = m.owner AND (g.expires_at IS NULL OR g.expires_at > now())) AS live_grants,
       count(g.address) FILTER (WHERE g.revoked_at IS NULL AND g.granted_by = m.owner AND (g.expires_at IS NULL OR g.expires_at > now()) AND g.permissions & 1 <> 0) AS can_view,
       count(g.address) FILTER (WHERE g.revoked_at IS NULL AND g.granted_by = m.owner AND (g.expires_at IS NULL OR g.expires_at > now()) AND g.permissions & 2 <> 0) AS can_infer,
       count(g.address) FILTER (WHERE g.revoked_at IS NULL AND g.granted_by = m.owner AND (g.expires_at IS NULL OR g.expires_at > now()) AND g.permissions & 4 <> 0) AS can_train,
       count(g.address) FILTER (WHERE g.revoked_at IS NULL AND g.granted_by = m.owner AND (g.expires_at IS NULL OR g.expires_at > now()) AND g.permissions & 8 <> 0) AS can_manage,
       count(g.address) AS grants_ever
FROM mirrors m
LEFT JOIN access_grants g ON g.mirror = m.address
GROUP BY m.address, m.owner, m.name;

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
