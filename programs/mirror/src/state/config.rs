use anchor_lang::prelude::*;

/// Program-wide settings, PDA `["config"]`.
#[account]
#[derive(InitSpace, Debug)]
pub struct Config {
    pub admin: Pubkey,
    /// The admin proposed by `propose_admin`, who becomes admin on
    /// `accept_admin`; `Pubkey::default()` when no handover is pending.
    pub pending_admin: Pubkey,
    pub paused: bool,
    pub mirror_count: u64,
    pub trainer_count: u64,
    pub job_count: u64,
    pub model_count: u64,
    pub bump: u8,
}
