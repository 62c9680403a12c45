//! JSON-RPC over HTTP, method by method as Agave serves them. Answers are
//! built from Agave's client types (solana-rpc-client-types,
//! solana-transaction-status-client-types, solana-account-decoder-client-types)
//! so their JSON shapes are the ones clients already parse.

use std::str::FromStr;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use base64::prelude::{Engine, BASE64_STANDARD};
use parking_lot::Mutex;
use serde::de::DeserializeOwned;
use serde_json::{json, Value};
use solana_account::Account;
use solana_account_decoder_client_types::{UiAccount, UiAccountData, UiAccountEncoding, UiDataSliceConfig};
use solana_commitment_config::{CommitmentConfig, CommitmentLevel};
use solana_hash::Hash;
use solana_message::VersionedMessage;
use solana_pubkey::Pubkey;
use solana_rpc_client_types::config::{
    RpcAccountInfoConfig, RpcContextConfig, RpcProgramAccountsConfig, RpcRequestAirdropConfig,
    RpcSendTransactionConfig, RpcSignatureStatusConfig, RpcSignaturesForAddressConfig, RpcSimulateTransactionConfig,
    RpcTransactionConfig,
};
use solana_rpc_client_types::filter::RpcFilterType;
use solana_rpc_client_types::response::{
    RpcBlockhash, RpcConfirmedTransactionStatusWithSignature, RpcKeyedAccount, RpcResponseContext,
    RpcSimulateTransactionResult, RpcVersionInfo,
};
use solana_signature::Signature;
use solana_transaction::versioned::{TransactionVersion, VersionedTransaction};
use solana_transaction_status_client_types::{
    EncodedConfirmedTransactionWithStatusMeta, EncodedTransaction, EncodedTransactionWithStatusMeta,
    TransactionBinaryEncoding, TransactionConfirmationStatus, TransactionStatus, TransactionStatusMeta,
    UiAddressTableLookup, UiCompiledInstruction, UiInnerInstructions, UiMessage, UiRawMessage, UiTransaction,
    UiTransactionEncoding, UiTransactionStatusMeta,
};

use crate::bank::{Bank, NodeEvent, Sent, LAMPORTS_PER_SIGNATURE, SLOTS_PER_EPOCH};
use crate::ledger::StoredTransaction;
use crate::rpc_error::{self, RpcError, RpcResult};

/// Agave's limits.
pub const MAX_REQUEST_BODY_SIZE: usize = 50 * 1024;
const MAX_GET_SIGNATURE_STATUSES: usize = 256;
const MAX_GET_SIGNATURES_FOR_ADDRESS_LIMIT: usize = 1_000;
const MAX_MULTIPLE_ACCOUNTS: usize = 100;
const MAX_PROGRAM_ACCOUNT_FILTERS: usize = 4;
const MAX_BASE58_BYTES: usize = 128;
const PACKET_DATA_SIZE: usize = 1232;
/// Version of the Agave runtime crates the node embeds.
pub const AGAVE_VERSION: &str = "2.3.13";

/// Shared by the RPC and PubSub servers and the slot clock.
pub struct Node {
    pub bank: Mutex<Bank>,
    pub events: tokio::sync::broadcast::Sender<NodeEvent>,
}

impl Node {
    /// Waits (off the async runtime) until the ledger holds what `sent` recorded.
    pub async fn durable(&self, sent: &Sent) -> RpcResult<()> {
        let (Some(seq), Some(ledger)) = (sent.ledger_seq, self.bank.lock().ledger()) else {
            return Ok(());
        };
        tokio::task::spawn_blocking(move || ledger.make_durable(seq))
            .await
            .map_err(|e| RpcError::internal(format!("ledger sync task: {e}")))?
            .map_err(|e| RpcError::internal(format!("ledger sync failed: {e}")))?;
        self.bank.lock().release_durable_events();
        Ok(())
    }
}

pub fn router(node: Arc<Node>) -> Router {
    Router::new()
        .route("/", post(handle_http))
        .route("/health", get(|| async { "ok" }))
        .layer(DefaultBodyLimit::max(MAX_REQUEST_BODY_SIZE))
        .with_state(node)
}

async fn handle_http(State(node): State<Arc<Node>>, body: Bytes) -> Response {
    let reply = match serde_json::from_slice::<Value>(&body) {
        Err(_) => error_reply(Value::Null, RpcError::parse_error()),
        Ok(Value::Array(batch)) if batch.is_empty() => error_reply(Value::Null, RpcError::invalid_request()),
        Ok(Value::Array(batch)) => {
            let mut replies = Vec::with_capacity(batch.len());
            for request in batch {
                replies.push(handle_request(&node, request).await);
            }
            Value::Array(replies)
        }
        Ok(request) => handle_request(&node, request).await,
    };
    (StatusCode::OK, [(header::CONTENT_TYPE, "application/json")], reply.to_string()).into_response()
}

fn error_reply(id: Value, error: RpcError) -> Value {
    json!({"jsonrpc": "2.0", "error": error.to_json(), "id": id})
}

pub async fn handle_request(node: &Arc<Node>, request: Value) -> Value {
    let id = request.get("id").cloned().unwrap_or(Value::Null);
    let Some(method) = request.get("method").and_then(Value::as_str) else {
        return error_reply(id, RpcError::invalid_request());
    };
    if request.get("jsonrpc").and_then(Value::as_str) != Some("2.0") {
        return error_reply(id, RpcError::invalid_request());
    }
    let params = match request.get("params") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(params)) => params.clone(),
        Some(_) => return error_reply(id, RpcError::invalid_params("Invalid params: expected an array")),
    };
    match dispatch(node, method, &params).await {
        Ok(result) => json!({"jsonrpc": "2.0", "result": result, "id": id}),
        Err(error) => error_reply(id, error),
    }
}

async fn dispatch(node: &Arc<Node>, method: &str, params: &[Value]) -> RpcResult<Value> {
    let to_value = |v: Result<Value, serde_json::Error>| v.map_err(|e| RpcError::internal(e.to_string()));
    match method {
        "getHealth" => Ok(json!("ok")),
        "getVersion" => to_value(serde_json::to_value(RpcVersionInfo {
            solana_core: AGAVE_VERSION.to_string(),
            feature_set: Some(solana_version::Version::default().feature_set),
        })),
        "getGenesisHash" => Ok(json!(node.bank.lock().genesis_hash().to_string())),
        "getSlot" | "getBlockHeight" => {
            let config: RpcContextConfig = optional(params, 0)?.unwrap_or_default();
            let bank = node.bank.lock();
            let slot = bank.slot_at(commitment(config.commitment));
            check_min_context_slot(slot, config.min_context_slot)?;
            Ok(json!(slot))
        }
        "getEpochInfo" => {
            let config: RpcContextConfig = optional(params, 0)?.unwrap_or_default();
            let bank = node.bank.lock();
            let slot = bank.slot_at(commitment(config.commitment));
            to_value(serde_json::to_value(solana_epoch_info::EpochInfo {
                epoch: slot / SLOTS_PER_EPOCH,
                slot_index: slot % SLOTS_PER_EPOCH,
                slots_in_epoch: SLOTS_PER_EPOCH,
                absolute_slot: slot,
                block_height: slot,
                transaction_count: Some(bank.transaction_count()),
            }))
        }
        "getLatestBlockhash" => {
            let config: RpcContextConfig = optional(params, 0)?.unwrap_or_default();
            let bank = node.bank.lock();
            let (level, slot) = read_at(&bank, config.commitment, config.min_context_slot)?;
            let (hash, last_valid_block_height) = bank.latest_blockhash_at(level);
            with_context(slot, RpcBlockhash { blockhash: hash.to_string(), last_valid_block_height })
        }
        "isBlockhashValid" => {
            let hash: String = required(params, 0, "blockhash")?;
            let hash = Hash::from_str(&hash).map_err(|e| RpcError::invalid_params(format!("Invalid param: {e:?}")))?;
            let bank = node.bank.lock();
            with_context(bank.slot(), bank.is_blockhash_valid(&hash))
        }
        "getFeeForMessage" => {
            let encoded: String = required(params, 0, "message")?;
            let bytes = BASE64_STANDARD
                .decode(&encoded)
                .map_err(|e| RpcError::invalid_params(format!("invalid base64 encoding: {e}")))?;
            let message: VersionedMessage = bincode::deserialize(&bytes)
                .map_err(|e| RpcError::invalid_params(format!("failed to deserialize VersionedMessage: {e}")))?;
            let bank = node.bank.lock();
            let fee = bank
                .is_blockhash_valid(message.recent_blockhash())
                .then(|| LAMPORTS_PER_SIGNATURE * u64::from(message.header().num_required_signatures));
            with_context(bank.slot(), fee)
        }
        "getBalance" => {
            let pubkey = pubkey_param(params, 0)?;
            let config: RpcContextConfig = optional(params, 1)?.unwrap_or_default();
            let bank = node.bank.lock();
            let (level, slot) = read_at(&bank, config.commitment, config.min_context_slot)?;
            with_context(slot, bank.account_at(&pubkey, level).map_or(0, |a| a.lamports))
        }
        "getAccountInfo" => {
            let pubkey = pubkey_param(params, 0)?;
            let config: RpcAccountInfoConfig = optional(params, 1)?.unwrap_or_default();
            let bank = node.bank.lock();
            let (level, slot) = read_at(&bank, config.commitment, config.min_context_slot)?;
            let account = bank.account_at(&pubkey, level);
            let value = account.map(|a| encode_account(&a, config.encoding, config.data_slice)).transpose()?;
            with_context(slot, value)
        }
        "getMultipleAccounts" => {
            let keys: Vec<String> = required(params, 0, "pubkeys")?;
            if keys.len() > MAX_MULTIPLE_ACCOUNTS {
                return Err(RpcError::invalid_params(format!("Too many inputs provided; max {MAX_MULTIPLE_ACCOUNTS}")));
            }
            let keys = keys.iter().map(|k| parse_pubkey(k)).collect::<RpcResult<Vec<_>>>()?;
            let config: RpcAccountInfoConfig = optional(params, 1)?.unwrap_or_default();
            let bank = node.bank.lock();
            let (level, slot) = read_at(&bank, config.commitment, config.min_context_slot)?;
            let values = keys
                .iter()
                .map(|k| {
                    bank.account_at(k, level)
                        .map(|a| encode_account(&a, config.encoding, config.data_slice))
                        .transpose()
                })
                .collect::<RpcResult<Vec<_>>>()?;
            with_context(slot, values)
        }
        "getProgramAccounts" => {
            let program = pubkey_param(params, 0)?;
            let config: RpcProgramAccountsConfig = optional(params, 1)?.unwrap_or_default();
            let filters = config.filters.unwrap_or_default();
            if filters.len() > MAX_PROGRAM_ACCOUNT_FILTERS {
                return Err(RpcError::invalid_params(format!(
                    "Too many filters provided; max {MAX_PROGRAM_ACCOUNT_FILTERS}"
                )));
            }
            for filter in &filters {
                filter.verify().map_err(|e| RpcError::invalid_params(format!("Invalid param: {e}")))?;
            }
            let account_config = config.account_config;
            let bank = node.bank.lock();
            let (level, slot) = read_at(&bank, account_config.commitment, account_config.min_context_slot)?;
            let mut accounts = bank.program_accounts(&program, level, |account| {
                let shared = solana_account::AccountSharedData::from(account.clone());
                #[allow(deprecated)]
                filters.iter().all(|f| match f {
                    RpcFilterType::TokenAccountState => false,
                    other => other.allows(&shared),
                })
            });
            drop(bank);
            if config.sort_results.unwrap_or(true) {
                accounts.sort_by_key(|(k, _)| *k);
            }
            let keyed = accounts
                .iter()
                .map(|(pubkey, account)| {
                    Ok(RpcKeyedAccount {
                        pubkey: pubkey.to_string(),
                        account: encode_account(account, account_config.encoding, account_config.data_slice)?,
                    })
                })
                .collect::<RpcResult<Vec<_>>>()?;
            if config.with_context.unwrap_or(false) {
                with_context(slot, keyed)
            } else {
                to_value(serde_json::to_value(keyed))
            }
        }
        "getMinimumBalanceForRentExemption" => {
            let len: usize = required(params, 0, "data length")?;
            Ok(json!(node.bank.lock().minimum_balance_for_rent_exemption(len)))
        }
        "requestAirdrop" => {
            let pubkey = pubkey_param(params, 0)?;
            let lamports: u64 = required(params, 1, "lamports")?;
            let _config: Option<RpcRequestAirdropConfig> = optional(params, 2)?;
            let sent = node.bank.lock().request_airdrop(&pubkey, lamports)?;
            node.durable(&sent).await?;
            Ok(json!(sent.signature.to_string()))
        }
        "sendTransaction" => {
            let encoded: String = required(params, 0, "transaction")?;
            let config: RpcSendTransactionConfig = optional(params, 1)?.unwrap_or_default();
            let tx = decode_transaction(&encoded, config.encoding.unwrap_or(UiTransactionEncoding::Base58))?;
            let sent = node.bank.lock().send_transaction(tx, config.skip_preflight)?;
            node.durable(&sent).await?;
            Ok(json!(sent.signature.to_string()))
        }
        "simulateTransaction" => {
            let encoded: String = required(params, 0, "transaction")?;
            let config: RpcSimulateTransactionConfig = optional(params, 1)?.unwrap_or_default();
            if config.sig_verify && config.replace_recent_blockhash {
                return Err(RpcError::invalid_params("sigVerify may not be used with replaceRecentBlockhash"));
            }
            let tx = decode_transaction(&encoded, config.encoding.unwrap_or(UiTransactionEncoding::Base58))?;
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
                                .map(|(_, a)| encode_account(a, wanted.encoding, None))
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
        "getSignatureStatuses" => {
            let signatures: Vec<String> = required(params, 0, "signatures")?;
            if signatures.len() > MAX_GET_SIGNATURE_STATUSES {
                return Err(RpcError::invalid_params(format!(
                    "Too many inputs provided; max {MAX_GET_SIGNATURE_STATUSES}"
                )));
            }
            let _config: Option<RpcSignatureStatusConfig> = optional(params, 1)?;
            let signatures = signatures.iter().map(|s| parse_signature(s)).collect::<RpcResult<Vec<_>>>()?;
            let bank = node.bank.lock();
            let statuses: Vec<Option<TransactionStatus>> = signatures
                .iter()
                .map(|sig| bank.transaction(sig).map(|tx| status_of(&tx, bank.slot(), bank.root())))
                .collect();
            with_context(bank.slot(), statuses)
        }
        "getSignaturesForAddress" => {
            let address = pubkey_param(params, 0)?;
            let config: RpcSignaturesForAddressConfig = optional(params, 1)?.unwrap_or_default();
            let level = commitment_at_least_confirmed(config.commitment)?;
            let limit = config.limit.unwrap_or(MAX_GET_SIGNATURES_FOR_ADDRESS_LIMIT);
            if limit == 0 || limit > MAX_GET_SIGNATURES_FOR_ADDRESS_LIMIT {
                return Err(RpcError::invalid_params(format!(
                    "Invalid limit; max {MAX_GET_SIGNATURES_FOR_ADDRESS_LIMIT}"
                )));
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
            to_value(serde_json::to_value(list))
        }
        "getTransaction" => {
            let signature = parse_signature(&required::<String>(params, 0, "signature")?)?;
            let config = transaction_config(params.get(1))?;
            let level = commitment_at_least_confirmed(config.commitment)?;
            let bank = node.bank.lock();
            let Some(tx) = bank.transaction(&signature) else {
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
            to_value(serde_json::to_value(encoded))
        }
        "getBlockTime" => {
            let slot: u64 = required(params, 0, "slot")?;
            let bank = node.bank.lock();
            if slot > bank.slot() {
                return Err(RpcError::new(
                    rpc_error::BLOCK_NOT_AVAILABLE,
                    format!("Block not available for slot {slot}"),
                ));
            }
            match bank.block_time(slot) {
                Some(time) => Ok(json!(time)),
                None => Err(RpcError::new(
                    -32007,
                    format!("Slot {slot} was skipped, or missing due to ledger jump to recent snapshot"),
                )),
            }
        }
        // Test cheatcode (in the spirit of surfpool's): move unix time and slots forward.
        "mirror_warpClock" => {
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
        _ => Err(RpcError::method_not_found()),
    }
}

// ---- parameters ---------------------------------------------------------------

fn required<T: DeserializeOwned>(params: &[Value], index: usize, what: &str) -> RpcResult<T> {
    let value = params.get(index).ok_or_else(|| RpcError::invalid_params(format!("Invalid params: missing {what}")))?;
    serde_json::from_value(value.clone()).map_err(|e| RpcError::invalid_params(format!("Invalid params: {e}.")))
}

fn optional<T: DeserializeOwned>(params: &[Value], index: usize) -> RpcResult<Option<T>> {
    match params.get(index) {
        None | Some(Value::Null) => Ok(None),
        Some(value) => serde_json::from_value(value.clone())
            .map(Some)
            .map_err(|e| RpcError::invalid_params(format!("Invalid params: {e}."))),
    }
}

fn parse_pubkey(s: &str) -> RpcResult<Pubkey> {
    Pubkey::from_str(s).map_err(|e| RpcError::invalid_params(format!("Invalid param: {e:?}")))
}

fn pubkey_param(params: &[Value], index: usize) -> RpcResult<Pubkey> {
    parse_pubkey(&required::<String>(params, index, "pubkey")?)
}

fn parse_signature(s: &str) -> RpcResult<Signature> {
    Signature::from_str(s).map_err(|e| RpcError::invalid_params(format!("Invalid param: {e:?}")))
}

/// Agave's default commitment is finalized.
fn commitment(config: Option<CommitmentConfig>) -> CommitmentLevel {
    config.map(|c| c.commitment).unwrap_or(CommitmentLevel::Finalized)
}

fn commitment_at_least_confirmed(config: Option<CommitmentConfig>) -> RpcResult<CommitmentLevel> {
    match commitment(config) {
        CommitmentLevel::Processed => {
            Err(RpcError::invalid_params("Method does not support commitment below `confirmed`"))
        }
        level => Ok(level),
    }
}

/// The commitment a read asks for and the slot it sees, refused below `min_context_slot`.
fn read_at(
    bank: &Bank,
    config: Option<CommitmentConfig>,
    min_context_slot: Option<u64>,
) -> RpcResult<(CommitmentLevel, u64)> {
    let level = commitment(config);
    let slot = bank.slot_at(level);
    check_min_context_slot(slot, min_context_slot)?;
    Ok((level, slot))
}

fn check_min_context_slot(slot: u64, min_context_slot: Option<u64>) -> RpcResult<()> {
    match min_context_slot {
        Some(min) if slot < min => {
            Err(RpcError::new(rpc_error::MIN_CONTEXT_SLOT_NOT_REACHED, "Minimum context slot has not been reached")
                .with_data(json!({"contextSlot": slot})))
        }
        _ => Ok(()),
    }
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

fn with_context<T: serde::Serialize>(slot: u64, value: T) -> RpcResult<Value> {
    serde_json::to_value(solana_rpc_client_types::response::Response { context: RpcResponseContext::new(slot), value })
        .map_err(|e| RpcError::internal(e.to_string()))
}

// ---- encodings ----------------------------------------------------------------

/// Decodes a wire transaction with Agave's limits and messages.
pub fn decode_transaction(encoded: &str, encoding: UiTransactionEncoding) -> RpcResult<VersionedTransaction> {
    const TYPE: &str = "solana_transaction::versioned::VersionedTransaction";
    let binary = encoding.into_binary_encoding().ok_or_else(|| {
        RpcError::invalid_params(format!("unsupported encoding: {encoding}. Supported encodings: base58, base64"))
    })?;
    let (name, max_encoded) = match binary {
        TransactionBinaryEncoding::Base58 => ("base58", 1683),
        TransactionBinaryEncoding::Base64 => ("base64", 1644),
    };
    if encoded.len() > max_encoded {
        return Err(RpcError::invalid_params(format!(
            "{name} encoded {TYPE} too large: {} bytes (max: encoded/raw {max_encoded}/{PACKET_DATA_SIZE})",
            encoded.len()
        )));
    }
    let bytes = match binary {
        TransactionBinaryEncoding::Base58 => bs58::decode(encoded).into_vec().map_err(|e| format!("{e:?}")),
        TransactionBinaryEncoding::Base64 => BASE64_STANDARD.decode(encoded).map_err(|e| format!("{e:?}")),
    }
    .map_err(|e| RpcError::invalid_params(format!("invalid {name} encoding: {e}")))?;
    if bytes.len() > PACKET_DATA_SIZE {
        return Err(RpcError::invalid_params(format!(
            "decoded {TYPE} too large: {} bytes (max: {PACKET_DATA_SIZE} bytes)",
            bytes.len()
        )));
    }
    let tx: VersionedTransaction = bincode::DefaultOptions::new()
        .with_limit(PACKET_DATA_SIZE as u64)
        .with_fixint_encoding()
        .allow_trailing_bytes()
        .deserialize_from(&bytes[..])
        .map_err(|e| RpcError::invalid_params(format!("failed to deserialize {TYPE}: {e}")))?;
    tx.sanitize().map_err(|e| RpcError::invalid_params(format!("invalid transaction: {e}")))?;
    if tx.signatures.is_empty() {
        return Err(RpcError::invalid_params("invalid transaction: no signatures"));
    }
    Ok(tx)
}
use bincode::Options;

pub fn encode_account(
    account: &Account,
    encoding: Option<UiAccountEncoding>,
    slice: Option<UiDataSliceConfig>,
) -> RpcResult<UiAccount> {
    let encoding = encoding.unwrap_or(UiAccountEncoding::Binary);
    let data = match slice {
        Some(UiDataSliceConfig { offset, length }) => {
            let start = offset.min(account.data.len());
            let end = offset.saturating_add(length).min(account.data.len());
            &account.data[start..end]
        }
        None => &account.data[..],
    };
    let encoded = match encoding {
        UiAccountEncoding::Binary | UiAccountEncoding::Base58 => {
            if data.len() > MAX_BASE58_BYTES {
                return Err(RpcError::invalid_params(format!(
                    "Encoded binary (base 58) data should be less than {MAX_BASE58_BYTES} bytes, please use Base64 encoding."
                )));
            }
            let text = bs58::encode(data).into_string();
            if encoding == UiAccountEncoding::Binary {
                UiAccountData::LegacyBinary(text)
            } else {
                UiAccountData::Binary(text, UiAccountEncoding::Base58)
            }
        }
        // No parser for these accounts: jsonParsed falls back to base64 as Agave does.
        UiAccountEncoding::Base64 | UiAccountEncoding::JsonParsed => {
            UiAccountData::Binary(BASE64_STANDARD.encode(data), UiAccountEncoding::Base64)
        }
        UiAccountEncoding::Base64Zstd => {
            let compressed = zstd::encode_all(data, 0).map_err(|e| RpcError::internal(format!("zstd: {e}")))?;
            UiAccountData::Binary(BASE64_STANDARD.encode(compressed), UiAccountEncoding::Base64Zstd)
        }
    };
    Ok(UiAccount {
        lamports: account.lamports,
        data: encoded,
        owner: account.owner.to_string(),
        executable: account.executable,
        rent_epoch: account.rent_epoch,
        space: Some(account.data.len() as u64),
    })
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

fn ui_return_data(
    (program_id, data): (Pubkey, Vec<u8>),
) -> solana_transaction_status_client_types::UiTransactionReturnData {
    solana_transaction_status_client_types::UiTransactionReturnData {
        program_id: program_id.to_string(),
        data: (BASE64_STANDARD.encode(data), solana_transaction_status_client_types::UiReturnDataEncoding::Base64),
    }
}

fn encode_confirmed_transaction(
    stored: &StoredTransaction,
    encoding: UiTransactionEncoding,
    max_supported_version: Option<u8>,
) -> RpcResult<EncodedConfirmedTransactionWithStatusMeta> {
    let tx = &stored.transaction;
    let version = match (tx.version(), max_supported_version) {
        (TransactionVersion::Legacy(_), None) => None,
        (TransactionVersion::Legacy(_), Some(_)) => Some(TransactionVersion::LEGACY),
        (TransactionVersion::Number(v), Some(max)) if v <= max => Some(TransactionVersion::Number(v)),
        (TransactionVersion::Number(v), _) => {
            return Err(RpcError::new(
                rpc_error::UNSUPPORTED_TRANSACTION_VERSION,
                format!("Transaction version ({v}) is not supported by the requesting client. Please try the request again with the following configuration parameter: \"maxSupportedTransactionVersion\": {v}"),
            ))
        }
    };
    let transaction = match encoding {
        UiTransactionEncoding::Json | UiTransactionEncoding::JsonParsed => EncodedTransaction::Json(UiTransaction {
            signatures: tx.signatures.iter().map(ToString::to_string).collect(),
            message: UiMessage::Raw(UiRawMessage {
                header: *tx.message.header(),
                account_keys: tx.message.static_account_keys().iter().map(ToString::to_string).collect(),
                recent_blockhash: tx.message.recent_blockhash().to_string(),
                instructions: tx
                    .message
                    .instructions()
                    .iter()
                    .map(|ix| UiCompiledInstruction::from(ix, None))
                    .collect(),
                address_table_lookups: tx.message.address_table_lookups().map(|lookups| {
                    lookups
                        .iter()
                        .map(|l| UiAddressTableLookup {
                            account_key: l.account_key.to_string(),
                            writable_indexes: l.writable_indexes.clone(),
                            readonly_indexes: l.readonly_indexes.clone(),
                        })
                        .collect()
                }),
            }),
        }),
        UiTransactionEncoding::Base64 => EncodedTransaction::Binary(
            BASE64_STANDARD.encode(bincode::serialize(tx).map_err(|e| RpcError::internal(e.to_string()))?),
            TransactionBinaryEncoding::Base64,
        ),
        UiTransactionEncoding::Base58 => EncodedTransaction::Binary(
            bs58::encode(bincode::serialize(tx).map_err(|e| RpcError::internal(e.to_string()))?).into_string(),
            TransactionBinaryEncoding::Base58,
        ),
        UiTransactionEncoding::Binary => EncodedTransaction::LegacyBinary(
            bs58::encode(bincode::serialize(tx).map_err(|e| RpcError::internal(e.to_string()))?).into_string(),
        ),
    };
    let meta = TransactionStatusMeta {
        status: stored.err.clone().map_or(Ok(()), Err),
        fee: stored.fee,
        pre_balances: stored.pre_balances.clone(),
        post_balances: stored.post_balances.clone(),
        inner_instructions: Some(stored.inner_instructions.clone()),
        log_messages: Some(stored.logs.clone()),
        pre_token_balances: Some(Vec::new()),
        post_token_balances: Some(Vec::new()),
        rewards: Some(Vec::new()),
        loaded_addresses: Default::default(),
        return_data: stored
            .return_data
            .clone()
            .map(|(program_id, data)| solana_transaction_context::TransactionReturnData { program_id, data }),
        compute_units_consumed: Some(stored.compute_units),
        cost_units: None,
    };
    Ok(EncodedConfirmedTransactionWithStatusMeta {
        slot: stored.slot,
        transaction: EncodedTransactionWithStatusMeta {
            transaction,
            meta: Some(UiTransactionStatusMeta::from(meta)),
            version,
        },
        block_time: Some(stored.block_time),
    })
}
