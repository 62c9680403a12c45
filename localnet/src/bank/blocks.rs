//! Blocks: every slot the node produces opens a block (parent slot, blockhash,
//! previous blockhash, block time, block height). Slots the node never
//! produced (a warp, the slots lost across a restart) are skipped, as a
//! cluster's skipped slots are. Each block is recorded in the ledger when it
//! opens and rebuilt from there on replay.

use std::sync::Arc;

use solana_clock::Slot;
use solana_commitment_config::CommitmentLevel;
use solana_hash::Hash;
use solana_program::slot_hashes::{SlotHashes, MAX_ENTRIES as MAX_SLOT_HASHES};

use super::{Bank, NodeEvent, MAX_PROCESSING_AGE};
use crate::ledger::{Block, Entry, StoredTransaction};
use crate::rpc_error::RpcResult;

/// The blockhash of `slot` (`n` = 0), or the `n`th extra blockhash issued
/// within it. Slots never repeat, even across restarts, so neither do hashes.
pub(super) fn derive_blockhash(genesis_hash: &Hash, slot: Slot, n: u64) -> Hash {
    solana_sha256_hasher::hashv(&[
        b"mirror-localnet blockhash",
        genesis_hash.as_ref(),
        &slot.to_le_bytes(),
        &n.to_le_bytes(),
    ])
}

impl Bank {
    /// Opens the block of the current slot on top of the newest block so far,
    /// records it and makes its blockhash the latest.
    pub(super) fn open_block(&mut self) {
        let parent = self.blocks.last_key_value().map(|(_, b)| *b);
        if let Some(parent) = parent {
            let _ = self.events.send(NodeEvent::Block { slot: parent.slot, commitment: CommitmentLevel::Confirmed });
        }
        let blockhash = derive_blockhash(&self.genesis_hash, self.slot, 0);
        let block = Block {
            slot: self.slot,
            parent_slot: parent.map_or(self.slot, |p| p.slot),
            block_height: parent.map_or(0, |p| p.block_height + 1),
            block_time: self.unix_timestamp(),
            blockhash,
            previous_blockhash: parent.map_or_else(Hash::default, |p| p.blockhash),
        };
        self.blocks.insert(self.slot, block);
        self.extra_blockhashes = 0;
        self.issue_blockhash(blockhash, block.block_height);
        self.update_slot_hashes();
        if let Err(err) = self.record(&Entry::Block(block)) {
            tracing::warn!(err = %err.message, "recording a block");
        }
    }

    /// The SlotHashes sysvar follows the node's blocks, as a cluster's does:
    /// (slot, blockhash) of the newest 512 blocks, newest first. It includes the
    /// open block: on this node processed and confirmed reads are the current
    /// slot, so a client's `getSlot()` must be a usable `recent_slot` for
    /// CreateLookupTable (on a cluster that slot is already a parent).
    fn update_slot_hashes(&mut self) {
        let entries: Vec<(Slot, Hash)> =
            self.blocks.values().rev().take(MAX_SLOT_HASHES).map(|b| (b.slot, b.blockhash)).collect();
        self.chain.set_sysvar(&SlotHashes::new(&entries));
    }

    /// A further blockhash within the current slot (so that two identical
    /// airdrops in one slot are two transactions).
    pub(super) fn new_blockhash(&mut self) {
        self.extra_blockhashes += 1;
        let hash = derive_blockhash(&self.genesis_hash, self.slot, self.extra_blockhashes);
        let height = self.blocks.get(&self.slot).map_or(0, |b| b.block_height);
        self.issue_blockhash(hash, height);
    }

    fn issue_blockhash(&mut self, hash: Hash, block_height: u64) {
        // LiteSVM's own blockhash (durable nonces) moves along with ours.
        self.chain.expire_blockhash();
        self.blockhashes.push_back((hash, self.slot, block_height));
        while self.blockhashes.len() > 2 * MAX_PROCESSING_AGE as usize {
            self.blockhashes.pop_front();
        }
    }

    /// Ledgers written before blocks were recorded: each slot with transactions
    /// gets its block back, on top of the block before it.
    pub(super) fn rebuild_missing_blocks(&mut self) {
        let mut slots: Vec<(Slot, usize)> = Vec::new();
        for (i, tx) in self.history.txs.iter().enumerate() {
            if !self.blocks.contains_key(&tx.slot) && slots.last().map(|(s, _)| *s) != Some(tx.slot) {
                slots.push((tx.slot, self.history.base + i));
            }
        }
        for (slot, first_tx) in slots {
            let block_time = match self.history.get(first_tx) {
                Ok(tx) => tx.block_time,
                Err(err) => {
                    tracing::warn!(slot, err = %err.message, "rebuilding a block: its first transaction is unreadable");
                    continue;
                }
            };
            let parent = self.blocks.range(..slot).next_back().map(|(_, b)| *b);
            let blockhash = derive_blockhash(&self.genesis_hash, slot, 0);
            self.blocks.insert(
                slot,
                Block {
                    slot,
                    parent_slot: parent.map_or(slot, |p| p.slot),
                    block_height: parent.map_or(0, |p| p.block_height + 1),
                    block_time,
                    blockhash,
                    previous_blockhash: parent.map_or_else(Hash::default, |p| p.blockhash),
                },
            );
        }
    }

    /// The block produced in `slot`, if any (the current slot's is still open).
    pub fn block(&self, slot: Slot) -> Option<Block> {
        self.blocks.get(&slot).copied()
    }

    /// The newest block a read at `commitment` sees.
    pub fn newest_block_at(&self, commitment: CommitmentLevel) -> Block {
        *self.blocks.range(..=self.slot_at(commitment)).next_back().expect("the genesis block exists").1
    }

    /// The block height of the bank a read at `commitment` sees.
    pub fn block_height_at(&self, commitment: CommitmentLevel) -> u64 {
        self.newest_block_at(commitment).block_height
    }

    /// The oldest block the node still has.
    pub fn first_available_block(&self) -> Slot {
        self.blocks.first_key_value().map_or(0, |(slot, _)| *slot)
    }

    /// Slots of the blocks from `start` up to `end` (inclusive), at most `limit`.
    pub fn block_slots(&self, start: Slot, end: Slot, limit: usize) -> Vec<Slot> {
        if end < start {
            return Vec::new();
        }
        self.blocks.range(start..=end).take(limit).map(|(slot, _)| *slot).collect()
    }

    /// The transactions of the block at `slot`, in the order they executed.
    pub fn block_transactions(&self, slot: Slot) -> RpcResult<Vec<Arc<StoredTransaction>>> {
        self.history.slot_range(slot).map(|i| self.history.get(i)).collect()
    }

    pub fn block_time(&self, slot: Slot) -> Option<i64> {
        self.blocks.get(&slot).map(|b| b.block_time)
    }

    /// Transactions recorded in slots up to `slot`.
    pub fn transaction_count_until(&self, slot: Slot) -> u64 {
        self.history.slot_range(slot).end as u64
    }

    /// Performance samples, newest first: 60-second periods counted back from
    /// the newest block's time, each (newest slot, transactions, slots, seconds).
    pub fn performance_samples(&self, limit: usize) -> Vec<(Slot, u64, u64, u16)> {
        const PERIOD: i64 = 60;
        let mut samples = Vec::new();
        let mut blocks = self.blocks.values().rev().peekable();
        let Some(newest) = blocks.peek().copied().copied() else {
            return samples;
        };
        let mut end = newest.block_time;
        while samples.len() < limit {
            let start = end - PERIOD;
            let mut top: Option<Slot> = None;
            let mut bottom: Option<Slot> = None;
            let mut txs = 0u64;
            while let Some(block) = blocks.next_if(|b| b.block_time > start) {
                top.get_or_insert(block.slot);
                bottom = Some(block.slot);
                txs += self.block_transactions_count(block.slot);
            }
            let (Some(top), Some(bottom)) = (top, bottom) else {
                break;
            };
            let after_previous = blocks.peek().map_or(bottom, |b| b.slot + 1);
            samples.push((top, txs, top - after_previous + 1, PERIOD as u16));
            end = start;
        }
        samples
    }

    fn block_transactions_count(&self, slot: Slot) -> u64 {
        self.history.slot_range(slot).len() as u64
    }

    /// For the newest `count` finalized blocks, oldest first: the lowest
    /// prioritization fee (micro-lamports per compute unit) a transaction of the
    /// block paid that writes one of `accounts` (any transaction when empty); 0
    /// when none did.
    pub fn recent_prioritization_fees(&self, accounts: &[solana_pubkey::Pubkey], count: usize) -> Vec<(Slot, u64)> {
        let mut out: Vec<(Slot, u64)> = self
            .blocks
            .range(..=self.root)
            .rev()
            .take(count)
            .map(|(slot, _)| {
                let txs = self.block_transactions(*slot).unwrap_or_else(|err| {
                    tracing::warn!(slot, err = %err.message, "prioritization fees: a transaction is unreadable");
                    Vec::new()
                });
                let fee = txs
                    .iter()
                    .filter(|tx| {
                        let message = &tx.transaction.message;
                        accounts.is_empty()
                            || message
                                .static_account_keys()
                                .iter()
                                .enumerate()
                                .any(|(i, key)| accounts.contains(key) && message.is_maybe_writable(i, None))
                            || tx.loaded_addresses.writable.iter().any(|key| accounts.contains(key))
                    })
                    .map(|tx| tx.prioritization_fee())
                    .min()
                    .unwrap_or(0);
                (*slot, fee)
            })
            .collect();
        out.reverse();
        out
    }

    /// `--limit-ledger-size`: keeps the newest `limit` blocks (never one the root
    /// has not passed) and the transactions of the blocks kept.
    pub(super) fn prune_blocks(&mut self) {
        let Some(limit) = self.config.limit_ledger_size else {
            return;
        };
        while self.blocks.len() as u64 > limit.max(1) {
            let (&oldest, _) = self.blocks.first_key_value().expect("more than one block");
            if oldest >= self.root {
                break;
            }
            self.blocks.remove(&oldest);
        }
        let first = self.first_available_block();
        self.history.prune_before(first);
    }
}
