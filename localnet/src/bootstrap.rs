//! Dev bootstrap: initialise Config with the dev admin and register the dev
//! trainer, whose X25519 key is the Montgomery form of its ed25519 key (what
//! PyNaCl's `to_curve25519_public_key` gives the trainer daemon).
//!
//! The node hosts Mirror as an upgradeable program whose upgrade authority is
//! [`DEV_ADMIN`] (keys/dev/localnet-admin-keypair.json), and initialize_config
//! accepts only the upgrade authority: bootstrapping with another admin key is
//! refused up front with an error that names both keys.

use std::path::Path;

use anchor_lang::{InstructionData, ToAccountMetas};
use curve25519_dalek::edwards::CompressedEdwardsY;
use solana_instruction::Instruction;
use solana_keypair::Keypair;
use solana_pubkey::Pubkey;
use solana_signer::Signer;

use crate::bank::Bank;

/// The public key of keys/dev/localnet-admin-keypair.json: the upgrade
/// authority of the Mirror program this node hosts.
pub const DEV_ADMIN: Pubkey = solana_pubkey::pubkey!("HS2LNJ4X4EMAjhtdtrCVeJARNdYikg8EXLjMWqvYT4ET");

pub fn read_keypair(path: &Path) -> anyhow::Result<Keypair> {
    let text = std::fs::read_to_string(path).map_err(|e| anyhow::anyhow!("read keypair {}: {e}", path.display()))?;
    let bytes: Vec<u8> =
        serde_json::from_str(&text).map_err(|e| anyhow::anyhow!("parse keypair {}: {e}", path.display()))?;
    Keypair::try_from(bytes.as_slice()).map_err(|e| anyhow::anyhow!("keypair {}: {e}", path.display()))
}

pub fn x25519_of(ed25519: &Pubkey) -> anyhow::Result<[u8; 32]> {
    CompressedEdwardsY(ed25519.to_bytes())
        .decompress()
        .map(|point| point.to_montgomery().to_bytes())
        .ok_or_else(|| anyhow::anyhow!("{ed25519} is not a valid ed25519 point"))
}

fn pda(seeds: &[&[u8]]) -> Pubkey {
    Pubkey::find_program_address(seeds, &mirror::ID).0
}

/// Idempotent: only sends what is missing.
pub fn run(bank: &mut Bank, admin: &Keypair, trainer: &Keypair) -> anyhow::Result<()> {
    let level = solana_commitment_config::CommitmentLevel::Processed;
    for who in [admin.pubkey(), trainer.pubkey()] {
        if bank.account_at(&who, level).map_or(0, |a| a.lamports) < 10_000_000_000 {
            bank.request_airdrop(&who, 1_000_000_000_000).map_err(|e| anyhow::anyhow!("airdrop: {}", e.message))?;
        }
    }
    let config = pda(&[mirror::CONFIG_SEED]);
    if bank.account_at(&config, level).is_none() {
        let program_data = native_host::upgradeable::get_program_data_address(&mirror::ID);
        let authority = bank
            .account_at(&program_data, level)
            .and_then(|account| native_host::upgradeable::upgrade_authority_of(&account))
            .flatten();
        if authority != Some(admin.pubkey()) {
            anyhow::bail!(
                "initialize_config needs the Mirror program's upgrade authority ({}), not {}: \
                 bootstrap with keys/dev/localnet-admin-keypair.json",
                authority.map_or_else(|| "none".to_string(), |a| a.to_string()),
                admin.pubkey()
            );
        }
        let ix = Instruction {
            program_id: mirror::ID,
            accounts: mirror::accounts::InitializeConfig {
                config,
                admin: admin.pubkey(),
                program: mirror::ID,
                program_data,
                system_program: solana_system_interface::program::ID,
            }
            .to_account_metas(None),
            data: mirror::instruction::InitializeConfig {}.data(),
        };
        bank.send_signed(&[ix], &[admin]).map_err(|e| anyhow::anyhow!("initialize_config: {}", e.message))?;
        tracing::info!(%config, admin = %admin.pubkey(), "config initialised");
    }
    let trainer_account = pda(&[mirror::TRAINER_SEED, trainer.pubkey().as_ref()]);
    if bank.account_at(&trainer_account, level).is_none() {
        let ix = Instruction {
            program_id: mirror::ID,
            accounts: mirror::accounts::RegisterTrainer {
                config,
                trainer: trainer_account,
                admin: admin.pubkey(),
                system_program: solana_system_interface::program::ID,
            }
            .to_account_metas(None),
            data: mirror::instruction::RegisterTrainer {
                authority: trainer.pubkey(),
                encryption_key: x25519_of(&trainer.pubkey())?,
            }
            .data(),
        };
        bank.send_signed(&[ix], &[admin]).map_err(|e| anyhow::anyhow!("register_trainer: {}", e.message))?;
        tracing::info!(trainer = %trainer.pubkey(), "dev trainer registered");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dev_admin_is_the_public_key_of_the_dev_admin_keypair() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../keys/dev/localnet-admin-keypair.json");
        assert_eq!(read_keypair(&path).expect("dev admin keypair").pubkey(), DEV_ADMIN);
    }
}
