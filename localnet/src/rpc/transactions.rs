//! Transactions: sendTransaction, simulateTransaction, requestAirdrop,
//! getSignatureStatuses, getSignaturesForAddress, getTransaction, and the fee
//! of a message (getFeeForMessage).

use base64::prelude::{Engine, BASE64_STANDARD};
use serde_json::{json, Value};
use solana_message::VersionedMessage;
use solana_rpc_client_types::config::{
    RpcRequestAirdropConfig, RpcSendTransactionConfig, RpcSignatureStatusConfig, RpcSignaturesForAddressConfig,
    RpcSimulateTransactionConfig, RpcTransactionConfig,
};
use solana_rpc_client_types::response::{
    RpcBlockhash, RpcConfirmedTransactionStatusWithSignature, RpcPrioritizationFee, RpcSimulateTransactionResult,
};
use solana_transaction::versioned::VersionedTransaction;
use solana_transaction_status_client_types::{
    TransactionConfirmationStatus, TransactionStatus, UiInnerInstructions, UiTransactionEncoding,
};

use super::encoding::{decode_transaction, encode_account, encode_confirmed_transaction, ui_return_data};
use super::params::{
    check_min_context_slot, commitment_at_least_confirmed, optional, parse_pubkey, parse_signature, pubkey_param,
    required, to_value, with_context,
};
use super::Node;
use crate::bank::fees;
use crate::ledger::StoredTransaction;
use crate::rpc_error::{self, RpcError, RpcResult};

const MAX_GET_SIGNATURE_STATUSES: usize = 256;
const MAX_GET_SIGNATURES_FOR_ADDRESS_LIMIT: usize = 1_000;
/// Agave's status cache holds the signatures of this many recent roots (MAX_CACHE_ENTRIES).
const STATUS_CACHE_SLOTS: u64 = 300;
/// Agave's MAX_TX_ACCOUNT_LOCKS, the most accounts getRecentPrioritizationFees takes.
const MAX_TX_ACCOUNT_LOCKS: usize = 128;
/// Agave's prioritization fee cache keeps this many recent finalized blocks.
const MAX_NUM_RECENT_BLOCKS: usize = 150;

pub async fn request_airdrop(node: &Node, params: &[Value]) -> RpcResult<Value> {
    let pubkey = pubkey_param(params, 0)?;
    let lamports: u64 = required(params, 1, "lamports")?;
    let _config: Option<RpcRequestAirdropConfig> = optional(params, 2)?;
    let sent = node.bank.lock().request_airdrop(&pubkey, lamports)?;
    node.durable(&sent).await?;
    Ok(json!(sent.signature.to_string()))
}

pub async fn send_transaction(node: &Node, params: &[Value]) -> RpcResult<Value> {
    let encoded: String = required(params, 0, "transaction")?;
    let config: RpcSendTransactionConfig = optional(params, 1)?.unwrap_or_default();
    let tx = decode_transaction(&encoded, config.encoding.unwrap_or(UiTransactionEncoding::Base58))?;
    let sent = node.bank.lock().send_transaction(tx, config.skip_preflight)?;
    node.durable(&sent).await?;
    Ok(json!(sent.signature.to_string()))
}

pub fn simulate_transaction(node: &Node, params: &[Value]) -> RpcResult<Value> {
    let encoded: String = required(params, 0, "transaction")?;
    let config: RpcSimulateTransactionConfig = optional(params, 1)?.unwrap_or_default();
    if config.sig_verify && config.replace_recent_blockhash {
        return Err(RpcError::invalid_params("sigVerify may not be used with replaceRecentBlockhash"));
    }
    let tx = decode_transaction(&encoded, config.encoding.unwrap_or(UiTransactionEncoding::Base58))?;
    // Agave sanitizes (resolving lookup tables) before verifying signatures.
    node.bank.lock().sanitize_lookups(&tx.message)?;
    if config.sig_verify && tx.verify_with_results().iter().any(|ok| !ok) {
        return Err(RpcError::new(
            rpc_error::TRANSACTION_SIGNATURE_VERIFICATION_FAILURE,
            "Transaction signature verification failure",
        ));
    }
    let mut bank = node.bank.lock();
    let (result, simulation) = bank.simulate(&tx, config.replace_recent_blockhash);
    let slot = bank.slot();
    let replacement_blockhash = config.replace_recent_blockhash.then(|| {
        let (hash, last_valid_block_height) = bank.latest_blockhash();
        RpcBlockhash { blockhash: hash.to_string(), last_valid_block_height }
    });
    drop(bank);
    let accounts = match &config.accounts {
        None => None,
        Some(wanted) => Some(
            wanted
                .addresses
                .iter()
                .map(|address| {
                    let key = parse_pubkey(address)?;
                    simulation
                        .post_accounts
                        .iter()
                        .find(|(k, _)| *k == key)
                        .map(|(_, a)| encode_account(&key, a, wanted.encoding, None, None))
                        .transpose()
                })
                .collect::<RpcResult<Vec<_>>>()?,
        ),
    };
    with_context(
        slot,
        RpcSimulateTransactionResult {
            err: result.err(),
            logs: Some(simulation.logs),
            accounts,
            units_consumed: Some(simulation.units_consumed),
            loaded_accounts_data_size: None,
            return_data: simulation.return_data.map(ui_return_data),
            inner_instructions: config
                .inner_instructions
                .then(|| simulation.inner_instructions.into_iter().map(UiInnerInstructions::from).collect()),
            replacement_blockhash,
        },
    )
}

pub fn get_signature_statuses(node: &Node, params: &[Value]) -> RpcResult<Value> {
    let signatures: Vec<String> = required(params, 0, "signatures")?;
    if signatures.len() > MAX_GET_SIGNATURE_STATUSES {
        return Err(RpcError::invalid_params(format!("Too many inputs provided; max {MAX_GET_SIGNATURE_STATUSES}")));
    }
    let search_history =
        optional::<RpcSignatureStatusConfig>(params, 1)?.is_some_and(|config| config.search_transaction_history);
    let signatures = signatures.iter().map(|s| parse_signature(s)).collect::<RpcResult<Vec<_>>>()?;
    let bank = node.bank.lock();
    // Like a bank's status cache, only recent transactions are known without
    // `searchTransactionHistory`; older ones are found in the ledger (rooted).
    let recent_from = bank.root().saturating_sub(STATUS_CACHE_SLOTS);
    let statuses: Vec<Option<TransactionStatus>> = signatures
        .iter()
        .map(|sig| {
            Ok(bank
                .transaction(sig)?
                .filter(|tx| search_history || tx.slot > recent_from)
                .map(|tx| status_of(&tx, bank.slot(), bank.root())))
        })
        .collect::<RpcResult<_>>()?;
    with_context(bank.slot(), statuses)
}

pub fn get_signatures_for_address(node: &Node, params: &[Value]) -> RpcResult<Value> {
    let address = pubkey_param(params, 0)?;
    let config: RpcSignaturesForAddressConfig = optional(params, 1)?.unwrap_or_default();
    let level = commitment_at_least_confirmed(config.commitment)?;
    let limit = config.limit.unwrap_or(MAX_GET_SIGNATURES_FOR_ADDRESS_LIMIT);
    if limit == 0 || limit > MAX_GET_SIGNATURES_FOR_ADDRESS_LIMIT {
        return Err(RpcError::invalid_params(format!("Invalid limit; max {MAX_GET_SIGNATURES_FOR_ADDRESS_LIMIT}")));
    }
    let before = config.before.as_deref().map(parse_signature).transpose()?;
    let until = config.until.as_deref().map(parse_signature).transpose()?;
    let bank = node.bank.lock();
    check_min_context_slot(bank.slot_at(level), config.min_context_slot)?;
    let txs = bank.signatures_for_address(&address, before.as_ref(), until.as_ref(), limit, level)?;
    let (slot, root) = (bank.slot(), bank.root());
    drop(bank);
    let list: Vec<RpcConfirmedTransactionStatusWithSignature> = txs
        .iter()
        .map(|tx| RpcConfirmedTransactionStatusWithSignature {
            signature: tx.transaction.signatures[0].to_string(),
            slot: tx.slot,
            err: tx.err.clone(),
            memo: memo_of(&tx.transaction),
            block_time: Some(tx.block_time),
            confirmation_status: status_of(tx, slot, root).confirmation_status,
        })
        .collect();
    to_value(list)
}

pub fn get_transaction(node: &Node, params: &[Value]) -> RpcResult<Value> {
    let signature = parse_signature(&required::<String>(params, 0, "signature")?)?;
    let config = transaction_config(params.get(1))?;
    let level = commitment_at_least_confirmed(config.commitment)?;
    let bank = node.bank.lock();
    let Some(tx) = bank.transaction(&signature)? else {
        return Ok(Value::Null);
    };
    if tx.slot > bank.slot_at(level) {
        return Ok(Value::Null);
    }
    drop(bank);
    let encoded = encode_confirmed_transaction(
        &tx,
        config.encoding.unwrap_or(UiTransactionEncoding::Json),
        config.max_supported_transaction_version,
    )?;
    to_value(encoded)
}

pub fn get_fee_for_message(node: &Node, params: &[Value]) -> RpcResult<Value> {
    let encoded: String = required(params, 0, "message")?;
    let bytes = BASE64_STANDARD
        .decode(&encoded)
        .map_err(|e| RpcError::invalid_params(format!("invalid base64 encoding: {e}")))?;
    let message: VersionedMessage = bincode::deserialize(&bytes)
        .map_err(|e| RpcError::invalid_params(format!("failed to deserialize VersionedMessage: {e}")))?;
    let bank = node.bank.lock();
    let fee = bank.is_blockhash_valid(message.recent_blockhash()).then(|| fees::total_fee(&message));
    with_context(bank.slot(), fee)
}

fn transaction_config(value: Option<&Value>) -> RpcResult<RpcTransactionConfig> {
    match value {
        None | Some(Value::Null) => Ok(RpcTransactionConfig::default()),
        // Deprecated form: the encoding alone.
        Some(Value::String(_)) => {
            let encoding: UiTransactionEncoding = serde_json::from_value(value.cloned().unwrap_or_default())
                .map_err(|e| RpcError::invalid_params(format!("Invalid params: {e}.")))?;
            Ok(RpcTransactionConfig { encoding: Some(encoding), ..RpcTransactionConfig::default() })
        }
        Some(v) => {
            serde_json::from_value(v.clone()).map_err(|e| RpcError::invalid_params(format!("Invalid params: {e}.")))
        }
    }
}

/// The memo field of getSignaturesForAddress, as Agave's `extract_memos` formats
/// it: `[<len>] <utf-8 text>` per Memo instruction, joined with "; ".
fn memo_of(tx: &VersionedTransaction) -> Option<String> {
    const MEMO_PROGRAMS: [&str; 2] =
        ["MemoSq4gqABAXKb96qnH8TysNcWxMyWCqXgDLGmfcHr", "Memo1UhkJRfHyvLMcVucJwxXeuD728EqVDDwQDxFMNo"];
    let keys = tx.message.static_account_keys();
    let memos: Vec<String> = tx
        .message
        .instructions()
        .iter()
        .filter(|ix| {
            keys.get(ix.program_id_index as usize).is_some_and(|id| MEMO_PROGRAMS.contains(&id.to_string().as_str()))
        })
        .map(|ix| {
            let text = String::from_utf8(ix.data.clone()).unwrap_or_else(|_| "(unparseable)".to_string());
            format!("[{}] {text}", ix.data.len())
        })
        .collect();
    (!memos.is_empty()).then(|| memos.join("; "))
}

pub fn status_of(tx: &StoredTransaction, slot: u64, root: u64) -> TransactionStatus {
    let finalized = tx.slot <= root;
    TransactionStatus {
        slot: tx.slot,
        confirmations: (!finalized).then(|| slot.saturating_sub(tx.slot) as usize),
        status: tx.err.clone().map_or(Ok(()), Err),
        err: tx.err.clone(),
        confirmation_status: Some(if finalized {
            TransactionConfirmationStatus::Finalized
        } else {
            TransactionConfirmationStatus::Confirmed
        }),
    }
}

pub fn get_recent_prioritization_fees(node: &Node, params: &[Value]) -> RpcResult<Value> {
    let keys: Vec<String> = optional(params, 0)?.unwrap_or_default();
    if keys.len() > MAX_TX_ACCOUNT_LOCKS {
        return Err(RpcError::invalid_params(format!("Too many inputs provided; max {MAX_TX_ACCOUNT_LOCKS}")));
    }
    let keys = keys.iter().map(|k| parse_pubkey(k)).collect::<RpcResult<Vec<_>>>()?;
    let bank = node.bank.lock();
    let fees: Vec<RpcPrioritizationFee> = bank
        .recent_prioritization_fees(&keys, MAX_NUM_RECENT_BLOCKS)
        .into_iter()
        .map(|(slot, prioritization_fee)| RpcPrioritizationFee { slot, prioritization_fee })
        .collect();
    to_value(fees)
}
