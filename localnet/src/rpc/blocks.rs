//! Slots, blockhashes and blocks: getSlot, getBlockHeight, getLatestBlockhash,
//! isBlockhashValid, getBlockTime.

use std::str::FromStr;

use serde_json::{json, Value};
use solana_hash::Hash;
use solana_rpc_client_types::config::RpcContextConfig;
use solana_rpc_client_types::response::RpcBlockhash;

use super::params::{check_min_context_slot, commitment, optional, read_at, required, with_context};
use super::Node;
use crate::rpc_error::{self, RpcError, RpcResult};

pub fn get_slot(node: &Node, params: &[Value]) -> RpcResult<Value> {
    let config: RpcContextConfig = optional(params, 0)?.unwrap_or_default();
    let bank = node.bank.lock();
    let slot = bank.slot_at(commitment(config.commitment));
    check_min_context_slot(slot, config.min_context_slot)?;
    Ok(json!(slot))
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
    let bank = node.bank.lock();
    with_context(bank.slot(), bank.is_blockhash_valid(&hash))
}

pub fn get_block_time(node: &Node, params: &[Value]) -> RpcResult<Value> {
    let slot: u64 = required(params, 0, "slot")?;
    let bank = node.bank.lock();
    if slot > bank.slot() {
        return Err(RpcError::new(rpc_error::BLOCK_NOT_AVAILABLE, format!("Block not available for slot {slot}")));
    }
    match bank.block_time(slot) {
        Some(time) => Ok(json!(time)),
        None => Err(RpcError::new(
            -32007,
            format!("Slot {slot} was skipped, or missing due to ledger jump to recent snapshot"),
        )),
    }
}
