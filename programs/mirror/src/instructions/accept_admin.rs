use anchor_lang::prelude::*;

use crate::constants::CONFIG_SEED;
use crate::errors::MirrorError;
use crate::events::AdminChanged;
use crate::instructions::now;
use crate::state::Config;

/// Second step of the admin handover: the proposed admin signs and becomes
/// admin; the previous admin loses every admin power at once. Allowed while
/// paused, so a handover can complete during an incident.
#[derive(Accounts)]
pub struct AcceptAdmin<'info> {
    #[account(
        mut,
        seeds = [CONFIG_SEED],
        bump = config.bump,
        constraint = config.pending_admin != Pubkey::default() @ MirrorError::NoPendingAdmin,
        constraint = config.pending_admin == new_admin.key() @ MirrorError::NotPendingAdmin,
    )]
    pub config: Account<'info, Config>,
    pub new_admin: Signer<'info>,
}

pub fn handler(ctx: Context<AcceptAdmin>) -> Result<()> {
    let config = &mut ctx.accounts.config;
    let previous_admin = config.admin;
    config.admin = config.pending_admin;
    config.pending_admin = Pubkey::default();
    emit!(AdminChanged { config: config.key(), previous_admin, new_admin: config.admin, timestamp: now()? });
    Ok(())
}
