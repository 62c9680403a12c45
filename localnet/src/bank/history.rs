//! Transaction history, indexed by signature and by address.

use std::collections::HashMap;
use std::sync::Arc;

use solana_commitment_config::CommitmentLevel;
use solana_pubkey::Pubkey;
use solana_signature::Signature;

use super::Bank;
use crate::ledger::StoredTransaction;
use crate::rpc_error::RpcResult;

#[derive(Default)]
pub(super) struct History {
    pub(super) txs: Vec<Arc<StoredTransaction>>,
    pub(super) by_signature: HashMap<Signature, usize>,
    pub(super) by_address: HashMap<Pubkey, Vec<usize>>,
}

impl History {
    pub(super) fn push(&mut self, tx: Arc<StoredTransaction>) {
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

impl Bank {
    pub fn transaction_count(&self) -> u64 {
        self.history.txs.len() as u64
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
}
