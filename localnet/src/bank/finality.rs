//! Finality: the root lags the slot by `finality_depth`; reads at `finalized`
//! see accounts as of the root (unfinalized writes undone), and the root's
//! advance publishes finalized events.

use std::sync::Arc;

use solana_account::{Account, ReadableAccount};
use solana_clock::Slot;
use solana_commitment_config::CommitmentLevel;
use solana_pubkey::Pubkey;

use super::{Bank, NodeEvent};

impl Bank {
    /// The slot a read at `commitment` sees.
    pub fn slot_at(&self, commitment: CommitmentLevel) -> Slot {
        match commitment {
            CommitmentLevel::Finalized => self.root,
            _ => self.slot,
        }
    }

    pub(super) fn advance_root(&mut self) {
        let new_root = self.slot.saturating_sub(self.config.finality_depth).max(self.root);
        if new_root == self.root {
            return;
        }
        let old_root = self.root;
        self.root = new_root;
        let _ = self.events.send(NodeEvent::Root { root: new_root });
        for slot in self.blocks.range(old_root + 1..=new_root).map(|(slot, _)| *slot).collect::<Vec<_>>() {
            let _ = self.events.send(NodeEvent::Block { slot, commitment: CommitmentLevel::Finalized });
        }
        self.prune_blocks();
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

    /// Every live account's balance as of `commitment`: (pubkey, lamports).
    pub fn balances(&self, commitment: CommitmentLevel) -> Vec<(Pubkey, u64)> {
        let mut out: Vec<(Pubkey, u64)> = Vec::new();
        for (pubkey, shared) in self.chain.accounts_db().inner.iter() {
            if commitment == CommitmentLevel::Finalized && self.pending_pre.contains_key(pubkey) {
                continue; // handled below from its finalized value
            }
            if shared.lamports() > 0 {
                out.push((*pubkey, shared.lamports()));
            }
        }
        if commitment == CommitmentLevel::Finalized {
            for pubkey in self.pending_pre.keys() {
                if let Some(account) = self.account_at(pubkey, commitment) {
                    out.push((*pubkey, account.lamports));
                }
            }
        }
        out
    }
}
