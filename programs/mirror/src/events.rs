//! One event per state change. Each names the accounts it concerns and carries
//! the on-chain unix timestamp (Clock) so that consumers need no extra lookups.
use anchor_lang::prelude::*;

use crate::state::{JobStatus, TrainingMetrics, TrainingParams, Visibility};

#[event]
pub struct ConfigInitialized {
    pub config: Pubkey,
    pub admin: Pubkey,
    pub timestamp: i64,
}

#[event]
pub struct TrainerRegistered {
    pub trainer: Pubkey,
    pub authority: Pubkey,
    pub encryption_key: [u8; 32],
    pub timestamp: i64,
}

#[event]
pub struct TrainerDeactivated {
    pub trainer: Pubkey,
    pub authority: Pubkey,
    pub timestamp: i64,
}

#[event]
pub struct AdminProposed {
    pub config: Pubkey,
    pub admin: Pubkey,
    /// `Pubkey::default()` when the admin withdrew a pending proposal.
    pub proposed_admin: Pubkey,
    pub timestamp: i64,
}

#[event]
pub struct AdminChanged {
    pub config: Pubkey,
    pub previous_admin: Pubkey,
    pub new_admin: Pubkey,
    pub timestamp: i64,
}

#[event]
pub struct PauseChanged {
    pub config: Pubkey,
    pub admin: Pubkey,
    pub paused: bool,
    pub timestamp: i64,
}

#[event]
pub struct MirrorCreated {
    pub mirror: Pubkey,
    pub creator: Pubkey,
    pub owner: Pubkey,
    pub mirror_id: u64,
    pub name: String,
    pub metadata_uri: String,
    pub visibility: Visibility,
    pub timestamp: i64,
}

/// Carries the mirror's full editable state after the update.
#[event]
pub struct MirrorUpdated {
    pub mirror: Pubkey,
    pub authority: Pubkey,
    pub name: String,
    pub metadata_uri: String,
    pub visibility: Visibility,
    pub timestamp: i64,
}

#[event]
pub struct MirrorTransferred {
    pub mirror: Pubkey,
    pub previous_owner: Pubkey,
    pub new_owner: Pubkey,
    pub timestamp: i64,
}

#[event]
pub struct MirrorFrozen {
    pub mirror: Pubkey,
    pub owner: Pubkey,
    pub timestamp: i64,
}

#[event]
pub struct AccessGranted {
    pub mirror: Pubkey,
    pub grant: Pubkey,
    pub grantee: Pubkey,
    pub permissions: u8,
    pub expires_at: i64,
    pub granted_by: Pubkey,
    pub timestamp: i64,
}

#[event]
pub struct AccessRevoked {
    pub mirror: Pubkey,
    pub grant: Pubkey,
    pub grantee: Pubkey,
    pub revoked_by: Pubkey,
    pub timestamp: i64,
}

#[event]
pub struct TrainRequested {
    pub mirror: Pubkey,
    pub job: Pubkey,
    pub job_id: u64,
    pub requester: Pubkey,
    pub dataset_cid: String,
    pub params: TrainingParams,
    pub timestamp: i64,
}

#[event]
pub struct TrainingCancelled {
    pub mirror: Pubkey,
    pub job: Pubkey,
    pub job_id: u64,
    pub cancelled_by: Pubkey,
    pub previous_status: JobStatus,
    pub timestamp: i64,
}

#[event]
pub struct TrainingStarted {
    pub mirror: Pubkey,
    pub job: Pubkey,
    pub job_id: u64,
    pub trainer: Pubkey,
    pub timestamp: i64,
}

#[event]
pub struct TrainingCompleted {
    pub mirror: Pubkey,
    pub job: Pubkey,
    pub job_id: u64,
    pub trainer: Pubkey,
    pub model: Pubkey,
    pub version: u32,
    pub model_cid: String,
    pub weights_sha256: [u8; 32],
    pub metrics: TrainingMetrics,
    pub timestamp: i64,
}

#[event]
pub struct ModelPublished {
    pub mirror: Pubkey,
    pub model: Pubkey,
    pub version: u32,
    pub job: Pubkey,
    pub model_cid: String,
    pub weights_sha256: [u8; 32],
    pub metrics: TrainingMetrics,
    pub timestamp: i64,
}

#[event]
pub struct TrainingFailed {
    pub mirror: Pubkey,
    pub job: Pubkey,
    pub job_id: u64,
    pub trainer: Pubkey,
    pub reason_code: u16,
    pub timestamp: i64,
}
