use anchor_lang::prelude::*;

use crate::constants::CONFIG_SEED;
use crate::errors::MirrorError;
use crate::events::TrainerDeactivated;
use crate::instructions::now;
use crate::state::{Config, Trainer};

#[derive(Accounts)]
pub struct DeactivateTrainer<'info> {
    #[account(seeds = [CONFIG_SEED], bump = config.bump, has_one = admin @ MirrorError::NotAdmin)]
    pub config: Account<'info, Config>,
    #[account(mut, constraint = trainer.active @ MirrorError::TrainerInactive)]
    pub trainer: Account<'info, Trainer>,
    pub admin: Signer<'info>,
}

pub fn handler(ctx: Context<DeactivateTrainer>) -> Result<()> {
    let now = now()?;
    let trainer = &mut ctx.accounts.trainer;
    trainer.active = false;
    trainer.updated_at = now;
    emit!(TrainerDeactivated { trainer: trainer.key(), authority: trainer.authority, timestamp: now });
    Ok(())
}
