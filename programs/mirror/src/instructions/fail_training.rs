use anchor_lang::prelude::*;

use crate::constants::TRAINER_SEED;
use crate::errors::MirrorError;
use crate::events::TrainingFailed;
use crate::instructions::now;
use crate::state::{JobStatus, Trainer, TrainingJob};

/// The trainer that started the job reports it failed, with a reason code
/// (constants FAIL_*). Allowed while paused and on frozen mirrors.
#[derive(Accounts)]
pub struct FailTraining<'info> {
    #[account(mut)]
    pub job: Account<'info, TrainingJob>,
    #[account(
        seeds = [TRAINER_SEED, authority.key().as_ref()],
        bump = trainer.bump,
        constraint = trainer.active @ MirrorError::TrainerInactive
    )]
    pub trainer: Account<'info, Trainer>,
    pub authority: Signer<'info>,
}

pub fn handler(ctx: Context<FailTraining>, reason_code: u16) -> Result<()> {
    require!(reason_code != 0, MirrorError::InvalidFailureCode);
    let authority = ctx.accounts.authority.key();
    let job = &mut ctx.accounts.job;
    require!(job.status == JobStatus::Running, MirrorError::InvalidJobTransition);
    require!(job.trainer == authority, MirrorError::WrongTrainer);
    let now = now()?;
    job.status = JobStatus::Failed;
    job.failure_code = reason_code;
    job.finished_at = now;
    emit!(TrainingFailed {
        mirror: job.mirror,
        job: job.key(),
        job_id: job.job_id,
        trainer: authority,
        reason_code,
        timestamp: now,
    });
    Ok(())
}
