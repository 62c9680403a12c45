//! The node's state machine: a LiteSVM ledger hosting the Mirror program
//! natively, plus what a cluster adds around execution — slots that advance on
//! their own, a queue of recent blockhashes, commitment levels (finalized lags
//! by `finality_depth` slots), transaction history and the event stream that
//! PubSub serves. One `Bank` sits behind a mutex; every state change (and its
//! ledger record) happens under that lock, in order.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::path::PathBuf;
use std::sync::Arc;

use native_host::litesvm::LiteSVM;
use native_host::Chain;
use serde_json::json;
use solana_account::{Account, ReadableAccount};
use solana_clock::{Clock, Slot};
use solana_commitment_config::CommitmentLevel;
use solana_hash::Hash;
use solana_keypair::Keypair;
use solana_message::Message;
use solana_pubkey::Pubkey;
use solana_signature::Signature;
use solana_signer::Signer;
use solana_transaction::versioned::VersionedTransaction;
use solana_transaction::Transaction;
use solana_transaction_error::TransactionError;
use solana_transaction_status_client_types::{InnerInstruction, InnerInstructions};
use tokio::sync::broadcast;

use crate::ledger::{Entry, Ledger, StoredTransaction};
use crate::rpc_error::{self, RpcError, RpcResult};

/// Blockhashes stay valid for this many slots (Agave's MAX_PROCESSING_AGE).
pub const MAX_PROCESSING_AGE: u64 = 150;
pub const SLOTS_PER_EPOCH: u64 = 432_000;
pub const LAMPORTS_PER_SIGNATURE: u64 = 5_000;
/// Slot progress is recorded every this many slots (not fsync'd: it rides along
/// with the next fsync). A restart resumes this far past the last record, so the
/// slot never goes back, whatever a client saw before a crash.
pub const SLOT_RECORD_INTERVAL: u64 = 16;
const FAUCET_LAMPORTS: u64 = 500_000_000 * 1_000_000_000;

#[derive(Debug, Clone)]
pub struct BankConfig {
    pub finality_depth: u64,
    pub bpf_programs: Vec<(Pubkey, PathBuf)>,
}

/// What PubSub listens to. Processed and confirmed coincide on a single node:
/// `Confirmed` events fire at execution, `Finalized` ones when the root passes.
#[derive(Debug, Clone)]
pub enum NodeEvent {
    Slot { slot: Slot, parent: Slot, root: Slot },
    Transaction { tx: Arc<StoredTransaction>, signature: Signature, commitment: CommitmentLevel },
    Account { pubkey: Pubkey, account: Arc<Account>, slot: Slot, commitment: CommitmentLevel },
}

/// The outcome of `sendTransaction`: the signature, and the ledger record to
/// wait on before answering (None when nothing was recorded).
pub struct Sent {
    pub signature: Signature,
    pub ledger_seq: Option<u64>,
}

#[derive(Default)]
struct History {
    txs: Vec<Arc<StoredTransaction>>,
    by_signature: HashMap<Signature, usize>,
    by_address: HashMap<Pubkey, Vec<usize>>,
}

impl History {
    fn push(&mut self, tx: Arc<StoredTransaction>) {
        let index = self.txs.len();
        self.by_signature.insert(tx.transaction.signatures[0], index);
        for key in tx.transaction.message.static_account_keys() {
            let list = self.by_address.entry(*key).or_default();
            if list.last() != Some(&index) {
                list.push(index);
            }
        }
        self.txs.push(tx);
    }
}

pub struct Bank {
    chain: Chain,
    config: BankConfig,
    slot: Slot,
    root: Slot,
    clock_offset: i64,
    clock_dirty: bool,
    genesis_hash: Hash,
    blockhashes: VecDeque<(Hash, Slot)>,
    block_times: BTreeMap<Slot, i64>,
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
        ledger: Option<(Arc<Ledger>, Vec<Entry>)>,
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
            .set_account(faucet.pubkey(), Account { lamports: FAUCET_LAMPORTS, ..Account::default() })
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
            block_times: BTreeMap::new(),
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
        if let Some((ledger, entries)) = ledger {
            for entry in entries {
                has_genesis |= matches!(entry, Entry::Genesis { .. });
                bank.replay(entry)?;
            }
            bank.ledger = Some(ledger);
        }
        if !has_genesis {
            let genesis_hash = solana_sha256_hasher::hashv(&[b"mirror-localnet genesis", &unix_now().to_le_bytes()]);
            let entry = Entry::Genesis { genesis_hash: genesis_hash.to_bytes(), unix_time: unix_now() };
            if let Some(ledger) = &bank.ledger {
                let seq = ledger.append(&entry).map_err(|e| anyhow::anyhow!(e.to_string()))?;
                ledger.make_durable(seq).map_err(|e| anyhow::anyhow!(e.to_string()))?;
            }
            bank.genesis_hash = genesis_hash;
        }
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
        bank.new_blockhash();
        bank.block_times.insert(bank.slot, bank.unix_timestamp());
        Ok(bank)
    }

    fn replay(&mut self, entry: Entry) -> anyhow::Result<()> {
        match entry {
            Entry::Genesis { genesis_hash, .. } => self.genesis_hash = Hash::new_from_array(genesis_hash),
            Entry::Clock { slot, clock_offset } => {
                self.slot = self.slot.max(slot);
                self.clock_offset = clock_offset;
            }
            Entry::Transaction(mut stored) => {
                for (pubkey, account) in std::mem::take(&mut stored.accounts) {
                    if !account.executable {
                        self.chain
                            .set_account(pubkey, account)
                            .map_err(|e| anyhow::anyhow!(format!("replay account {pubkey}: {e}")))?;
                    }
                }
                self.slot = self.slot.max(stored.slot);
                self.block_times.insert(stored.slot, stored.block_time);
                self.history.push(Arc::new(*stored));
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
    pub fn transaction_count(&self) -> u64 {
        self.history.txs.len() as u64
    }
    pub fn unix_timestamp(&self) -> i64 {
        unix_now().saturating_add(self.clock_offset)
    }

    /// The slot a read at `commitment` sees.
    pub fn slot_at(&self, commitment: CommitmentLevel) -> Slot {
        match commitment {
            CommitmentLevel::Finalized => self.root,
            _ => self.slot,
        }
    }

    fn new_blockhash(&mut self) {
        self.chain.expire_blockhash();
        self.blockhashes.push_back((self.chain.latest_blockhash(), self.slot));
        while self.blockhashes.len() > 2 * MAX_PROCESSING_AGE as usize {
            self.blockhashes.pop_front();
        }
    }

    /// Produces the next slot: new blockhash, clock follows wall time, root advances.
    pub fn tick(&mut self) {
        self.slot += 1;
        self.new_blockhash();
        self.block_times.insert(self.slot, self.unix_timestamp());
        self.clock_dirty = true;
        self.advance_root();
        if self.slot.is_multiple_of(SLOT_RECORD_INTERVAL) {
            let entry = Entry::Clock { slot: self.slot, clock_offset: self.clock_offset };
            if let Err(err) = self.record(&entry) {
                tracing::warn!(err = %err.message, "recording slot progress");
            }
        }
        let _ = self.events.send(NodeEvent::Slot { slot: self.slot, parent: self.slot - 1, root: self.root });
    }

    /// Test cheatcode: moves unix time forward by `seconds` and the slot by `slots`.
    pub fn warp(&mut self, seconds: i64, slots: u64) -> RpcResult<Option<u64>> {
        if seconds < 0 {
            return Err(RpcError::invalid_params("seconds must be >= 0: the clock never goes back"));
        }
        self.check_ledger_writable()?;
        self.clock_offset = self.clock_offset.saturating_add(seconds);
        if slots > 0 {
            self.slot = self.slot.saturating_add(slots);
            self.new_blockhash();
            self.block_times.insert(self.slot, self.unix_timestamp());
            self.advance_root();
        }
        self.clock_dirty = true;
        self.refresh_clock();
        let entry = Entry::Clock { slot: self.slot, clock_offset: self.clock_offset };
        self.record(&entry)
    }

    fn refresh_clock(&mut self) {
        if !self.clock_dirty {
            return;
        }
        let mut clock: Clock = self.chain.get_sysvar();
        clock.slot = self.slot;
        clock.epoch = self.slot / SLOTS_PER_EPOCH;
        clock.leader_schedule_epoch = clock.epoch + 1;
        clock.unix_timestamp = self.unix_timestamp();
        self.chain.set_sysvar(&clock);
        self.clock_dirty = false;
    }

    fn advance_root(&mut self) {
        let new_root = self.slot.saturating_sub(self.config.finality_depth).max(self.root);
        if new_root == self.root {
            return;
        }
        self.root = new_root;
        while self.unfinalized.front().is_some_and(|tx| tx.slot <= new_root) {
            let tx = self.unfinalized.pop_front().expect("checked");
            let signature = tx.transaction.signatures[0];
            let _ = self.events.send(NodeEvent::Transaction { tx, signature, commitment: CommitmentLevel::Finalized });
        }
        while self.pending_order.front().is_some_and(|(slot, _)| *slot <= new_root) {
            let (_, pubkey) = self.pending_order.pop_front().expect("checked");
            if let Some(queue) = self.pending_pre.get_mut(&pubkey) {
                queue.pop_front();
                if queue.is_empty() {
                    self.pending_pre.remove(&pubkey);
                }
            }
            let account = self.account_at(&pubkey, CommitmentLevel::Finalized).unwrap_or_default();
            let _ = self.events.send(NodeEvent::Account {
                pubkey,
                account: Arc::new(account),
                slot: new_root,
                commitment: CommitmentLevel::Finalized,
            });
        }
    }

    pub fn latest_blockhash(&self) -> (Hash, u64) {
        self.latest_blockhash_at(CommitmentLevel::Processed)
    }

    /// The newest blockhash a read at `commitment` sees, and its last valid block height.
    pub fn latest_blockhash_at(&self, commitment: CommitmentLevel) -> (Hash, u64) {
        let max_slot = self.slot_at(commitment);
        let (hash, slot) = self
            .blockhashes
            .iter()
            .rev()
            .find(|(_, slot)| *slot <= max_slot)
            .or(self.blockhashes.front())
            .copied()
            .expect("a blockhash exists from the start");
        (hash, slot + MAX_PROCESSING_AGE)
    }

    pub fn is_blockhash_valid(&self, hash: &Hash) -> bool {
        let oldest = self.slot.saturating_sub(MAX_PROCESSING_AGE);
        self.blockhashes.iter().rev().any(|(h, slot)| h == hash && *slot >= oldest)
    }

    pub fn block_time(&self, slot: Slot) -> Option<i64> {
        self.block_times.get(&slot).copied()
    }

    pub fn minimum_balance_for_rent_exemption(&self, len: usize) -> u64 {
        self.chain.minimum_balance_for_rent_exemption(len)
    }

    // ---- accounts -------------------------------------------------------------

    /// The account as of `commitment` (finalized reads undo unfinalized writes).
    pub fn account_at(&self, pubkey: &Pubkey, commitment: CommitmentLevel) -> Option<Account> {
        if commitment == CommitmentLevel::Finalized {
            if let Some((_, before)) = self.pending_pre.get(pubkey).and_then(|q| q.front()) {
                return before.clone();
            }
        }
        self.chain.get_account(pubkey).filter(|a| a.lamports > 0)
    }

    /// Accounts owned by `program`, as of `commitment`, passing `filter`.
    pub fn program_accounts(
        &self,
        program: &Pubkey,
        commitment: CommitmentLevel,
        filter: impl Fn(&Account) -> bool,
    ) -> Vec<(Pubkey, Account)> {
        let mut out: Vec<(Pubkey, Account)> = Vec::new();
        for (pubkey, shared) in self.chain.accounts_db().inner.iter() {
            if shared.owner() != program || shared.lamports() == 0 {
                continue;
            }
            if commitment == CommitmentLevel::Finalized && self.pending_pre.contains_key(pubkey) {
                continue; // handled below from its finalized value
            }
            let account = Account::from(shared.clone());
            if filter(&account) {
                out.push((*pubkey, account));
            }
        }
        if commitment == CommitmentLevel::Finalized {
            for pubkey in self.pending_pre.keys() {
                if let Some(account) = self.account_at(pubkey, commitment) {
                    if account.owner == *program && filter(&account) {
                        out.push((*pubkey, account));
                    }
                }
            }
        }
        out
    }

    // ---- transactions -----------------------------------------------------------

    pub fn transaction(&self, signature: &Signature) -> Option<Arc<StoredTransaction>> {
        self.history.by_signature.get(signature).map(|i| self.history.txs[*i].clone())
    }

    /// Signatures that mention `address`, newest first, after `before` and
    /// down to (excluding) `until`, at most `limit`.
    pub fn signatures_for_address(
        &self,
        address: &Pubkey,
        before: Option<&Signature>,
        until: Option<&Signature>,
        limit: usize,
        commitment: CommitmentLevel,
    ) -> RpcResult<Vec<Arc<StoredTransaction>>> {
        let Some(indexes) = self.history.by_address.get(address) else {
            return Ok(Vec::new());
        };
        let max_slot = self.slot_at(commitment);
        let index_of = |sig: &Signature| self.history.by_signature.get(sig).copied();
        let start = match before {
            Some(sig) => match index_of(sig) {
                Some(i) => indexes.partition_point(|x| *x < i),
                None => return Ok(Vec::new()),
            },
            None => indexes.len(),
        };
        let stop = until.and_then(index_of);
        let mut out = Vec::new();
        for &i in indexes[..start].iter().rev() {
            if Some(i) == stop || out.len() >= limit {
                break;
            }
            let tx = &self.history.txs[i];
            if tx.slot <= max_slot {
                out.push(tx.clone());
            }
        }
        Ok(out)
    }

    /// Runs the transaction without committing anything.
    pub fn simulate(
        &mut self,
        tx: &VersionedTransaction,
        replace_recent_blockhash: bool,
    ) -> (Result<(), TransactionError>, Simulation) {
        self.refresh_clock();
        let mut tx = tx.clone();
        if replace_recent_blockhash {
            tx.message.set_recent_blockhash(self.latest_blockhash().0);
        } else if !self.is_blockhash_valid(tx.message.recent_blockhash()) {
            return (Err(TransactionError::BlockhashNotFound), Simulation::default());
        }
        if self.history.by_signature.contains_key(&tx.signatures[0]) {
            return (Err(TransactionError::AlreadyProcessed), Simulation::default());
        }
        match self.chain.simulate_transaction(tx) {
            Ok(info) => (
                Ok(()),
                Simulation {
                    logs: info.meta.logs,
                    units_consumed: info.meta.compute_units_consumed,
                    return_data: return_data(&info.meta.return_data),
                    inner_instructions: inner_instructions(info.meta.inner_instructions),
                    post_accounts: info.post_accounts.into_iter().map(|(k, a)| (k, Account::from(a))).collect(),
                },
            ),
            Err(failed) => (
                Err(failed.err),
                Simulation {
                    logs: failed.meta.logs,
                    units_consumed: failed.meta.compute_units_consumed,
                    return_data: return_data(&failed.meta.return_data),
                    inner_instructions: inner_instructions(failed.meta.inner_instructions),
                    post_accounts: Vec::new(),
                },
            ),
        }
    }

    /// Checks signatures and age, optionally preflights, executes and records.
    pub fn send_transaction(&mut self, tx: VersionedTransaction, skip_preflight: bool) -> RpcResult<Sent> {
        let signature = tx.signatures[0];
        if tx.verify_with_results().iter().any(|ok| !ok) {
            return Err(RpcError::new(
                rpc_error::TRANSACTION_SIGNATURE_VERIFICATION_FAILURE,
                "Transaction signature verification failure",
            ));
        }
        if !skip_preflight {
            let (result, simulation) = self.simulate(&tx, false);
            if let Err(err) = result {
                return Err(preflight_failure(err, simulation));
            }
        } else if self.history.by_signature.contains_key(&signature)
            || !self.is_blockhash_valid(tx.message.recent_blockhash())
        {
            // As on a cluster: accepted for forwarding, then dropped.
            return Ok(Sent { signature, ledger_seq: None });
        }
        self.execute(tx, skip_preflight)
    }

    fn execute(&mut self, tx: VersionedTransaction, skip_preflight: bool) -> RpcResult<Sent> {
        self.check_ledger_writable()?;
        self.refresh_clock();
        let signature = tx.signatures[0];
        let keys: Vec<Pubkey> = tx.message.static_account_keys().to_vec();
        let writable: Vec<Pubkey> =
            keys.iter().enumerate().filter(|(i, _)| tx.message.is_maybe_writable(*i, None)).map(|(_, k)| *k).collect();
        let pre_accounts: Vec<Option<Account>> = writable.iter().map(|k| self.chain.get_account(k)).collect();
        let pre_balances: Vec<u64> = keys.iter().map(|k| self.chain.get_balance(k).unwrap_or(0)).collect();

        let (meta, err) = match self.chain.send_transaction(tx.clone()) {
            Ok(meta) => (meta, None),
            Err(failed) => {
                if !matches!(failed.err, TransactionError::InstructionError(..)) {
                    // Not loadable (no funds for the fee, unknown program...): nothing was
                    // committed. Without preflight a cluster would just drop it.
                    if skip_preflight {
                        return Ok(Sent { signature, ledger_seq: None });
                    }
                    return Err(preflight_failure(
                        failed.err,
                        Simulation { logs: failed.meta.logs, ..Simulation::default() },
                    ));
                }
                (failed.meta, Some(failed.err))
            }
        };
        let post_balances: Vec<u64> = keys.iter().map(|k| self.chain.get_balance(k).unwrap_or(0)).collect();
        let post_accounts: Vec<(Pubkey, Account)> =
            writable.iter().map(|k| (*k, self.chain.get_account(k).unwrap_or_default())).collect();

        let stored = StoredTransaction {
            slot: self.slot,
            block_time: self.block_time(self.slot).unwrap_or_else(|| self.unix_timestamp()),
            fee: LAMPORTS_PER_SIGNATURE * u64::from(tx.message.header().num_required_signatures),
            transaction: tx,
            err,
            logs: meta.logs,
            pre_balances,
            post_balances,
            compute_units: meta.compute_units_consumed,
            inner_instructions: inner_instructions(meta.inner_instructions),
            return_data: return_data(&meta.return_data),
            accounts: post_accounts,
        };
        let ledger_seq = match self.record(&Entry::Transaction(Box::new(stored.clone()))) {
            Ok(seq) => seq,
            Err(err) => {
                // Memory must not hold what the ledger does not: undo the writes.
                for (pubkey, before) in writable.iter().zip(pre_accounts) {
                    if let Err(e) = self.chain.set_account(*pubkey, before.unwrap_or_default()) {
                        tracing::error!(%pubkey, error = %e, "undoing the writes of an unrecorded transaction");
                    }
                }
                return Err(err);
            }
        };

        let mut stored = stored;
        let accounts = std::mem::take(&mut stored.accounts);
        let stored = Arc::new(stored);
        self.history.push(stored.clone());
        self.unfinalized.push_back(stored.clone());
        let mut events = Vec::with_capacity(accounts.len() + 1);
        for ((pubkey, account), before) in accounts.into_iter().zip(pre_accounts) {
            self.pending_pre.entry(pubkey).or_default().push_back((self.slot, before.filter(|a| a.lamports > 0)));
            self.pending_order.push_back((self.slot, pubkey));
            events.push(NodeEvent::Account {
                pubkey,
                account: Arc::new(account),
                slot: self.slot,
                commitment: CommitmentLevel::Confirmed,
            });
        }
        events.push(NodeEvent::Transaction { tx: stored, signature, commitment: CommitmentLevel::Confirmed });
        match ledger_seq {
            Some(seq) => self.undurable_events.extend(events.into_iter().map(|e| (seq, e))),
            None => events.into_iter().for_each(|e| drop(self.events.send(e))),
        }
        Ok(Sent { signature, ledger_seq })
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

    fn record(&self, entry: &Entry) -> RpcResult<Option<u64>> {
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

    /// Sends `lamports` from the dev faucet, as solana-test-validator's faucet does.
    pub fn request_airdrop(&mut self, to: &Pubkey, lamports: u64) -> RpcResult<Sent> {
        let ix = solana_system_interface::instruction::transfer(&self.faucet.pubkey(), to, lamports);
        let message = Message::new(&[ix], Some(&self.faucet.pubkey()));
        let tx = Transaction::new(&[&self.faucet], message, self.latest_blockhash().0);
        let sent = self.send_transaction(VersionedTransaction::from(tx), false)?;
        // A second identical airdrop in this slot must not be a duplicate.
        self.new_blockhash();
        Ok(sent)
    }

    /// Signs `message` with `signers` at the latest blockhash and sends it (bootstrap).
    pub fn send_signed(
        &mut self,
        instructions: &[solana_instruction::Instruction],
        signers: &[&Keypair],
    ) -> RpcResult<Sent> {
        let message = Message::new(instructions, Some(&signers[0].pubkey()));
        let tx = Transaction::new(signers, message, self.latest_blockhash().0);
        self.send_transaction(VersionedTransaction::from(tx), false)
    }
}

/// What a simulation saw, for simulateTransaction and preflight errors.
#[derive(Debug, Default, Clone)]
pub struct Simulation {
    pub logs: Vec<String>,
    pub units_consumed: u64,
    pub return_data: Option<(Pubkey, Vec<u8>)>,
    pub inner_instructions: Vec<InnerInstructions>,
    pub post_accounts: Vec<(Pubkey, Account)>,
}

pub fn preflight_failure(err: TransactionError, simulation: Simulation) -> RpcError {
    RpcError::new(rpc_error::SEND_TRANSACTION_PREFLIGHT_FAILURE, format!("Transaction simulation failed: {err}"))
        .with_data(json!({
            "err": err,
            "logs": simulation.logs,
            "accounts": null,
            "unitsConsumed": simulation.units_consumed,
            "returnData": null,
            "innerInstructions": null,
            "replacementBlockhash": null,
            "loadedAccountsDataSize": null,
        }))
}

fn return_data(data: &solana_transaction_context::TransactionReturnData) -> Option<(Pubkey, Vec<u8>)> {
    (!data.data.is_empty()).then(|| (data.program_id, data.data.clone()))
}

fn inner_instructions(list: solana_message::inner_instruction::InnerInstructionsList) -> Vec<InnerInstructions> {
    list.into_iter()
        .enumerate()
        .filter(|(_, ixs)| !ixs.is_empty())
        .map(|(index, ixs)| InnerInstructions {
            index: index as u8,
            instructions: ixs
                .into_iter()
                .map(|ix| InnerInstruction {
                    instruction: ix.instruction,
                    stack_height: Some(u32::from(ix.stack_height)),
                })
                .collect(),
        })
        .collect()
}
