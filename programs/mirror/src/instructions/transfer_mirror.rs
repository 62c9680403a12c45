use anchor_lang::prelude::*;

use crate::constants::CONFIG_SEED;
use crate::errors::MirrorError;
use crate::events::MirrorTransferred;
use crate::instructions::now;
use crate::state::{Config, Mirror};

/// Ownership moves even for frozen mirrors: freezing fixes the model, not who holds it.
#[derive(Accounts)]
pub struct TransferMirror<'info> {
    #[account(seeds = [CONFIG_SEED], bump = config.bump, constraint = !config.paused @ MirrorError::ProgramPaused)]
    pub config: Account<'info, Config>,
    #[account(mut, has_one = owner @ MirrorError::NotOwner)]
    pub mirror: Account<'info, Mirror>,
    pub owner: Signer<'info>,
}

pub fn handler(ctx: Context<TransferMirror>, new_owner: Pubkey) -> Result<()> {
    let mirror = &mut ctx.accounts.mirror;
    require!(new_owner != Pubkey::default() && new_owner != mirror.owner, MirrorError::InvalidNewOwner);
    let now = now()?;
    let previous_owner = mirror.owner;
    mirror.owner = new_owner;
    mirror.updated_at = now;
    emit!(MirrorTransferred { mirror: mirror.key(), previous_owner, new_owner, timestamp: now });
    Ok(())
}
