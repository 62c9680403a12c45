//! Transaction history, indexed by signature and by address.
//!
//! With `--ledger`, a transaction's body (logs, balances, inner instructions...)
//! lives only in the ledger file: memory keeps, per transaction, its slot and
//! the offset of its record, plus the signature and address indexes (a few
//! hundred bytes in all, against ~4 KB for the body). The newest
//! [`RECENT_BODIES`] bodies executed since the start stay in memory too, so
//! that live reads (the indexer's getTransaction right after a notification)
//! never touch the disk; older ones, and all those replayed at start, are read
//! back from the file, checked against their crcs.
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
#[cfg(not(test))]
pub(super) const RECENT_BODIES: usize = 4096;
#[cfg(test)]
pub(super) const RECENT_BODIES: usize = 8;

/// One transaction in the history.
pub(super) struct Indexed {
    pub(super) slot: Slot,
    body: Body,
}

enum Body {
    Memory(Arc<StoredTransaction>),
    /// The offset of its `Transaction` record; `token_balances`: a
    /// `TokenBalances` record follows it.
    Ledger {
        offset: u64,
        token_balances: bool,
    },
}

/// Transactions in the order they executed. Indexes are absolute: the first
/// kept transaction is number `base` (older ones were pruned with their blocks).
/// Pruning does not touch the maps at once: lookups skip indexes below `base`,
/// and the maps are swept once the stale ones outnumber the live ones (so they
/// hold at most about twice the kept history).
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

    /// Adds a transaction that just executed; `offset`: where its record is in
    /// the ledger (None: not recorded, the body stays in memory).
    pub(super) fn push(&mut self, tx: Arc<StoredTransaction>, offset: Option<u64>) {
        self.index(&tx, offset);
        if matches!(self.txs.back(), Some(Indexed { body: Body::Ledger { .. }, .. })) {
            self.recent.push_back(tx);
            if self.recent.len() > RECENT_BODIES {
                self.recent.pop_front();
            }
        }
    }

    /// Adds a transaction read back from the ledger at start: with its record's
    /// offset, the body is not kept (reads of it go to the file).
    pub(super) fn push_replayed(&mut self, tx: StoredTransaction, offset: u64) {
        let tx = Arc::new(tx);
        self.index(&tx, Some(offset));
    }

    fn index(&mut self, tx: &Arc<StoredTransaction>, offset: Option<u64>) {
        let index = self.end();
        self.by_signature.insert(tx.transaction.signatures[0], index);
        for key in tx.account_keys() {
            let list = self.by_address.entry(*key).or_default();
            if list.back() != Some(&index) {
                list.push_back(index);
            }
        }
        let body = match (offset, &self.ledger) {
            (Some(offset), Some(_)) => {
                let token_balances = !tx.token_balances.0.is_empty() || !tx.token_balances.1.is_empty();
                Body::Ledger { offset, token_balances }
            }
            _ => Body::Memory(tx.clone()),
        };
        self.txs.push_back(Indexed { slot: tx.slot, body });
    }

    /// Replay: the newest transaction's token balances, from the record that follows it.
    pub(super) fn set_last_token_balances(
        &mut self,
        pre: Vec<crate::ledger::TokenBalance>,
        post: Vec<crate::ledger::TokenBalance>,
    ) {
        let Some(last) = self.txs.back_mut() else {
            return;
        };
        let balances = Arc::new((pre, post));
        match &mut last.body {
            Body::Memory(tx) => Arc::make_mut(tx).token_balances = balances,
            // Replayed bodies are not kept: the flag says to read the record.
            Body::Ledger { token_balances, .. } => *token_balances = true,
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
            (Body::Ledger { .. }, None) => Err(RpcError::internal("transaction history: the ledger is not open")),
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
                !list.is_empty()
            });
            self.pruned_since_sweep = 0;
        }
    }
}

/// A transaction's body from its ledger record (and the `TokenBalances` record
/// after it). Its account post-state is dropped: only replay needs it.
fn read_body(ledger: &Ledger, offset: u64, token_balances: bool) -> RpcResult<StoredTransaction> {
    let unreadable = |e: crate::ledger::LedgerError| RpcError::internal(format!("reading transaction history: {e}"));
    let (entry, next) = ledger.read_at(offset).map_err(unreadable)?;
    let Some(mut tx) = entry.into_transaction() else {
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

#[cfg(test)]
mod tests {
    use std::path::Path;

    use serde_json::Value;
    use solana_transaction_status_client_types::UiTransactionEncoding;

    use super::*;
    use crate::bank::BankConfig;
    use crate::rpc::encoding::encode_confirmed_transaction;

    fn bank_on(dir: &Path) -> Bank {
        let ledger = Arc::new(Ledger::open(dir, false).unwrap());
        let config = BankConfig { finality_depth: 2, bpf_programs: vec![], limit_ledger_size: None };
        Bank::new(config, Some(ledger), tokio::sync::broadcast::channel(16).0).unwrap()
    }

    /// getTransaction's json and jsonParsed of `signature`.
    fn served(bank: &Bank, signature: &Signature) -> (Value, Value) {
        let tx = bank.transaction(signature).unwrap().expect("known");
        let encode =
            |encoding| serde_json::to_value(encode_confirmed_transaction(&tx, encoding, Some(0)).unwrap()).unwrap();
        (encode(UiTransactionEncoding::Json), encode(UiTransactionEncoding::JsonParsed))
    }

    /// getSignaturesForAddress of `address` in pages of 3 (with `before`), and
    /// the page between the 2nd and the 9th newest (`until`).
    fn pages(bank: &Bank, address: &Pubkey) -> Vec<Vec<Signature>> {
        let page = |before: Option<&Signature>, until: Option<&Signature>, limit| -> Vec<Signature> {
            let txs = bank.signatures_for_address(address, before, until, limit, CommitmentLevel::Confirmed).unwrap();
            txs.iter().map(|tx| tx.transaction.signatures[0]).collect()
        };
        let mut out = vec![page(None, None, 3)];
        while let Some(last) = out.last().and_then(|p| p.last()).copied() {
            let next = page(Some(&last), None, 3);
            if next.is_empty() {
                break;
            }
            out.push(next);
        }
        let all = page(None, None, 1000);
        out.push(page(Some(&all[1]), Some(&all[8]), 1000));
        out
    }

    #[test]
    fn bodies_read_back_from_the_ledger_equal_what_was_served_live() {
        let dir =
            std::env::temp_dir().join(format!("mirror-history-{}-{}", std::process::id(), super::super::unix_now()));
        let _ = std::fs::remove_dir_all(&dir);
        let (alice, bob) = (Pubkey::new_unique(), Pubkey::new_unique());
        let mut bank = bank_on(&dir);
        let mut live = Vec::new();
        let mut alice_sigs = Vec::new();
        for n in 0..(3 * RECENT_BODIES as u64) {
            let to = if n % 3 == 0 { &bob } else { &alice };
            let sent = bank.request_airdrop(to, 1_000_000 + n).unwrap();
            if to == &alice {
                alice_sigs.push(sent.signature);
            }
            live.push((sent.signature, served(&bank, &sent.signature)));
            if n % 5 == 4 {
                bank.tick();
            }
        }
        // The oldest two thirds have left the cache: they come from the file.
        assert_eq!(bank.history.recent.len(), RECENT_BODIES);
        assert!(matches!(bank.history.txs.front().unwrap().body, Body::Ledger { .. }));
        alice_sigs.reverse();
        let expected_pages = {
            let mut pages: Vec<Vec<Signature>> = alice_sigs.chunks(3).map(|c| c.to_vec()).collect();
            pages.push(alice_sigs[2..8].to_vec());
            pages
        };
        for restarted in [false, true] {
            if restarted {
                drop(bank);
                bank = bank_on(&dir);
                assert!(bank.history.recent.is_empty(), "replayed bodies are read from the file");
            }
            for (signature, (json, parsed)) in &live {
                assert_eq!(
                    &served(&bank, signature),
                    &(json.clone(), parsed.clone()),
                    "{signature} (restarted: {restarted})"
                );
            }
            assert_eq!(pages(&bank, &alice), expected_pages, "restarted: {restarted}");
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

#[cfg(test)]
mod lookup_tests {
    use solana_account::Account;
    use solana_keypair::Keypair;
    use solana_message::{v0, AddressLookupTableAccount, VersionedMessage};
    use solana_signer::Signer;
    use solana_transaction::versioned::VersionedTransaction;
    use solana_transaction_status_client_types::UiTransactionEncoding;

    use super::*;
    use crate::bank::BankConfig;
    use crate::rpc::encoding::encode_confirmed_transaction;

    fn bank_on(dir: &std::path::Path) -> Bank {
        let ledger = Arc::new(Ledger::open(dir, false).unwrap());
        let config = BankConfig { finality_depth: 2, bpf_programs: vec![], limit_ledger_size: None };
        Bank::new(config, Some(ledger), tokio::sync::broadcast::channel(16).0).unwrap()
    }

    /// An active lookup table account holding `addresses` (the program's layout:
    /// a 56-byte LookupTableMeta, then the addresses).
    fn table_account(authority: &Pubkey, addresses: &[Pubkey]) -> Account {
        let mut data = 1u32.to_le_bytes().to_vec(); // ProgramState::LookupTable
        data.extend(u64::MAX.to_le_bytes()); // deactivation slot: active
        data.extend(0u64.to_le_bytes()); // last extended slot
        data.push(0); // its start index
        data.push(1); // Some(authority)
        data.extend(authority.to_bytes());
        data.extend([0, 0]); // padding
        assert_eq!(data.len(), 56);
        addresses.iter().for_each(|a| data.extend(a.to_bytes()));
        Account { lamports: 10_000_000, data, owner: solana_sdk_ids::address_lookup_table::id(), ..Account::default() }
    }

    fn v0_transfer(bank: &Bank, payer: &Keypair, table: AddressLookupTableAccount, to: &Pubkey) -> v0::Message {
        let ix = solana_system_interface::instruction::transfer(&payer.pubkey(), to, 1_000);
        v0::Message::try_compile(&payer.pubkey(), &[ix], &[table], bank.latest_blockhash().0).unwrap()
    }

    fn sign(message: v0::Message, payer: &Keypair) -> VersionedTransaction {
        VersionedTransaction::try_new(VersionedMessage::V0(message), &[payer]).unwrap()
    }

    /// getTransaction's json and jsonParsed of `signature`.
    fn served(bank: &Bank, signature: &Signature) -> [serde_json::Value; 2] {
        let tx = bank.transaction(signature).unwrap().expect("known");
        [UiTransactionEncoding::Json, UiTransactionEncoding::JsonParsed].map(|encoding| {
            serde_json::to_value(encode_confirmed_transaction(&tx, encoding, Some(0)).unwrap()).unwrap()
        })
    }

    #[test]
    fn loaded_addresses_are_recorded_indexed_and_read_back_after_a_restart() {
        let dir = std::env::temp_dir().join(format!("mirror-alt-{}-{}", std::process::id(), super::super::unix_now()));
        let _ = std::fs::remove_dir_all(&dir);
        let mut bank = bank_on(&dir);
        let payer = Keypair::new();
        bank.request_airdrop(&payer.pubkey(), 1_000_000_000).unwrap();
        let (table, loaded) = (Pubkey::new_unique(), Pubkey::new_unique());
        bank.set_account(table, table_account(&payer.pubkey(), &[loaded])).unwrap();
        bank.tick();

        let lookup = AddressLookupTableAccount { key: table, addresses: vec![loaded] };
        let message = v0_transfer(&bank, &payer, lookup.clone(), &loaded);
        assert!(!message.account_keys.contains(&loaded), "only the table names it");
        let sent = bank.send_transaction(sign(message, &payer), false).unwrap();
        let live = served(&bank, &sent.signature);
        assert_eq!(
            live[0]["meta"]["loadedAddresses"],
            serde_json::json!({"writable": [loaded.to_string()], "readonly": []})
        );
        let keys = live[1]["transaction"]["message"]["accountKeys"].as_array().unwrap();
        let index = keys.iter().position(|k| k["pubkey"] == loaded.to_string()).expect("the loaded key is listed");
        assert_eq!(keys[index]["source"], "lookupTable");
        assert_eq!(live[1]["meta"]["postBalances"][index], serde_json::json!(1_000));
        let found = |bank: &Bank| -> Vec<Signature> {
            let txs = bank.signatures_for_address(&loaded, None, None, 10, CommitmentLevel::Confirmed).unwrap();
            txs.iter().map(|tx| tx.transaction.signatures[0]).collect()
        };
        assert_eq!(found(&bank), vec![sent.signature]);

        // An index past the table's end: refused before anything runs, nothing recorded.
        let mut bad = v0_transfer(&bank, &payer, lookup, &loaded);
        bad.address_table_lookups[0].writable_indexes[0] = 7;
        let bad = sign(bad, &payer);
        let err = bank.send_transaction(bad.clone(), true).err().expect("refused");
        assert_eq!(err.code, crate::rpc_error::INVALID_PARAMS);
        assert_eq!(err.message, "invalid transaction: Transaction address table lookup uses an invalid index");
        assert!(bank.transaction(&bad.signatures[0]).unwrap().is_none());

        // The table changes later: history keeps what was loaded then, from the file too.
        bank.set_account(table, table_account(&payer.pubkey(), &[Pubkey::new_unique()])).unwrap();
        drop(bank);
        let bank = bank_on(&dir);
        assert_eq!(served(&bank, &sent.signature), live);
        assert_eq!(found(&bank), vec![sent.signature]);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
