-- A transaction whose events decode but cannot be applied (a value the database
-- refuses, a handler error) is recorded instead of stopping the indexer.
ALTER TABLE skipped_items DROP CONSTRAINT skipped_items_reason_check;
ALTER TABLE skipped_items ADD CONSTRAINT skipped_items_reason_check
    CHECK (reason IN ('unknown_discriminator', 'decode_error', 'bad_log_line', 'rpc_unavailable', 'log_truncated', 'apply_error'));
