use anchor_lang::prelude::*;

use crate::constants::CONFIG_SEED;
use crate::errors::MirrorError;
use crate::events::ConfigInitialized;
use crate::instructions::now;
use crate::program::Mirror;
use crate::state::Config;

/// Only the program's upgrade authority may create Config (and so become its
/// admin), so nobody can front-run the deployer between deploy and
/// initialisation. Anchor's documented pattern: the program account names its
/// ProgramData, and ProgramData names the upgrade authority.
#[derive(Accounts)]
pub struct InitializeConfig<'info> {
    #[account(init, payer = admin, space = 8 + Config::INIT_SPACE, seeds = [CONFIG_SEED], bump)]
    pub config: Account<'info, Config>,
    #[account(mut)]
    pub admin: Signer<'info>,
    #[account(constraint = program.programdata_address()? == Some(program_data.key()) @ MirrorError::ProgramDataMismatch)]
    pub program: Program<'info, Mirror>,
    #[account(constraint = program_data.upgrade_authority_address == Some(admin.key()) @ MirrorError::NotUpgradeAuthority)]
    pub program_data: Account<'info, ProgramData>,
    pub system_program: Program<'info, System>,
}

pub fn handler(ctx: Context<InitializeConfig>) -> Result<()> {
    let config = &mut ctx.accounts.config;
    config.admin = ctx.accounts.admin.key();
    config.pending_admin = Pubkey::default();
    config.paused = false;
    config.bump = ctx.bumps.config;
    emit!(ConfigInitialized { config: config.key(), admin: config.admin, timestamp: now()? });
    Ok(())
}
