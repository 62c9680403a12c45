use anchor_lang::prelude::*;

use crate::errors::MirrorError;
use crate::events::MirrorFrozen;
use crate::instructions::now;
use crate::state::{Mirror, MirrorStatus};

/// Freezing only reduces what can happen, so it is allowed while paused.
#[derive(Accounts)]
pub struct FreezeMirror<'info> {
    #[account(mut, has_one = owner @ MirrorError::NotOwner)]
    pub mirror: Account<'info, Mirror>,
    pub owner: Signer<'info>,
}

pub fn handler(ctx: Context<FreezeMirror>) -> Result<()> {
    let mirror = &mut ctx.accounts.mirror;
    mirror.require_active()?;
    let now = now()?;
    mirror.status = MirrorStatus::Frozen;
    mirror.updated_at = now;
    emit!(MirrorFrozen { mirror: mirror.key(), owner: mirror.owner, timestamp: now });
    Ok(())
}
