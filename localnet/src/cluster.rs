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
/// The stake program's minimum delegation with every feature active (as on
/// solana-test-validator): 1 SOL.
pub const STAKE_MINIMUM_DELEGATION: u64 = LAMPORTS_PER_SOL;

/// Inflation as genesis sets it by default (solana-inflation's defaults).
pub struct Inflation {
    pub initial: f64,
    pub terminal: f64,
    pub taper: f64,
    pub foundation: f64,
    pub foundation_term: f64,
}

pub const INFLATION: Inflation =
    Inflation { initial: 0.08, terminal: 0.015, taper: 0.15, foundation: 0.05, foundation_term: 7.0 };

/// Slots in a year of 400 ms slots (64 ticks of 160 per second), as genesis counts them.
const SLOTS_PER_YEAR: f64 = 365.242_199 * 24.0 * 60.0 * 60.0 / 0.4;

impl Inflation {
    /// The inflation year of `epoch`'s first slot (inflation active from genesis).
    pub fn year_of_epoch(&self, epoch: u64) -> f64 {
        (epoch * crate::bank::SLOTS_PER_EPOCH) as f64 / SLOTS_PER_YEAR
    }
    pub fn total(&self, year: f64) -> f64 {
        (self.initial * (1.0 - self.taper).powf(year)).max(self.terminal)
    }
    pub fn foundation(&self, year: f64) -> f64 {
        if year < self.foundation_term {
            self.total(year) * self.foundation
        } else {
            0.0
        }
    }
    pub fn validator(&self, year: f64) -> f64 {
        self.total(year) - self.foundation(year)
    }
}

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
