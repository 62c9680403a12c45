use anchor_lang::prelude::*;

use crate::constants::{CONFIG_SEED, TRAINER_SEED};
use crate::errors::MirrorError;
use crate::events::TrainerRegistered;
use crate::instructions::now;
use crate::state::{Config, Trainer};

/// Registers a trainer, or re-activates one with a (possibly rotated) key.
#[derive(Accounts)]
#[instruction(authority: Pubkey)]
pub struct RegisterTrainer<'info> {
    #[account(mut, seeds = [CONFIG_SEED], bump = config.bump, has_one = admin @ MirrorError::NotAdmin)]
    pub config: Account<'info, Config>,
    #[account(
        init_if_needed,
        payer = admin,
        space = 8 + Trainer::INIT_SPACE,
        seeds = [TRAINER_SEED, authority.as_ref()],
        bump
    )]
    pub trainer: Account<'info, Trainer>,
    #[account(mut)]
    pub admin: Signer<'info>,
    pub system_program: Program<'info, System>,
}

pub fn handler(ctx: Context<RegisterTrainer>, authority: Pubkey, encryption_key: [u8; 32]) -> Result<()> {
    // The default address marks an unregistered Trainer account below.
    require!(authority != Pubkey::default(), MirrorError::InvalidTrainerAuthority);
    require!(encryption_key != [0u8; 32], MirrorError::InvalidEncryptionKey);
    let now = now()?;
    let trainer = &mut ctx.accounts.trainer;
    let is_new = trainer.authority == Pubkey::default();
    if is_new {
        trainer.authority = authority;
        trainer.registered_at = now;
        trainer.bump = ctx.bumps.trainer;
        let config = &mut ctx.accounts.config;
        config.trainer_count = config.trainer_count.checked_add(1).ok_or(MirrorError::Overflow)?;
    }
    trainer.encryption_key = encryption_key;
    trainer.active = true;
    trainer.updated_at = now;
    emit!(TrainerRegistered { trainer: trainer.key(), authority, encryption_key, timestamp: now });
    Ok(())
}
