//! Transaction history, indexed by signature and by address.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use solana_commitment_config::CommitmentLevel;
use solana_pubkey::Pubkey;
use solana_signature::Signature;

use super::Bank;
use crate::ledger::StoredTransaction;
use crate::rpc_error::RpcResult;

/// Transactions in the order they executed. Indexes are absolute: the first
/// kept transaction is number `base` (older ones were pruned with their blocks).
#[derive(Default)]
pub(super) struct History {
    pub(super) txs: VecDeque<Arc<StoredTransaction>>,
    pub(super) base: usize,
    pub(super) by_signature: HashMap<Signature, usize>,
    pub(super) by_address: HashMap<Pubkey, VecDeque<usize>>,
}

impl History {
    pub(super) fn push(&mut self, tx: Arc<StoredTransaction>) {
        let index = self.base + self.txs.len();
        self.by_signature.insert(tx.transaction.signatures[0], index);
        for key in tx.transaction.message.static_account_keys() {
            let list = self.by_address.entry(*key).or_default();
            if list.back() != Some(&index) {
                list.push_back(index);
            }
        }
        self.txs.push_back(tx);
    }

    pub(super) fn get(&self, index: usize) -> &Arc<StoredTransaction> {
        &self.txs[index - self.base]
    }

    /// Forgets the transactions of slots before `slot`.
    pub(super) fn prune_before(&mut self, slot: u64) {
        while self.txs.front().is_some_and(|tx| tx.slot < slot) {
            let tx = self.txs.pop_front().expect("checked");
            self.base += 1;
            self.by_signature.remove(&tx.transaction.signatures[0]);
            for key in tx.transaction.message.static_account_keys() {
                if let Some(list) = self.by_address.get_mut(key) {
                    while list.front().is_some_and(|i| *i < self.base) {
                        list.pop_front();
                    }
                    if list.is_empty() {
                        self.by_address.remove(key);
                    }
                }
            }
        }
    }
}

impl Bank {
    pub fn transaction_count(&self) -> u64 {
        (self.history.base + self.history.txs.len()) as u64
    }

    // ---- transactions -----------------------------------------------------------

    pub fn transaction(&self, signature: &Signature) -> Option<Arc<StoredTransaction>> {
        self.history.by_signature.get(signature).map(|i| self.history.get(*i).clone())
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
        for &i in indexes.range(..start).rev() {
            if Some(i) == stop || out.len() >= limit {
                break;
            }
            let tx = self.history.get(i);
            if tx.slot <= max_slot {
                out.push(tx.clone());
            }
        }
        Ok(out)
    }
}
