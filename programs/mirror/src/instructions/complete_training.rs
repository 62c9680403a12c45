use anchor_lang::prelude::*;

use crate::constants::{CONFIG_SEED, MODEL_SEED, TRAINER_SEED};
use crate::errors::MirrorError;
use crate::events::{ModelPublished, TrainingCompleted};
use crate::instructions::now;
use crate::state::{validate_cid, Config, JobStatus, Mirror, ModelVersion, Trainer, TrainingJob, TrainingMetrics};

/// The trainer that started the job publishes its model as the mirror's next
/// version (passed explicitly so that the ModelVersion's seeds are in the IDL).
/// Allowed while paused so that running work can land.
#[derive(Accounts)]
#[instruction(version: u32)]
pub struct CompleteTraining<'info> {
    #[account(mut, seeds = [CONFIG_SEED], bump = config.bump)]
    pub config: Account<'info, Config>,
    #[account(mut)]
    pub mirror: Account<'info, Mirror>,
    #[account(mut, has_one = mirror @ MirrorError::JobMirrorMismatch)]
    pub job: Account<'info, TrainingJob>,
    #[account(
        init,
        payer = authority,
        space = 8 + ModelVersion::INIT_SPACE,
        seeds = [MODEL_SEED, mirror.key().as_ref(), &version.to_le_bytes()],
        bump
    )]
    pub model: Account<'info, ModelVersion>,
    #[account(
        seeds = [TRAINER_SEED, authority.key().as_ref()],
        bump = trainer.bump,
        constraint = trainer.active @ MirrorError::TrainerInactive
    )]
    pub trainer: Account<'info, Trainer>,
    #[account(mut)]
    pub authority: Signer<'info>,
    pub system_program: Program<'info, System>,
}

pub fn handler(
    ctx: Context<CompleteTraining>,
    version: u32,
    model_cid: String,
    weights_sha256: [u8; 32],
    metrics: TrainingMetrics,
) -> Result<()> {
    validate_cid(&model_cid, MirrorError::ModelCidTooLong)?;
    let now = now()?;
    let authority = ctx.accounts.authority.key();
    let mirror_key = ctx.accounts.mirror.key();
    let model_key = ctx.accounts.model.key();

    let job = &mut ctx.accounts.job;
    require!(job.status == JobStatus::Running, MirrorError::InvalidJobTransition);
    require!(job.trainer == authority, MirrorError::WrongTrainer);

    let mirror = &mut ctx.accounts.mirror;
    mirror.require_active()?;
    let next = mirror.model_version.checked_add(1).ok_or(MirrorError::Overflow)?;
    require!(version == next, MirrorError::ModelVersionMismatch);
    mirror.model_version = version;
    mirror.updated_at = now;

    let config = &mut ctx.accounts.config;
    config.model_count = config.model_count.checked_add(1).ok_or(MirrorError::Overflow)?;

    job.status = JobStatus::Completed;
    job.model_cid = model_cid.clone();
    job.weights_sha256 = weights_sha256;
    job.metrics = metrics;
    job.finished_at = now;

    let model = &mut ctx.accounts.model;
    model.mirror = mirror_key;
    model.version = version;
    model.job = job.key();
    model.model_cid = model_cid.clone();
    model.weights_sha256 = weights_sha256;
    model.metrics = metrics;
    model.created_at = now;
    model.bump = ctx.bumps.model;

    emit!(TrainingCompleted {
        mirror: mirror_key,
        job: job.key(),
        job_id: job.job_id,
        trainer: authority,
        model: model_key,
        version,
        model_cid: model_cid.clone(),
        weights_sha256,
        metrics,
        timestamp: now,
    });
    emit!(ModelPublished {
        mirror: mirror_key,
        model: model_key,
        version,
        job: job.key(),
        model_cid,
        weights_sha256,
        metrics,
        timestamp: now,
    });
    Ok(())
}
