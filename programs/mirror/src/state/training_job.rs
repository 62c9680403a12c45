use anchor_lang::prelude::*;

use crate::constants::{MAX_BATCH_SIZE, MAX_CID_LEN, MAX_EPOCHS, MAX_SEQ_LEN};
use crate::errors::MirrorError;

#[derive(AnchorSerialize, AnchorDeserialize, Clone, Copy, PartialEq, Eq, Debug, InitSpace)]
pub enum JobStatus {
    Requested,
    Running,
    Completed,
    Failed,
    Cancelled,
}

/// What the requester asks the trainer to do. Fixed-point: millionths.
#[derive(AnchorSerialize, AnchorDeserialize, Clone, Copy, PartialEq, Eq, Debug, InitSpace)]
pub struct TrainingParams {
    pub epochs: u16,
    pub seq_len: u16,
    pub batch_size: u16,
    pub learning_rate_micros: u32,
    /// Train from scratch instead of continuing from the mirror's latest model
    /// (the trainer records either choice in the artifact's lineage).
    pub start_fresh: bool,
}

impl TrainingParams {
    pub fn validate(&self) -> Result<()> {
        let in_range = (1..=MAX_EPOCHS).contains(&self.epochs)
            && (1..=MAX_SEQ_LEN).contains(&self.seq_len)
            && (1..=MAX_BATCH_SIZE).contains(&self.batch_size)
            && self.learning_rate_micros > 0;
        require!(in_range, MirrorError::InvalidTrainingParams);
        Ok(())
    }
}

/// What the trainer reports. Fixed-point: millionths.
#[derive(AnchorSerialize, AnchorDeserialize, Clone, Copy, PartialEq, Eq, Debug, Default, InitSpace)]
pub struct TrainingMetrics {
    pub final_loss_micros: u64,
    pub tokens_trained: u64,
}

/// One training run of a mirror, PDA `["job", mirror, job_id u64 le]`.
#[account]
#[derive(InitSpace, Debug)]
pub struct TrainingJob {
    pub mirror: Pubkey,
    pub job_id: u64,
    pub requester: Pubkey,
    #[max_len(MAX_CID_LEN)]
    pub dataset_cid: String,
    pub params: TrainingParams,
    pub status: JobStatus,
    /// The trainer that started the job; default until then.
    pub trainer: Pubkey,
    #[max_len(MAX_CID_LEN)]
    pub model_cid: String,
    pub weights_sha256: [u8; 32],
    pub metrics: TrainingMetrics,
    pub failure_code: u16,
    pub requested_at: i64,
    pub started_at: i64,
    pub finished_at: i64,
    pub bump: u8,
}

/// CIDs are multibase strings: base58btc (CIDv0, `z…`) or base32/base36 (`b…`, `k…`),
/// all plain alphanumerics. Anything else is refused before it is stored.
pub fn validate_cid(cid: &str, too_long: MirrorError) -> Result<()> {
    require!(!cid.is_empty(), MirrorError::InvalidCid);
    if cid.len() > MAX_CID_LEN {
        return Err(too_long.into());
    }
    require!(cid.bytes().all(|b| b.is_ascii_alphanumeric()), MirrorError::InvalidCid);
    Ok(())
}
