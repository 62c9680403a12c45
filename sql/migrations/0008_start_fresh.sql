-- TrainingParams.start_fresh (issue #9): the requester asked for a model trained from
-- scratch rather than a continuation of the mirror's latest version. Rows indexed before
-- the field existed were continuations, hence the default.
ALTER TABLE training_jobs ADD COLUMN start_fresh boolean NOT NULL DEFAULT false;

-- Model lineage follows the weights: a version trained from scratch has no parent
-- (parent_version and parent_model_cid are NULL), as its artifact records; the change
-- in loss is still against the version it replaced. start_fresh is shown last, so the
-- view keeps its columns and their order for existing queries.
CREATE OR REPLACE VIEW analytics.model_lineage AS
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
       CASE WHEN j.start_fresh THEN NULL ELSE lag(v.version)   OVER w END AS parent_version,
       CASE WHEN j.start_fresh THEN NULL ELSE lag(v.model_cid) OVER w END AS parent_model_cid,
       v.final_loss_micros - lag(v.final_loss_micros) OVER w AS loss_delta_micros,
       coalesce(j.start_fresh, false)              AS start_fresh
FROM model_versions v
LEFT JOIN training_jobs j ON j.address = v.job
WINDOW w AS (PARTITION BY v.mirror ORDER BY v.version);
