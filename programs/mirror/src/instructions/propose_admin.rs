use anchor_lang::prelude::*;

use crate::constants::CONFIG_SEED;
use crate::errors::MirrorError;
use crate::events::AdminProposed;
use crate::instructions::now;
use crate::state::Config;

/// First step of the admin handover: the admin names a successor, who must
/// accept (`accept_admin`) before anything changes, so a mistyped address
/// cannot lock the program out. Allowed while paused, like `set_paused`.
/// Proposing `Pubkey::default()` withdraws a pending proposal; a new proposal
/// replaces the pending one.
#[derive(Accounts)]
pub struct ProposeAdmin<'info> {
    #[account(mut, seeds = [CONFIG_SEED], bump = config.bump, has_one = admin @ MirrorError::NotAdmin)]
    pub config: Account<'info, Config>,
    pub admin: Signer<'info>,
}

pub fn handler(ctx: Context<ProposeAdmin>, new_admin: Pubkey) -> Result<()> {
    let config = &mut ctx.accounts.config;
    config.pending_admin = new_admin;
    emit!(AdminProposed { config: config.key(), admin: config.admin, proposed_admin: new_admin, timestamp: now()? });
    Ok(())
}
