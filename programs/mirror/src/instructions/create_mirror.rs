use anchor_lang::prelude::*;

use crate::constants::{CONFIG_SEED, MIRROR_SEED};
use crate::errors::MirrorError;
use crate::events::MirrorCreated;
use crate::instructions::now;
use crate::state::{validate_metadata_uri, validate_name, Config, Mirror, MirrorStatus, Visibility};

#[derive(Accounts)]
#[instruction(mirror_id: u64)]
pub struct CreateMirror<'info> {
    #[account(mut, seeds = [CONFIG_SEED], bump = config.bump, constraint = !config.paused @ MirrorError::ProgramPaused)]
    pub config: Account<'info, Config>,
    #[account(
        init,
        payer = creator,
        space = 8 + Mirror::INIT_SPACE,
        seeds = [MIRROR_SEED, creator.key().as_ref(), &mirror_id.to_le_bytes()],
        bump
    )]
    pub mirror: Account<'info, Mirror>,
    #[account(mut)]
    pub creator: Signer<'info>,
    pub system_program: Program<'info, System>,
}

pub fn handler(
    ctx: Context<CreateMirror>,
    mirror_id: u64,
    name: String,
    metadata_uri: String,
    visibility: Visibility,
) -> Result<()> {
    validate_name(&name)?;
    validate_metadata_uri(&metadata_uri)?;
    let now = now()?;
    let creator = ctx.accounts.creator.key();

    let config = &mut ctx.accounts.config;
    config.mirror_count = config.mirror_count.checked_add(1).ok_or(MirrorError::Overflow)?;

    let mirror = &mut ctx.accounts.mirror;
    mirror.creator = creator;
    mirror.owner = creator;
    mirror.mirror_id = mirror_id;
    mirror.name = name.clone();
    mirror.metadata_uri = metadata_uri.clone();
    mirror.visibility = visibility;
    mirror.status = MirrorStatus::Active;
    mirror.model_version = 0;
    mirror.job_count = 0;
    mirror.created_at = now;
    mirror.updated_at = now;
    mirror.bump = ctx.bumps.mirror;

    emit!(MirrorCreated {
        mirror: mirror.key(),
        creator,
        owner: creator,
        mirror_id,
        name,
        metadata_uri,
        visibility,
        timestamp: now,
    });
    Ok(())
}
