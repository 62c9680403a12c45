use anchor_lang::prelude::*;

use crate::errors::MirrorError;
use crate::events::TrainingCancelled;
use crate::instructions::now;
use crate::state::{JobStatus, Mirror, TrainingJob};

/// The owner or the requester may cancel a job that has not finished. Allowed
/// while paused and on frozen mirrors: stopping work is always possible.
#[derive(Accounts)]
pub struct CancelTraining<'info> {
    pub mirror: Account<'info, Mirror>,
    #[account(mut, has_one = mirror @ MirrorError::JobMirrorMismatch)]
    pub job: Account<'info, TrainingJob>,
    pub authority: Signer<'info>,
}

pub fn handler(ctx: Context<CancelTraining>) -> Result<()> {
    let authority = ctx.accounts.authority.key();
    let job = &mut ctx.accounts.job;
    require!(authority == ctx.accounts.mirror.owner || authority == job.requester, MirrorError::NotAuthorized);
    let previous_status = job.status;
    require!(matches!(previous_status, JobStatus::Requested | JobStatus::Running), MirrorError::InvalidJobTransition);
    let now = now()?;
    job.status = JobStatus::Cancelled;
    job.finished_at = now;
    emit!(TrainingCancelled {
        mirror: job.mirror,
        job: job.key(),
        job_id: job.job_id,
        cancelled_by: authority,
        previous_status,
        timestamp: now,
    });
    Ok(())
}
