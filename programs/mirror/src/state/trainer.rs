use anchor_lang::prelude::*;

/// A registered training service, PDA `["trainer", authority]`.
#[account]
#[derive(InitSpace, Debug)]
pub struct Trainer {
    pub authority: Pubkey,
    /// X25519 public key that datasets are sealed to.
    pub encryption_key: [u8; 32],
    pub active: bool,
    pub registered_at: i64,
    pub updated_at: i64,
    pub bump: u8,
}
