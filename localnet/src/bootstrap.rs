//! Dev bootstrap: initialise Config with the dev admin and register the dev
//! trainer, whose X25519 key is the Montgomery form of its ed25519 key (what
//! PyNaCl's `to_curve25519_public_key` gives the trainer daemon).

use std::path::Path;

use anchor_lang::{InstructionData, ToAccountMetas};
use curve25519_dalek::edwards::CompressedEdwardsY;
use solana_instruction::Instruction;
use solana_keypair::Keypair;
use solana_pubkey::Pubkey;
use solana_signer::Signer;

use crate::bank::Bank;

pub fn read_keypair(path: &Path) -> anyhow::Result<Keypair> {
    let text = std::fs::read_to_string(path).map_err(|e| anyhow::anyhow!("read keypair {}: {e}", path.display()))?;
    let bytes: Vec<u8> = serde_json::from_str(&text).map_err(|e| anyhow::anyhow!("parse keypair {}: {e}", path.display()))?;
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
        let ix = Instruction {
            program_id: mirror::ID,
            accounts: mirror::accounts::InitializeConfig {
                config,
                admin: admin.pubkey(),
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
