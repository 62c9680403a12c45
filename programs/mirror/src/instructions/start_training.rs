use anchor_lang::prelude::*;

use crate::constants::{CONFIG_SEED, TRAINER_SEED};
use crate::errors::MirrorError;
use crate::events::TrainingStarted;
use crate::instructions::now;
use crate::state::{Config, JobStatus, Mirror, Trainer, TrainingJob};

/// An active trainer claims a requested job. Refused while paused: no new work.
#[derive(Accounts)]
pub struct StartTraining<'info> {
    #[account(seeds = [CONFIG_SEED], bump = config.bump, constraint = !config.paused @ MirrorError::ProgramPaused)]
    pub config: Account<'info, Config>,
    pub mirror: Account<'info, Mirror>,
    #[account(mut, has_one = mirror @ MirrorError::JobMirrorMismatch)]
    pub job: Account<'info, TrainingJob>,
    #[account(
        seeds = [TRAINER_SEED, authority.key().as_ref()],
        bump = trainer.bump,
        constraint = trainer.active @ MirrorError::TrainerInactive
    )]
    pub trainer: Account<'info, Trainer>,
    pub authority: Signer<'info>,
}

pub fn handler(ctx: Context<StartTraining>) -> Result<()> {
    ctx.accounts.mirror.require_active()?;
    let job = &mut ctx.accounts.job;
    require!(job.status == JobStatus::Requested, MirrorError::InvalidJobTransition);
    let now = now()?;
    let trainer = ctx.accounts.authority.key();
    job.status = JobStatus::Running;
    job.trainer = trainer;
    job.started_at = now;
    emit!(TrainingStarted { mirror: job.mirror, job: job.key(), job_id: job.job_id, trainer, timestamp: now });
    Ok(())
}
