use anchor_lang::prelude::*;

use crate::constants::{MAX_METADATA_URI_LEN, MAX_NAME_LEN};
use crate::errors::MirrorError;
use crate::state::AccessGrant;

#[derive(AnchorSerialize, AnchorDeserialize, Clone, Copy, PartialEq, Eq, Debug, InitSpace)]
pub enum Visibility {
    Public,
    Private,
}

#[derive(AnchorSerialize, AnchorDeserialize, Clone, Copy, PartialEq, Eq, Debug, InitSpace)]
pub enum MirrorStatus {
    Active,
    Frozen,
}

/// An AI model of a person, PDA `["mirror", creator, mirror_id u64 le]`.
#[account]
#[derive(InitSpace, Debug)]
pub struct Mirror {
    pub creator: Pubkey,
    pub owner: Pubkey,
    pub mirror_id: u64,
    #[max_len(MAX_NAME_LEN)]
    pub name: String,
    #[max_len(MAX_METADATA_URI_LEN)]
    pub metadata_uri: String,
    pub visibility: Visibility,
    pub status: MirrorStatus,
    /// Latest published model version; 0 until the first training completes.
    pub model_version: u32,
    /// Jobs ever requested; the next job's id.
    pub job_count: u64,
    pub created_at: i64,
    pub updated_at: i64,
    pub bump: u8,
}

impl Mirror {
    pub fn require_active(&self) -> Result<()> {
        require!(self.status == MirrorStatus::Active, MirrorError::MirrorFrozen);
        Ok(())
    }

    /// The owner may do anything; anyone else needs an unexpired grant on this
    /// mirror, addressed to them, holding `permission`.
    pub fn require_authority(
        &self,
        mirror_key: &Pubkey,
        signer: &Pubkey,
        grant: Option<&AccessGrant>,
        permission: u8,
        now: i64,
    ) -> Result<()> {
        if *signer == self.owner {
            return Ok(());
        }
        let grant = grant.ok_or(MirrorError::NotAuthorized)?;
        require!(grant.mirror == *mirror_key && grant.grantee == *signer, MirrorError::GrantMismatch);
        require!(grant.granted_by == self.owner, MirrorError::StaleGrant);
        require!(!grant.is_expired(now), MirrorError::GrantExpired);
        require!(grant.permissions & permission == permission, MirrorError::MissingPermission);
        Ok(())
    }
}

pub fn validate_name(name: &str) -> Result<()> {
    require!(!name.is_empty(), MirrorError::NameEmpty);
    require!(name.len() <= MAX_NAME_LEN, MirrorError::NameTooLong);
    require_printable(name)
}

pub fn validate_metadata_uri(uri: &str) -> Result<()> {
    require!(uri.len() <= MAX_METADATA_URI_LEN, MirrorError::MetadataUriTooLong);
    require_printable(uri)
}

/// NUL, newlines and other control characters break every consumer downstream
/// (PostgreSQL text refuses NUL; logs and UIs garble the rest).
fn require_printable(text: &str) -> Result<()> {
    require!(!text.chars().any(char::is_control), MirrorError::ControlCharacters);
    Ok(())
}
