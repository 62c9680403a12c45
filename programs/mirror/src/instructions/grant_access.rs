use anchor_lang::prelude::*;

use crate::constants::{CONFIG_SEED, GRANT_SEED, PERM_ALL};
use crate::errors::MirrorError;
use crate::events::AccessGranted;
use crate::instructions::now;
use crate::state::{AccessGrant, Config, Mirror};

/// Creates the grant, or replaces its permissions and expiry.
#[derive(Accounts)]
#[instruction(grantee: Pubkey)]
pub struct GrantAccess<'info> {
    #[account(seeds = [CONFIG_SEED], bump = config.bump, constraint = !config.paused @ MirrorError::ProgramPaused)]
    pub config: Account<'info, Config>,
    #[account(has_one = owner @ MirrorError::NotOwner)]
    pub mirror: Account<'info, Mirror>,
    #[account(
        init_if_needed,
        payer = owner,
        space = 8 + AccessGrant::INIT_SPACE,
        seeds = [GRANT_SEED, mirror.key().as_ref(), grantee.as_ref()],
        bump
    )]
    pub grant: Account<'info, AccessGrant>,
    #[account(mut)]
    pub owner: Signer<'info>,
    pub system_program: Program<'info, System>,
}

pub fn handler(ctx: Context<GrantAccess>, grantee: Pubkey, permissions: u8, expires_at: i64) -> Result<()> {
    require!(permissions != 0 && permissions & !PERM_ALL == 0, MirrorError::InvalidPermissions);
    let now = now()?;
    require!(expires_at == 0 || expires_at > now, MirrorError::InvalidExpiry);
    let mirror = &ctx.accounts.mirror;
    require!(grantee != mirror.owner, MirrorError::CannotGrantToOwner);

    let mirror_key = mirror.key();
    let grant = &mut ctx.accounts.grant;
    if grant.mirror == Pubkey::default() {
        grant.mirror = mirror_key;
        grant.grantee = grantee;
        grant.granted_at = now;
        grant.bump = ctx.bumps.grant;
    }
    grant.granted_by = ctx.accounts.owner.key();
    grant.permissions = permissions;
    grant.expires_at = expires_at;
    grant.updated_at = now;

    emit!(AccessGranted {
        mirror: mirror_key,
        grant: grant.key(),
        grantee,
        permissions,
        expires_at,
        granted_by: ctx.accounts.owner.key(),
        timestamp: now,
    });
    Ok(())
}
