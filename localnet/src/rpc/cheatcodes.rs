//! Test cheatcodes (in the spirit of surfpool's `surfnet_*`).

use base64::prelude::{Engine, BASE64_STANDARD};
use serde_json::{json, Value};
use solana_account::Account;
use solana_signature::Signature;

use super::params::{parse_pubkey, pubkey_param, required};
use super::Node;
use crate::bank::Sent;
use crate::rpc_error::{RpcError, RpcResult};

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

/// `mirror_setAccount`: writes an arbitrary account, as surfpool's
/// `surfnet_setAccount` does. Fields left out keep the account's current
/// values (a new account starts empty, owned by the system program). Refused
/// unless the node was started with `--cheatcodes` or `--bootstrap`.
pub async fn set_account(node: &Node, params: &[Value]) -> RpcResult<Value> {
    if !node.cheatcodes {
        return Err(RpcError::new(
            crate::rpc_error::METHOD_NOT_FOUND,
            "Method not found: mirror_setAccount is a test cheatcode; start the node with --cheatcodes or --bootstrap",
        ));
    }
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields, rename_all = "camelCase")]
    struct Update {
        lamports: Option<u64>,
        /// base64
        data: Option<String>,
        owner: Option<String>,
        executable: Option<bool>,
        rent_epoch: Option<u64>,
    }
    let pubkey = pubkey_param(params, 0)?;
    let update: Update = required(params, 1, "{lamports, data, owner, executable, rentEpoch}")?;
    let data = update
        .data
        .map(|d| {
            BASE64_STANDARD
                .decode(d)
                .map_err(|e| RpcError::invalid_params(format!("Invalid params: data is not base64: {e}")))
        })
        .transpose()?;
    let owner = update.owner.as_deref().map(parse_pubkey).transpose()?;
    let (seq, slot) = {
        let mut bank = node.bank.lock();
        let mut account: Account =
            bank.account_at(&pubkey, solana_commitment_config::CommitmentLevel::Processed).unwrap_or_default();
        if let Some(lamports) = update.lamports {
            account.lamports = lamports;
        }
        if let Some(data) = data {
            account.data = data;
        }
        if let Some(owner) = owner {
            account.owner = owner;
        }
        if let Some(executable) = update.executable {
            account.executable = executable;
        }
        if let Some(rent_epoch) = update.rent_epoch {
            account.rent_epoch = rent_epoch;
        }
        let seq = bank.set_account(pubkey, account)?;
        (seq, bank.slot())
    };
    node.durable(&Sent { signature: Signature::default(), ledger_seq: seq }).await?;
    Ok(json!({"slot": slot}))
}
