//! The node's state machine: a LiteSVM ledger hosting the Mirror program
//! natively, plus what a cluster adds around execution — slots that advance on
//! their own, a queue of recent blockhashes, commitment levels (finalized lags
//! by `finality_depth` slots), transaction history and the event stream that
//! PubSub serves. One `Bank` sits behind a mutex; every state change (and its
//! ledger record) happens under that lock, in order.
//!
//! One concern per file:
//! - this file: the `Bank` itself, its construction and ledger replay, and the
//!   ledger plumbing (record, durability of events);
//! - [`clock`]: slots, the unix clock, blockhashes and their validity;
//! - [`finality`]: the root, and reads as of a commitment level;
//! - [`execution`]: simulating, executing and recording transactions;
//! - [`fees`]: signature and priority fees;
//! - [`history`]: transaction history and its indexes.

mod blocks;
mod clock;
mod execution;
pub mod fees;
mod finality;
mod history;

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::path::PathBuf;
use std::sync::Arc;

use native_host::litesvm::LiteSVM;
use native_host::Chain;
use solana_account::Account;
use solana_clock::Slot;
use solana_commitment_config::CommitmentLevel;
use solana_hash::Hash;
use solana_keypair::Keypair;
use solana_pubkey::Pubkey;
use solana_signature::Signature;
use solana_signer::Signer;
use tokio::sync::broadcast;

use crate::ledger::{Appended, Block, Entry, Ledger, StoredTransaction};
use crate::rpc_error::{RpcError, RpcResult};

/// Blockhashes stay valid for this many slots (Agave's MAX_PROCESSING_AGE).
pub const MAX_PROCESSING_AGE: u64 = 150;
pub const SLOTS_PER_EPOCH: u64 = 432_000;
pub const LAMPORTS_PER_SIGNATURE: u64 = 5_000;
/// Slot progress is recorded every this many slots (not fsync'd: it rides along
/// with the next fsync). A restart resumes this far past the last record, so the
/// slot never goes back, whatever a client saw before a crash.
pub const SLOT_RECORD_INTERVAL: u64 = 16;

#[derive(Debug, Clone)]
pub struct BankConfig {
    pub finality_depth: u64,
    pub bpf_programs: Vec<(Pubkey, PathBuf)>,
    /// Keep this many blocks (and their transactions) in memory; None: all.
    pub limit_ledger_size: Option<u64>,
}

/// What PubSub listens to. Processed and confirmed coincide on a single node:
/// `Confirmed` events fire at execution, `Finalized` ones when the root passes.
#[derive(Debug, Clone)]
pub enum NodeEvent {
    Slot {
        slot: Slot,
        parent: Slot,
        root: Slot,
    },
    /// The root moved to `root`.
    Root {
        root: Slot,
    },
    /// The block of `slot` is complete (`Confirmed`) or rooted (`Finalized`).
    Block {
        slot: Slot,
        commitment: CommitmentLevel,
    },
    Transaction {
        tx: Arc<StoredTransaction>,
        signature: Signature,
        commitment: CommitmentLevel,
    },
    Account {
        pubkey: Pubkey,
        account: Arc<Account>,
        slot: Slot,
        commitment: CommitmentLevel,
    },
}

/// The outcome of `sendTransaction`: the signature, and the ledger record to
/// wait on before answering (None when nothing was recorded).
pub struct Sent {
    pub signature: Signature,
    pub ledger_seq: Option<u64>,
}

pub struct Bank {
    chain: Chain,
    config: BankConfig,
    slot: Slot,
    root: Slot,
    clock_offset: i64,
    clock_dirty: bool,
    genesis_hash: Hash,
    /// Recent blockhashes: (hash, slot issued, block height then).
    blockhashes: VecDeque<(Hash, Slot, u64)>,
    /// Extra blockhashes issued within the current slot.
    extra_blockhashes: u64,
    blocks: BTreeMap<Slot, Block>,
    history: History,
    faucet: Keypair,
    /// Transactions not yet finalized, oldest first.
    unfinalized: VecDeque<Arc<StoredTransaction>>,
    /// For each account written in an unfinalized slot: (slot, value before).
    pending_pre: HashMap<Pubkey, VecDeque<(Slot, Option<Account>)>>,
    pending_order: VecDeque<(Slot, Pubkey)>,
    events: broadcast::Sender<NodeEvent>,
    /// Confirmed-commitment events of transactions whose ledger record is not on
    /// disk yet, with that record's sequence number. Subscribers must never hear
    /// of a transaction that a crash could still take back.
    undurable_events: VecDeque<(u64, NodeEvent)>,
    ledger: Option<Arc<Ledger>>,
}

pub fn unix_now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or_default()
}

impl Bank {
    pub fn new(
        config: BankConfig,
        ledger: Option<Arc<Ledger>>,
        events: broadcast::Sender<NodeEvent>,
    ) -> anyhow::Result<Self> {
        // We verify signatures and blockhash age ourselves (RPC error codes and
        // a 150-slot validity window), so LiteSVM's checks are off.
        let svm = LiteSVM::new().with_sigverify(false).with_blockhash_check(false);
        let mut chain = Chain::from_svm(svm);
        chain
            // Upgradeable, with the dev admin as upgrade authority, so that
            // initialize_config's upgrade-authority check runs as on a cluster.
            .add_native_upgradeable_program(mirror::ID, mirror::entry, Some(crate::bootstrap::DEV_ADMIN))
            .map_err(|e| anyhow::anyhow!(format!("host mirror program: {e}")))?;
        for (id, path) in &config.bpf_programs {
            chain
                .add_program_from_file(*id, path)
                .map_err(|e| anyhow::anyhow!(format!("load {} from {}: {e}", id, path.display())))?;
        }
        let faucet = Keypair::new_from_array(solana_sha256_hasher::hash(b"mirror-localnet dev faucet").to_bytes());
        chain
            .set_account(faucet.pubkey(), Account { lamports: crate::cluster::MINT_LAMPORTS, ..Account::default() })
            .map_err(|e| anyhow::anyhow!(format!("fund faucet: {e}")))?;

        let mut bank = Self {
            chain,
            config,
            slot: 0,
            root: 0,
            clock_offset: 0,
            clock_dirty: true,
            genesis_hash: Hash::default(),
            blockhashes: VecDeque::new(),
            extra_blockhashes: 0,
            blocks: BTreeMap::new(),
            history: History::default(),
            faucet,
            unfinalized: VecDeque::new(),
            pending_pre: HashMap::new(),
            pending_order: VecDeque::new(),
            events,
            undurable_events: VecDeque::new(),
            ledger: None,
        };
        let mut has_genesis = false;
        bank.history.set_ledger(ledger.clone());
        if let Some(ledger) = ledger {
            // A record at a time: replay holds one entry, not the file.
            for record in ledger.replay().map_err(|e| anyhow::anyhow!(e.to_string()))? {
                let (offset, entry) = record.map_err(|e| anyhow::anyhow!(e.to_string()))?;
                has_genesis |= matches!(entry, Entry::Genesis { .. });
                bank.replay(entry, Some(offset))?;
            }
            bank.ledger = Some(ledger);
        }
        if !has_genesis {
            let genesis_hash = solana_sha256_hasher::hashv(&[b"mirror-localnet genesis", &unix_now().to_le_bytes()]);
            let entry = Entry::Genesis { genesis_hash: genesis_hash.to_bytes(), unix_time: unix_now() };
            if let Some(ledger) = &bank.ledger {
                let appended = ledger.append(&entry).map_err(|e| anyhow::anyhow!(e.to_string()))?;
                ledger.make_durable(appended.seq).map_err(|e| anyhow::anyhow!(e.to_string()))?;
            }
            bank.replay(entry, None)?;
        }
        bank.rebuild_missing_blocks();
        // Everything replayed is final; the node resumes past any slot it may
        // have served unrecorded, in a slot that is not final.
        if has_genesis {
            bank.slot += SLOT_RECORD_INTERVAL;
        }
        bank.root = bank.slot;
        bank.slot += 1;
        bank.unfinalized.clear();
        bank.pending_pre.clear();
        bank.pending_order.clear();
        bank.open_block();
        bank.prune_blocks();
        Ok(bank)
    }

    /// Applies a ledger entry; `offset`: where its record is.
    fn replay(&mut self, entry: Entry, offset: Option<u64>) -> anyhow::Result<()> {
        match entry {
            Entry::Genesis { genesis_hash, unix_time } => {
                // The genesis block, slot 0, has the genesis hash as its blockhash.
                self.genesis_hash = Hash::new_from_array(genesis_hash);
                let genesis = Block {
                    slot: 0,
                    parent_slot: 0,
                    block_height: 0,
                    block_time: unix_time,
                    blockhash: self.genesis_hash,
                    previous_blockhash: Hash::default(),
                };
                self.blocks.insert(0, genesis);
            }
            Entry::Block(block) => {
                self.slot = self.slot.max(block.slot);
                self.blocks.insert(block.slot, block);
            }
            Entry::Clock { slot, clock_offset } => {
                self.slot = self.slot.max(slot);
                self.clock_offset = clock_offset;
            }
            Entry::TokenBalances { pre, post } => self.history.set_last_token_balances(pre, post),
            Entry::SetAccount { slot, pubkey, account } => {
                self.chain
                    .set_account(pubkey, account)
                    .map_err(|e| anyhow::anyhow!(format!("replay set account {pubkey}: {e}")))?;
                self.slot = self.slot.max(slot);
            }
            entry @ (Entry::Transaction(_) | Entry::TransactionWithLookups { .. }) => {
                let mut stored = entry.into_transaction().expect("a transaction record");
                for (pubkey, account) in std::mem::take(&mut stored.accounts) {
                    if !account.executable {
                        self.chain
                            .set_account(pubkey, account)
                            .map_err(|e| anyhow::anyhow!(format!("replay account {pubkey}: {e}")))?;
                    }
                }
                self.slot = self.slot.max(stored.slot);
                match offset {
                    Some(offset) => self.history.push_replayed(*stored, offset),
                    None => self.history.push(Arc::new(*stored), None),
                }
            }
        }
        Ok(())
    }

    // ---- time ---------------------------------------------------------------

    pub fn slot(&self) -> Slot {
        self.slot
    }
    pub fn root(&self) -> Slot {
        self.root
    }
    pub fn genesis_hash(&self) -> Hash {
        self.genesis_hash
    }
    pub fn unix_timestamp(&self) -> i64 {
        unix_now().saturating_add(self.clock_offset)
    }

    pub fn minimum_balance_for_rent_exemption(&self, len: usize) -> u64 {
        self.chain.minimum_balance_for_rent_exemption(len)
    }

    /// Publishes the events of every transaction whose record is now on disk.
    pub fn release_durable_events(&mut self) {
        let synced = self.ledger.as_ref().map_or(u64::MAX, |l| l.synced());
        while self.undurable_events.front().is_some_and(|(seq, _)| *seq <= synced) {
            let (_, event) = self.undurable_events.pop_front().expect("checked");
            let _ = self.events.send(event);
        }
    }

    /// Refuses new state changes once the ledger has failed (the node is stopping).
    fn check_ledger_writable(&self) -> RpcResult<()> {
        match self.ledger.as_ref().and_then(|l| l.failure()) {
            Some(failure) => Err(RpcError::internal(format!("ledger write failed: {failure}; the node is stopping"))),
            None => Ok(()),
        }
    }

    fn record(&self, entry: &Entry) -> RpcResult<Option<Appended>> {
        match &self.ledger {
            Some(ledger) => {
                ledger.append(entry).map(Some).map_err(|e| RpcError::internal(format!("transaction not recorded: {e}")))
            }
            None => Ok(None),
        }
    }

    pub fn ledger(&self) -> Option<Arc<Ledger>> {
        self.ledger.clone()
    }
}

pub use execution::{preflight_failure, Simulation};
use history::History;
