use anchor_lang::prelude::*;

use crate::constants::{CONFIG_SEED, JOB_SEED, PERM_TRAIN};
use crate::errors::MirrorError;
use crate::events::TrainRequested;
use crate::instructions::now;
use crate::state::{
    validate_cid, AccessGrant, Config, JobStatus, Mirror, TrainingJob, TrainingMetrics, TrainingParams,
};

/// Signed by the owner, or by a grantee holding TRAIN (who passes their grant).
/// The job's id is the mirror's job_count at the time of the request.
#[derive(Accounts)]
pub struct RequestTraining<'info> {
    #[account(mut, seeds = [CONFIG_SEED], bump = config.bump, constraint = !config.paused @ MirrorError::ProgramPaused)]
    pub config: Account<'info, Config>,
    #[account(mut)]
    pub mirror: Account<'info, Mirror>,
    pub grant: Option<Account<'info, AccessGrant>>,
    #[account(
        init,
        payer = requester,
        space = 8 + TrainingJob::INIT_SPACE,
        seeds = [JOB_SEED, mirror.key().as_ref(), &mirror.job_count.to_le_bytes()],
        bump
    )]
    pub job: Account<'info, TrainingJob>,
    #[account(mut)]
    pub requester: Signer<'info>,
    pub system_program: Program<'info, System>,
}

pub fn handler(ctx: Context<RequestTraining>, dataset_cid: String, params: TrainingParams) -> Result<()> {
    validate_cid(&dataset_cid, MirrorError::DatasetCidTooLong)?;
    params.validate()?;
    let now = now()?;
    let mirror_key = ctx.accounts.mirror.key();
    let requester = ctx.accounts.requester.key();
    let mirror = &mut ctx.accounts.mirror;
    mirror.require_active()?;
    mirror.require_authority(&mirror_key, &requester, ctx.accounts.grant.as_deref(), PERM_TRAIN, now)?;

    let job_id = mirror.job_count;
    mirror.job_count = job_id.checked_add(1).ok_or(MirrorError::Overflow)?;
    let config = &mut ctx.accounts.config;
    config.job_count = config.job_count.checked_add(1).ok_or(MirrorError::Overflow)?;

    let job = &mut ctx.accounts.job;
    job.mirror = mirror_key;
    job.job_id = job_id;
    job.requester = requester;
    job.dataset_cid = dataset_cid.clone();
    job.params = params;
    job.status = JobStatus::Requested;
    job.trainer = Pubkey::default();
    job.model_cid = String::new();
    job.weights_sha256 = [0; 32];
    job.metrics = TrainingMetrics::default();
    job.failure_code = 0;
    job.requested_at = now;
    job.bump = ctx.bumps.job;

    emit!(TrainRequested {
        mirror: mirror_key,
        job: job.key(),
        job_id,
        requester,
        dataset_cid,
        params,
        timestamp: now,
    });
    Ok(())
}
