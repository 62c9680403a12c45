use anchor_lang::prelude::*;

use crate::constants::{CONFIG_SEED, PERM_MANAGE};
use crate::errors::MirrorError;
use crate::events::MirrorUpdated;
use crate::instructions::now;
use crate::state::{validate_metadata_uri, validate_name, AccessGrant, Config, Mirror, Visibility};

/// Signed by the owner, or by a grantee holding MANAGE (who passes their grant).
#[derive(Accounts)]
pub struct UpdateMirror<'info> {
    #[account(seeds = [CONFIG_SEED], bump = config.bump, constraint = !config.paused @ MirrorError::ProgramPaused)]
    pub config: Account<'info, Config>,
    #[account(mut)]
    pub mirror: Account<'info, Mirror>,
    pub grant: Option<Account<'info, AccessGrant>>,
    pub authority: Signer<'info>,
}

pub fn handler(
    ctx: Context<UpdateMirror>,
    name: Option<String>,
    metadata_uri: Option<String>,
    visibility: Option<Visibility>,
) -> Result<()> {
    require!(name.is_some() || metadata_uri.is_some() || visibility.is_some(), MirrorError::NothingToUpdate);
    let now = now()?;
    let mirror_key = ctx.accounts.mirror.key();
    let authority = ctx.accounts.authority.key();
    let mirror = &mut ctx.accounts.mirror;
    mirror.require_active()?;
    mirror.require_authority(&mirror_key, &authority, ctx.accounts.grant.as_deref(), PERM_MANAGE, now)?;

    if let Some(name) = name {
        validate_name(&name)?;
        mirror.name = name;
    }
    if let Some(uri) = metadata_uri {
        validate_metadata_uri(&uri)?;
        mirror.metadata_uri = uri;
    }
    if let Some(visibility) = visibility {
        mirror.visibility = visibility;
    }
    mirror.updated_at = now;

    emit!(MirrorUpdated {
        mirror: mirror_key,
        authority,
        name: mirror.name.clone(),
        metadata_uri: mirror.metadata_uri.clone(),
        visibility: mirror.visibility,
        timestamp: now,
    });
    Ok(())
}
