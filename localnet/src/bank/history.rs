//! Transaction history, indexed by signature and by address.
//!
//! With `--ledger`, a transaction's body (logs, balances, inner instructions...)
//! lives only in the ledger file: memory keeps, per transaction, its slot and
//! the offset of its record, plus the signature and address indexes (a few
//! hundred bytes in all, against ~4 KB for the body). The newest
//! [`RECENT_BODIES`] bodies stay in memory too, so that live reads (the
//! indexer's getTransaction right after a notification) never touch the disk;
//! older ones are read back from the file, checked against their crcs.
//! Without a ledger, bodies stay in memory (`--limit-ledger-size` bounds them).

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use solana_clock::Slot;
use solana_commitment_config::CommitmentLevel;
use solana_pubkey::Pubkey;
use solana_signature::Signature;

use super::Bank;
use crate::ledger::{Entry, Ledger, StoredTransaction};
use crate::rpc_error::{RpcError, RpcResult};

/// Bodies of the newest transactions kept in memory when the ledger has them.
pub(super) const RECENT_BODIES: usize = 4096;

/// One transaction in the history.
pub(super) struct Indexed {
    pub(super) slot: Slot,
    body: Body,
}

enum Body {
    Memory(Arc<StoredTransaction>),
    /// The offset of its `Transaction` record; `token_balances`: a
    /// `TokenBalances` record follows it.
    Ledger { offset: u64, token_balances: bool },
}

/// Transactions in the order they executed. Indexes are absolute: the first
/// kept transaction is number `base` (older ones were pruned with their blocks).
/// Pruning does not touch the maps at once: lookups skip indexes below `base`,
/// and the maps are swept once the stale ones outnumber the live ones.
#[derive(Default)]
pub(super) struct History {
    pub(super) txs: VecDeque<Indexed>,
    pub(super) base: usize,
    by_signature: HashMap<Signature, usize>,
    by_address: HashMap<Pubkey, VecDeque<usize>>,
    /// With a ledger: the bodies of the newest transactions (the last `recent.len()`).
    recent: VecDeque<Arc<StoredTransaction>>,
    ledger: Option<Arc<Ledger>>,
    pruned_since_sweep: usize,
}

impl History {
    /// Keeps bodies in `ledger` from now on (None: in memory).
    pub(super) fn set_ledger(&mut self, ledger: Option<Arc<Ledger>>) {
        self.ledger = ledger;
    }

    /// Adds a transaction; `offset`: where its record is in the ledger (None:
    /// not recorded, the body stays in memory).
    pub(super) fn push(&mut self, tx: Arc<StoredTransaction>, offset: Option<u64>) {
        let index = self.end();
        self.by_signature.insert(tx.transaction.signatures[0], index);
        for key in tx.transaction.message.static_account_keys() {
            let list = self.by_address.entry(*key).or_default();
            if list.back() != Some(&index) {
                list.push_back(index);
            }
        }
        let body = match (offset, &self.ledger) {
            (Some(offset), Some(_)) => {
                let token_balances = !tx.token_balances.0.is_empty() || !tx.token_balances.1.is_empty();
                self.recent.push_back(tx.clone());
                if self.recent.len() > RECENT_BODIES {
                    self.recent.pop_front();
                }
                Body::Ledger { offset, token_balances }
            }
            _ => Body::Memory(tx.clone()),
        };
        self.txs.push_back(Indexed { slot: tx.slot, body });
    }

    /// Replay: the newest transaction's token balances, from the record that follows it.
    pub(super) fn set_last_token_balances(&mut self, pre: Vec<crate::ledger::TokenBalance>, post: Vec<crate::ledger::TokenBalance>) {
        let Some(last) = self.txs.back_mut() else {
            return;
        };
        let balances = Arc::new((pre, post));
        match &mut last.body {
            Body::Memory(tx) => Arc::make_mut(tx).token_balances = balances,
            Body::Ledger { token_balances, .. } => {
                *token_balances = true;
                if let Some(tx) = self.recent.back_mut() {
                    Arc::make_mut(tx).token_balances = balances;
                }
            }
        }
    }

    /// One past the newest transaction's index.
    pub(super) fn end(&self) -> usize {
        self.base + self.txs.len()
    }

    pub(super) fn contains(&self, signature: &Signature) -> bool {
        self.index_of(signature).is_some()
    }

    fn index_of(&self, signature: &Signature) -> Option<usize> {
        self.by_signature.get(signature).copied().filter(|i| *i >= self.base)
    }

    /// The transaction at `index` (kept, not pruned), from memory or the ledger.
    pub(super) fn get(&self, index: usize) -> RpcResult<Arc<StoredTransaction>> {
        let recent_from = self.end() - self.recent.len();
        if index >= recent_from {
            return Ok(self.recent[index - recent_from].clone());
        }
        match (&self.txs[index - self.base].body, &self.ledger) {
            (Body::Memory(tx), _) => Ok(tx.clone()),
            (Body::Ledger { offset, token_balances }, Some(ledger)) => {
                read_body(ledger, *offset, *token_balances).map(Arc::new)
            }
            (Body::Ledger { .. }, None) => unreachable!("ledger bodies only with a ledger"),
        }
    }

    /// The index range of the transactions of `slot`.
    pub(super) fn slot_range(&self, slot: Slot) -> std::ops::Range<usize> {
        let start = self.txs.partition_point(|tx| tx.slot < slot);
        let end = self.txs.partition_point(|tx| tx.slot <= slot);
        self.base + start..self.base + end
    }

    /// Forgets the transactions of slots before `slot`.
    pub(super) fn prune_before(&mut self, slot: Slot) {
        while self.txs.front().is_some_and(|tx| tx.slot < slot) {
            self.txs.pop_front();
            self.base += 1;
            self.pruned_since_sweep += 1;
        }
        while self.recent.len() > self.txs.len() {
            self.recent.pop_front();
        }
        if self.pruned_since_sweep > self.txs.len().max(1024) {
            let base = self.base;
            self.by_signature.retain(|_, i| *i >= base);
            self.by_address.retain(|_, list| {
                while list.front().is_some_and(|i| *i < base) {
                    list.pop_front();
                }
                list.shrink_to_fit();
                !list.is_empty()
            });
            self.by_signature.shrink_to_fit();
            self.by_address.shrink_to_fit();
            self.pruned_since_sweep = 0;
        }
    }
}

/// A transaction's body from its ledger record (and the `TokenBalances` record
/// after it). Its account post-state is dropped: only replay needs it.
fn read_body(ledger: &Ledger, offset: u64, token_balances: bool) -> RpcResult<StoredTransaction> {
    let unreadable = |e: crate::ledger::LedgerError| RpcError::internal(format!("reading transaction history: {e}"));
    let (entry, next) = ledger.read_at(offset).map_err(unreadable)?;
    let Entry::Transaction(mut tx) = entry else {
        return Err(RpcError::internal(format!("ledger record at byte {offset} is not a transaction")));
    };
    tx.accounts = Vec::new();
    if token_balances {
        if let (Entry::TokenBalances { pre, post }, _) = ledger.read_at(next).map_err(unreadable)? {
            tx.token_balances = Arc::new((pre, post));
        }
    }
    Ok(*tx)
}

impl Bank {
    pub fn transaction_count(&self) -> u64 {
        self.history.end() as u64
    }

    // ---- transactions -----------------------------------------------------------

    pub fn transaction(&self, signature: &Signature) -> RpcResult<Option<Arc<StoredTransaction>>> {
        self.history.index_of(signature).map(|i| self.history.get(i)).transpose()
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
        let start = match before {
            Some(sig) => match self.history.index_of(sig) {
                Some(i) => indexes.partition_point(|x| *x < i),
                None => return Ok(Vec::new()),
            },
            None => indexes.len(),
        };
        let stop = until.and_then(|sig| self.history.index_of(sig));
        let mut out = Vec::new();
        for &i in indexes.range(..start).rev() {
            if i < self.history.base || Some(i) == stop || out.len() >= limit {
                break;
            }
            if self.history.txs[i - self.history.base].slot <= max_slot {
                out.push(self.history.get(i)?);
            }
        }
        Ok(out)
    }
}
