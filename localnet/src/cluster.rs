//! The one-node cluster this node is: its identity (the cluster node, the
//! leader of every slot and the voter) and the genesis figures
//! solana-test-validator starts with.

use solana_keypair::Keypair;
use solana_pubkey::Pubkey;
use solana_signer::Signer;

const LAMPORTS_PER_SOL: u64 = 1_000_000_000;
/// The faucet's (mint's) genesis balance, as solana-test-validator's.
pub const MINT_LAMPORTS: u64 = 500_000_000 * LAMPORTS_PER_SOL;
/// The validator identity's genesis balance, as solana-test-validator's.
pub const IDENTITY_LAMPORTS: u64 = 500 * LAMPORTS_PER_SOL;
/// The stake delegated to the node's vote account, as solana-test-validator's.
pub const VALIDATOR_STAKE_LAMPORTS: u64 = 1_000_000 * LAMPORTS_PER_SOL;

fn derived_keypair(seed: &[u8]) -> Keypair {
    Keypair::new_from_array(solana_sha256_hasher::hash(seed).to_bytes())
}

/// The node's identity keypair (deterministic: a dev node, not a secret).
pub fn identity() -> Keypair {
    derived_keypair(b"mirror-localnet node identity")
}

pub fn identity_pubkey() -> Pubkey {
    identity().pubkey()
}

/// The node's vote account.
pub fn vote_account_pubkey() -> Pubkey {
    derived_keypair(b"mirror-localnet node vote account").pubkey()
}
