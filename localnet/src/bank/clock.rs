//! Slots, the unix clock (with the test warp), blockhashes and their validity.

use solana_clock::Clock;
use solana_commitment_config::CommitmentLevel;
use solana_hash::Hash;

use super::{Bank, NodeEvent, MAX_PROCESSING_AGE, SLOTS_PER_EPOCH, SLOT_RECORD_INTERVAL};
use crate::ledger::Entry;
use crate::rpc_error::{RpcError, RpcResult};

impl Bank {
    /// Produces the next slot: new blockhash, clock follows wall time, root advances.
    pub fn tick(&mut self) {
        let parent = self.slot;
        self.slot += 1;
        self.open_block();
        self.clock_dirty = true;
        self.advance_root();
        if self.slot.is_multiple_of(SLOT_RECORD_INTERVAL) {
            let entry = Entry::Clock { slot: self.slot, clock_offset: self.clock_offset };
            if let Err(err) = self.record(&entry) {
                tracing::warn!(err = %err.message, "recording slot progress");
            }
        }
        let _ = self.events.send(NodeEvent::Slot { slot: self.slot, parent, root: self.root });
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
            self.open_block();
            self.advance_root();
        }
        self.clock_dirty = true;
        self.refresh_clock();
        let entry = Entry::Clock { slot: self.slot, clock_offset: self.clock_offset };
        Ok(self.record(&entry)?.map(|a| a.seq))
    }

    pub(super) fn refresh_clock(&mut self) {
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

    pub fn latest_blockhash(&self) -> (Hash, u64) {
        self.latest_blockhash_at(CommitmentLevel::Processed)
    }

    /// The newest blockhash a read at `commitment` sees, and its last valid block height.
    pub fn latest_blockhash_at(&self, commitment: CommitmentLevel) -> (Hash, u64) {
        let max_slot = self.slot_at(commitment);
        let (hash, _, height) = self
            .blockhashes
            .iter()
            .rev()
            .find(|(_, slot, _)| *slot <= max_slot)
            .or(self.blockhashes.front())
            .copied()
            .expect("a blockhash exists from the start");
        (hash, height + MAX_PROCESSING_AGE)
    }

    pub fn is_blockhash_valid(&self, hash: &Hash) -> bool {
        let oldest = self.slot.saturating_sub(MAX_PROCESSING_AGE);
        self.blockhashes.iter().rev().any(|(h, slot, _)| h == hash && *slot >= oldest)
    }
}
