use anchor_lang::prelude::*;

use crate::constants::CONFIG_SEED;
use crate::events::ConfigInitialized;
use crate::instructions::now;
use crate::state::Config;

#[derive(Accounts)]
pub struct InitializeConfig<'info> {
    #[account(init, payer = admin, space = 8 + Config::INIT_SPACE, seeds = [CONFIG_SEED], bump)]
    pub config: Account<'info, Config>,
    #[account(mut)]
    pub admin: Signer<'info>,
    pub system_program: Program<'info, System>,
}

pub fn handler(ctx: Context<InitializeConfig>) -> Result<()> {
    let config = &mut ctx.accounts.config;
    config.admin = ctx.accounts.admin.key();
    config.paused = false;
    config.bump = ctx.bumps.config;
    emit!(ConfigInitialized {
        config: config.key(),
        admin: config.admin,
        timestamp: now()?,
    });
    Ok(())
}
