//! Slots, blockhashes and blocks: getSlot, getBlockHeight, getLatestBlockhash,
//! isBlockhashValid, getBlock, getBlocks, getBlocksWithLimit, getBlockTime,
//! getBlockCommitment, getBlockProduction, getFirstAvailableBlock,
//! minimumLedgerSlot.

use std::collections::HashMap;
use std::str::FromStr;
use std::sync::Arc;

use serde_json::{json, Value};
use solana_commitment_config::CommitmentLevel;
use solana_hash::Hash;
use solana_rpc_client_types::config::{
    RpcBlockConfig, RpcBlockProductionConfig, RpcBlocksConfigWrapper, RpcContextConfig, RpcEncodingConfigWrapper,
};
use solana_rpc_client_types::response::{
    RpcBlockCommitment, RpcBlockProduction, RpcBlockProductionRange, RpcBlockhash,
};
use solana_transaction_status_client_types::{TransactionDetails, UiConfirmedBlock, UiTransactionEncoding};

use super::encoding::{encode_transaction_accounts, encode_transaction_with_meta};
use super::params::{
    check_min_context_slot, commitment, commitment_at_least_confirmed, optional, parse_pubkey, read_at, required,
    to_value, with_context,
};
use super::Node;
use crate::bank::{Bank, SLOTS_PER_EPOCH};
use crate::cluster;
use crate::ledger::{Block, StoredTransaction};
use crate::rpc_error::{RpcError, RpcResult};

/// Agave's MAX_GET_CONFIRMED_BLOCKS_RANGE.
const MAX_GET_CONFIRMED_BLOCKS_RANGE: u64 = 500_000;
/// Agave's BlockCommitmentArray length (MAX_LOCKOUT_HISTORY + 1).
const BLOCK_COMMITMENT_LEN: usize = 32;

pub fn get_slot(node: &Node, params: &[Value]) -> RpcResult<Value> {
    let config: RpcContextConfig = optional(params, 0)?.unwrap_or_default();
    let bank = node.bank.lock();
    let slot = bank.slot_at(commitment(config.commitment));
    check_min_context_slot(slot, config.min_context_slot)?;
    Ok(json!(slot))
}

pub fn get_block_height(node: &Node, params: &[Value]) -> RpcResult<Value> {
    let config: RpcContextConfig = optional(params, 0)?.unwrap_or_default();
    let bank = node.bank.lock();
    let (level, _) = read_at(&bank, config.commitment, config.min_context_slot)?;
    Ok(json!(bank.block_height_at(level)))
}

pub fn get_latest_blockhash(node: &Node, params: &[Value]) -> RpcResult<Value> {
    let config: RpcContextConfig = optional(params, 0)?.unwrap_or_default();
    let bank = node.bank.lock();
    let (level, slot) = read_at(&bank, config.commitment, config.min_context_slot)?;
    let (hash, last_valid_block_height) = bank.latest_blockhash_at(level);
    with_context(slot, RpcBlockhash { blockhash: hash.to_string(), last_valid_block_height })
}

pub fn is_blockhash_valid(node: &Node, params: &[Value]) -> RpcResult<Value> {
    let hash: String = required(params, 0, "blockhash")?;
    let hash = Hash::from_str(&hash).map_err(|e| RpcError::invalid_params(format!("Invalid param: {e:?}")))?;
    let config: RpcContextConfig = optional(params, 1)?.unwrap_or_default();
    let bank = node.bank.lock();
    let (_, slot) = read_at(&bank, config.commitment, config.min_context_slot)?;
    with_context(slot, bank.is_blockhash_valid(&hash))
}

/// The block at `slot` as a read at `level` (confirmed or finalized) may see
/// it, or Agave's error for why not.
fn visible_block(bank: &Bank, slot: u64, level: CommitmentLevel) -> RpcResult<Block> {
    if slot <= bank.root() {
        let first = bank.first_available_block();
        if slot < first {
            return Err(RpcError::block_cleaned_up(slot, first));
        }
        return match bank.block(slot) {
            Some(block) => Ok(block),
            None if slot < bank.root() => Err(RpcError::slot_skipped(slot)),
            None => Err(RpcError::block_not_available(slot)),
        };
    }
    if level != CommitmentLevel::Finalized && slot <= bank.slot() {
        if let Some(block) = bank.block(slot) {
            return Ok(block);
        }
    }
    Err(RpcError::block_not_available(slot))
}

pub fn get_block(node: &Node, params: &[Value]) -> RpcResult<Value> {
    let slot: u64 = required(params, 0, "slot")?;
    let config = optional::<RpcEncodingConfigWrapper<RpcBlockConfig>>(params, 1)?
        .map(|wrapper| wrapper.convert_to_current())
        .unwrap_or_default();
    let encoding = config.encoding.unwrap_or(UiTransactionEncoding::Json);
    let details = config.transaction_details.unwrap_or_default();
    let show_rewards = config.rewards.unwrap_or(true);
    let level = commitment_at_least_confirmed(config.commitment)?;
    let bank = node.bank.lock();
    let block = visible_block(&bank, slot, level)?;
    let txs = match details {
        TransactionDetails::None => Vec::new(),
        _ => bank.block_transactions(slot)?,
    };
    drop(bank);
    to_value(encode_block(&block, &txs, encoding, details, show_rewards, config.max_supported_transaction_version)?)
}

/// A block in Agave's shape, with `txs` as its transactions.
pub fn encode_block(
    block: &Block,
    txs: &[Arc<StoredTransaction>],
    encoding: UiTransactionEncoding,
    details: TransactionDetails,
    show_rewards: bool,
    max_version: Option<u8>,
) -> RpcResult<UiConfirmedBlock> {
    let (transactions, signatures) = match details {
        TransactionDetails::Full => (
            Some(
                txs.iter()
                    .map(|tx| encode_transaction_with_meta(tx, encoding, max_version, show_rewards))
                    .collect::<RpcResult<Vec<_>>>()?,
            ),
            None,
        ),
        TransactionDetails::Accounts => (
            Some(
                txs.iter()
                    .map(|tx| encode_transaction_accounts(tx, max_version, show_rewards))
                    .collect::<RpcResult<Vec<_>>>()?,
            ),
            None,
        ),
        TransactionDetails::Signatures => {
            (None, Some(txs.iter().map(|tx| tx.transaction.signatures[0].to_string()).collect()))
        }
        TransactionDetails::None => (None, None),
    };
    Ok(UiConfirmedBlock {
        previous_blockhash: block.previous_blockhash.to_string(),
        blockhash: block.blockhash.to_string(),
        parent_slot: block.parent_slot,
        transactions,
        signatures,
        // A one-node cluster with no stake rewards at slot level: empty, as Agave's.
        rewards: show_rewards.then(Vec::new),
        num_reward_partitions: None,
        block_time: Some(block.block_time),
        block_height: Some(block.block_height),
    })
}

pub fn get_blocks(node: &Node, params: &[Value]) -> RpcResult<Value> {
    let start: u64 = required(params, 0, "start_slot")?;
    let wrapper: Option<RpcBlocksConfigWrapper> = optional(params, 1)?;
    let config: Option<RpcContextConfig> = optional(params, 2)?;
    let (end, wrapped_config) = wrapper.map(|w| w.unzip()).unwrap_or_default();
    let level = commitment_at_least_confirmed(config.or(wrapped_config).and_then(|c| c.commitment))?;
    let bank = node.bank.lock();
    let newest = if level == CommitmentLevel::Finalized { bank.root() } else { bank.slot() };
    let end = end.unwrap_or_else(|| start.saturating_add(MAX_GET_CONFIRMED_BLOCKS_RANGE)).min(newest);
    if end < start {
        return Ok(json!([]));
    }
    if end - start > MAX_GET_CONFIRMED_BLOCKS_RANGE {
        return Err(RpcError::invalid_params(format!("Slot range too large; max {MAX_GET_CONFIRMED_BLOCKS_RANGE}")));
    }
    Ok(json!(bank.block_slots(start, end, usize::MAX)))
}

pub fn get_blocks_with_limit(node: &Node, params: &[Value]) -> RpcResult<Value> {
    let start: u64 = required(params, 0, "start_slot")?;
    let limit: usize = required(params, 1, "limit")?;
    let config: RpcContextConfig = optional(params, 2)?.unwrap_or_default();
    let level = commitment_at_least_confirmed(config.commitment)?;
    if limit as u64 > MAX_GET_CONFIRMED_BLOCKS_RANGE {
        return Err(RpcError::invalid_params(format!("Limit too large; max {MAX_GET_CONFIRMED_BLOCKS_RANGE}")));
    }
    let bank = node.bank.lock();
    let newest = if level == CommitmentLevel::Finalized { bank.root() } else { bank.slot() };
    Ok(json!(bank.block_slots(start, newest, limit)))
}

pub fn get_block_time(node: &Node, params: &[Value]) -> RpcResult<Value> {
    let slot: u64 = required(params, 0, "slot")?;
    let bank = node.bank.lock();
    let block = visible_block(&bank, slot, CommitmentLevel::Confirmed)?;
    Ok(json!(block.block_time))
}

pub fn get_block_commitment(node: &Node, params: &[Value]) -> RpcResult<Value> {
    let slot: u64 = required(params, 0, "slot")?;
    let bank = node.bank.lock();
    // Rooted slots leave the commitment cache; unrooted blocks carry the
    // node's whole stake at the depth its votes have reached.
    let commitment = (slot > bank.root() && bank.block(slot).is_some()).then(|| {
        let mut array = [0u64; BLOCK_COMMITMENT_LEN];
        let depth = (bank.slot() - slot).min(BLOCK_COMMITMENT_LEN as u64 - 1) as usize;
        array[depth] = cluster::VALIDATOR_STAKE_LAMPORTS;
        array
    });
    to_value(RpcBlockCommitment { commitment, total_stake: cluster::VALIDATOR_STAKE_LAMPORTS })
}

pub fn get_block_production(node: &Node, params: &[Value]) -> RpcResult<Value> {
    let config: RpcBlockProductionConfig = optional(params, 0)?.unwrap_or_default();
    let identity = config.identity.as_deref().map(parse_pubkey).transpose()?;
    let bank = node.bank.lock();
    let slot = bank.slot_at(commitment(config.commitment));
    let (first_slot, last_slot) = match config.range {
        None => (slot - slot % SLOTS_PER_EPOCH, slot),
        Some(range) => {
            let last = range.last_slot.unwrap_or(slot);
            if last < range.first_slot {
                return Err(RpcError::invalid_params(format!(
                    "lastSlot, {last}, cannot be less than firstSlot, {}",
                    range.first_slot
                )));
            }
            (range.first_slot, last)
        }
    };
    if last_slot > slot {
        return Err(RpcError::invalid_params(format!("lastSlot, {last_slot}, is too large; max {slot}")));
    }
    let node_identity = cluster::identity_pubkey();
    let mut by_identity = HashMap::new();
    if identity.is_none_or(|wanted| wanted == node_identity) {
        // The node leads every slot; the slots it produced a block in are its blocks.
        let leader_slots = (last_slot - first_slot + 1) as usize;
        let produced = bank.block_slots(first_slot, last_slot, usize::MAX).len();
        by_identity.insert(node_identity.to_string(), (leader_slots, produced));
    }
    with_context(slot, RpcBlockProduction { by_identity, range: RpcBlockProductionRange { first_slot, last_slot } })
}

pub fn get_first_available_block(node: &Node) -> RpcResult<Value> {
    Ok(json!(node.bank.lock().first_available_block()))
}

pub fn minimum_ledger_slot(node: &Node) -> RpcResult<Value> {
    Ok(json!(node.bank.lock().first_available_block()))
}
