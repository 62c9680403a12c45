//! Mirror Reality: ownership, access rights, training jobs and model versions
//! of AI "mirrors", on Solana. `lib.rs` only dispatches; each instruction lives
//! in `instructions/` with its accounts and handler.
// Anchor 0.31's generated code calls the deprecated AccountInfo::realloc.
#![allow(deprecated)]

use anchor_lang::prelude::*;

pub mod constants;
pub mod errors;
pub mod events;
pub mod instructions;
pub mod state;

pub use constants::*;
pub use errors::*;
pub use events::*;
pub use instructions::*;
pub use state::*;

declare_id!("8G4Dnm2zbqX88bgEQkFpcuMPBnqUvJ5NM3Cw6yvWZVAY");

#[program]
pub mod mirror {
    use super::*;

    pub fn initialize_config(ctx: Context<InitializeConfig>) -> Result<()> {
        initialize_config::handler(ctx)
    }

    pub fn register_trainer(ctx: Context<RegisterTrainer>, authority: Pubkey, encryption_key: [u8; 32]) -> Result<()> {
        register_trainer::handler(ctx, authority, encryption_key)
    }

    pub fn deactivate_trainer(ctx: Context<DeactivateTrainer>) -> Result<()> {
        deactivate_trainer::handler(ctx)
    }

    pub fn set_paused(ctx: Context<SetPaused>, paused: bool) -> Result<()> {
        set_paused::handler(ctx, paused)
    }

    pub fn propose_admin(ctx: Context<ProposeAdmin>, new_admin: Pubkey) -> Result<()> {
        propose_admin::handler(ctx, new_admin)
    }

    pub fn accept_admin(ctx: Context<AcceptAdmin>) -> Result<()> {
        accept_admin::handler(ctx)
    }

    pub fn create_mirror(
        ctx: Context<CreateMirror>,
        mirror_id: u64,
        name: String,
        metadata_uri: String,
        visibility: Visibility,
    ) -> Result<()> {
        create_mirror::handler(ctx, mirror_id, name, metadata_uri, visibility)
    }

    pub fn update_mirror(
        ctx: Context<UpdateMirror>,
        name: Option<String>,
        metadata_uri: Option<String>,
        visibility: Option<Visibility>,
    ) -> Result<()> {
        update_mirror::handler(ctx, name, metadata_uri, visibility)
    }

    pub fn transfer_mirror(ctx: Context<TransferMirror>, new_owner: Pubkey) -> Result<()> {
        transfer_mirror::handler(ctx, new_owner)
    }

    pub fn freeze_mirror(ctx: Context<FreezeMirror>) -> Result<()> {
        freeze_mirror::handler(ctx)
    }

    pub fn grant_access(ctx: Context<GrantAccess>, grantee: Pubkey, permissions: u8, expires_at: i64) -> Result<()> {
        grant_access::handler(ctx, grantee, permissions, expires_at)
    }

    pub fn revoke_access(ctx: Context<RevokeAccess>) -> Result<()> {
        revoke_access::handler(ctx)
    }

    pub fn request_training(ctx: Context<RequestTraining>, dataset_cid: String, params: TrainingParams) -> Result<()> {
        request_training::handler(ctx, dataset_cid, params)
    }

    pub fn cancel_training(ctx: Context<CancelTraining>) -> Result<()> {
        cancel_training::handler(ctx)
    }

    pub fn start_training(ctx: Context<StartTraining>) -> Result<()> {
        start_training::handler(ctx)
    }

    pub fn complete_training(
        ctx: Context<CompleteTraining>,
        version: u32,
        model_cid: String,
        weights_sha256: [u8; 32],
        metrics: TrainingMetrics,
    ) -> Result<()> {
        complete_training::handler(ctx, version, model_cid, weights_sha256, metrics)
    }

    pub fn fail_training(ctx: Context<FailTraining>, reason_code: u16) -> Result<()> {
        fail_training::handler(ctx, reason_code)
    }
}
