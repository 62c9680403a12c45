//! Parameter parsing shared by every method: required and optional
//! positional params, pubkeys and signatures, commitment levels, the
//! `minContextSlot` check and the `{context, value}` envelope, with Agave's
//! messages for each refusal.

use std::str::FromStr;

use serde::de::DeserializeOwned;
use serde_json::{json, Value};
use solana_commitment_config::{CommitmentConfig, CommitmentLevel};
use solana_pubkey::Pubkey;
use solana_rpc_client_types::response::RpcResponseContext;
use solana_signature::Signature;

use crate::bank::Bank;
use crate::rpc_error::{self, RpcError, RpcResult};

pub fn required<T: DeserializeOwned>(params: &[Value], index: usize, what: &str) -> RpcResult<T> {
    let value = params.get(index).ok_or_else(|| RpcError::invalid_params(format!("Invalid params: missing {what}")))?;
    serde_json::from_value(value.clone()).map_err(|e| RpcError::invalid_params(format!("Invalid params: {e}.")))
}

pub fn optional<T: DeserializeOwned>(params: &[Value], index: usize) -> RpcResult<Option<T>> {
    match params.get(index) {
        None | Some(Value::Null) => Ok(None),
        Some(value) => serde_json::from_value(value.clone())
            .map(Some)
            .map_err(|e| RpcError::invalid_params(format!("Invalid params: {e}."))),
    }
}

pub fn parse_pubkey(s: &str) -> RpcResult<Pubkey> {
    Pubkey::from_str(s).map_err(|e| RpcError::invalid_params(format!("Invalid param: {e:?}")))
}

pub fn pubkey_param(params: &[Value], index: usize) -> RpcResult<Pubkey> {
    parse_pubkey(&required::<String>(params, index, "pubkey")?)
}

pub fn parse_signature(s: &str) -> RpcResult<Signature> {
    Signature::from_str(s).map_err(|e| RpcError::invalid_params(format!("Invalid param: {e:?}")))
}

/// Agave's default commitment is finalized.
pub fn commitment(config: Option<CommitmentConfig>) -> CommitmentLevel {
    config.map(|c| c.commitment).unwrap_or(CommitmentLevel::Finalized)
}

pub fn commitment_at_least_confirmed(config: Option<CommitmentConfig>) -> RpcResult<CommitmentLevel> {
    match commitment(config) {
        CommitmentLevel::Processed => {
            Err(RpcError::invalid_params("Method does not support commitment below `confirmed`"))
        }
        level => Ok(level),
    }
}

/// The commitment a read asks for and the slot it sees, refused below `min_context_slot`.
pub fn read_at(
    bank: &Bank,
    config: Option<CommitmentConfig>,
    min_context_slot: Option<u64>,
) -> RpcResult<(CommitmentLevel, u64)> {
    let level = commitment(config);
    let slot = bank.slot_at(level);
    check_min_context_slot(slot, min_context_slot)?;
    Ok((level, slot))
}

pub fn check_min_context_slot(slot: u64, min_context_slot: Option<u64>) -> RpcResult<()> {
    match min_context_slot {
        Some(min) if slot < min => {
            Err(RpcError::new(rpc_error::MIN_CONTEXT_SLOT_NOT_REACHED, "Minimum context slot has not been reached")
                .with_data(json!({"contextSlot": slot})))
        }
        _ => Ok(()),
    }
}

pub fn with_context<T: serde::Serialize>(slot: u64, value: T) -> RpcResult<Value> {
    serde_json::to_value(solana_rpc_client_types::response::Response { context: RpcResponseContext::new(slot), value })
        .map_err(|e| RpcError::internal(e.to_string()))
}

/// Serialises an answer (a failure here is the node's own bug: internal error).
pub fn to_value<T: serde::Serialize>(value: T) -> RpcResult<Value> {
    serde_json::to_value(value).map_err(|e| RpcError::internal(e.to_string()))
}
