use anchor_lang::prelude::*;

use crate::errors::MirrorError;
use crate::events::AccessRevoked;
use crate::instructions::now;
use crate::state::{AccessGrant, Mirror};

/// Closes the grant and returns its rent to the owner. Allowed while paused:
/// taking rights away must always be possible.
#[derive(Accounts)]
pub struct RevokeAccess<'info> {
    #[account(has_one = owner @ MirrorError::NotOwner)]
    pub mirror: Account<'info, Mirror>,
    #[account(mut, close = owner, has_one = mirror @ MirrorError::GrantMismatch)]
    pub grant: Account<'info, AccessGrant>,
    #[account(mut)]
    pub owner: Signer<'info>,
}

pub fn handler(ctx: Context<RevokeAccess>) -> Result<()> {
    emit!(AccessRevoked {
        mirror: ctx.accounts.mirror.key(),
        grant: ctx.accounts.grant.key(),
        grantee: ctx.accounts.grant.grantee,
        revoked_by: ctx.accounts.owner.key(),
        timestamp: now()?,
    });
    Ok(())
}
