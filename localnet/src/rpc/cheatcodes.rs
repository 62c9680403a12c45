//! Test cheatcodes (in the spirit of surfpool's `surfnet_*`).

use serde_json::{json, Value};
use solana_signature::Signature;

use super::params::required;
use super::Node;
use crate::bank::Sent;
use crate::rpc_error::RpcResult;

/// `mirror_warpClock`: moves unix time and slots forward.
pub async fn warp_clock(node: &Node, params: &[Value]) -> RpcResult<Value> {
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Warp {
        #[serde(default)]
        seconds: i64,
        #[serde(default)]
        slots: u64,
    }
    let warp: Warp = required(params, 0, "{seconds, slots}")?;
    let (seq, reply) = {
        let mut bank = node.bank.lock();
        let seq = bank.warp(warp.seconds, warp.slots)?;
        (seq, json!({"slot": bank.slot(), "unixTimestamp": bank.unix_timestamp()}))
    };
    node.durable(&Sent { signature: Signature::default(), ledger_seq: seq }).await?;
    Ok(reply)
}
