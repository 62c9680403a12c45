use anchor_lang::prelude::*;

use crate::constants::MAX_CID_LEN;
use crate::state::TrainingMetrics;

/// A published model of a mirror, PDA `["model", mirror, version u32 le]`.
#[account]
#[derive(InitSpace, Debug)]
pub struct ModelVersion {
    pub mirror: Pubkey,
    pub version: u32,
    pub job: Pubkey,
    #[max_len(MAX_CID_LEN)]
    pub model_cid: String,
    pub weights_sha256: [u8; 32],
    pub metrics: TrainingMetrics,
    pub created_at: i64,
    pub bump: u8,
}
