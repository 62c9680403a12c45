use anchor_lang::prelude::*;

use crate::constants::CONFIG_SEED;
use crate::errors::MirrorError;
use crate::events::PauseChanged;
use crate::instructions::now;
use crate::state::Config;

#[derive(Accounts)]
pub struct SetPaused<'info> {
    #[account(mut, seeds = [CONFIG_SEED], bump = config.bump, has_one = admin @ MirrorError::NotAdmin)]
    pub config: Account<'info, Config>,
    pub admin: Signer<'info>,
}

pub fn handler(ctx: Context<SetPaused>, paused: bool) -> Result<()> {
    let config = &mut ctx.accounts.config;
    config.paused = paused;
    emit!(PauseChanged { config: config.key(), admin: config.admin, paused, timestamp: now()? });
    Ok(())
}
