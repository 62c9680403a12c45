use anchor_lang::prelude::*;

/// Rights of one grantee on one mirror, PDA `["grant", mirror, grantee]`.
#[account]
#[derive(InitSpace, Debug)]
pub struct AccessGrant {
    pub mirror: Pubkey,
    pub grantee: Pubkey,
    /// The owner who made or last changed the grant. A grant only counts while
    /// this is still the mirror's owner: a sale does not carry the seller's grants.
    pub granted_by: Pubkey,
    /// Bitmask of PERM_VIEW | PERM_INFER | PERM_TRAIN | PERM_MANAGE.
    pub permissions: u8,
    /// Unix seconds after which the grant no longer counts; 0 = never.
    pub expires_at: i64,
    pub granted_at: i64,
    pub updated_at: i64,
    pub bump: u8,
}

impl AccessGrant {
    pub fn is_expired(&self, now: i64) -> bool {
        self.expires_at != 0 && now >= self.expires_at
    }
}
