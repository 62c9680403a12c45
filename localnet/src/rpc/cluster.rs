//! The node and its cluster: getHealth, getVersion, getGenesisHash, getEpochInfo.

use serde_json::{json, Value};
use solana_rpc_client_types::config::RpcContextConfig;
use solana_rpc_client_types::response::RpcVersionInfo;

use super::params::{commitment, optional, to_value};
use super::{Node, AGAVE_VERSION};
use crate::bank::SLOTS_PER_EPOCH;
use crate::rpc_error::RpcResult;

pub fn get_health() -> RpcResult<Value> {
    Ok(json!("ok"))
}

pub fn get_genesis_hash(node: &Node) -> RpcResult<Value> {
    Ok(json!(node.bank.lock().genesis_hash().to_string()))
}

pub fn get_version() -> RpcResult<Value> {
    to_value(RpcVersionInfo {
        solana_core: AGAVE_VERSION.to_string(),
        feature_set: Some(solana_version::Version::default().feature_set),
    })
}

pub fn get_epoch_info(node: &Node, params: &[Value]) -> RpcResult<Value> {
    let config: RpcContextConfig = optional(params, 0)?.unwrap_or_default();
    let bank = node.bank.lock();
    let slot = bank.slot_at(commitment(config.commitment));
    to_value(solana_epoch_info::EpochInfo {
        epoch: slot / SLOTS_PER_EPOCH,
        slot_index: slot % SLOTS_PER_EPOCH,
        slots_in_epoch: SLOTS_PER_EPOCH,
        absolute_slot: slot,
        block_height: bank.block_height_at(commitment(config.commitment)),
        transaction_count: Some(bank.transaction_count()),
    })
}
