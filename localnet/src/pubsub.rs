//! PubSub over WebSocket (RPC port + 1): logs, account, program, signature,
//! slot, root and block subscriptions with Agave's message shapes. Each connection reads its
//! own copy of the node's event stream; a client that stops reading (its
//! outbound queue fills) or falls behind the stream is disconnected, so a slow
//! or dead client costs the node nothing.

use std::collections::HashMap;
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use solana_account::Account;
use solana_account_decoder_client_types::{UiAccountEncoding, UiDataSliceConfig};
use solana_commitment_config::CommitmentLevel;
use solana_pubkey::Pubkey;
use solana_rpc_client_types::config::{
    RpcAccountInfoConfig, RpcBlockSubscribeConfig, RpcBlockSubscribeFilter, RpcProgramAccountsConfig,
    RpcSignatureSubscribeConfig, RpcTransactionLogsConfig, RpcTransactionLogsFilter,
};
use solana_rpc_client_types::filter::RpcFilterType;
use solana_rpc_client_types::response::{RpcBlockUpdate, RpcBlockUpdateError, RpcKeyedAccount, RpcLogsResponse};
use solana_signature::Signature;
use solana_transaction_status_client_types::{TransactionDetails, UiTransactionEncoding};
use tokio::sync::{broadcast, mpsc};

use crate::bank::NodeEvent;
use crate::rpc::{blocks, encode_account, Node};
use crate::rpc_error::{self, RpcError};

/// Messages queued for one client before it counts as not reading.
const OUTBOUND_QUEUE: usize = 4_096;
const MAX_MESSAGE_SIZE: usize = 64 * 1024;

static NEXT_SUBSCRIPTION_ID: AtomicU64 = AtomicU64::new(1);

pub fn router(node: Arc<Node>) -> Router {
    Router::new().route("/", get(upgrade)).with_state(node)
}

async fn upgrade(ws: WebSocketUpgrade, State(node): State<Arc<Node>>) -> Response {
    ws.max_message_size(MAX_MESSAGE_SIZE).on_upgrade(move |socket| connection(node, socket))
}

enum Kind {
    Logs {
        mentions: Option<Pubkey>,
    },
    Account {
        pubkey: Pubkey,
        encoding: Option<UiAccountEncoding>,
        data_slice: Option<UiDataSliceConfig>,
    },
    Program {
        program: Pubkey,
        encoding: Option<UiAccountEncoding>,
        data_slice: Option<UiDataSliceConfig>,
        filters: Vec<RpcFilterType>,
    },
    Signature {
        signature: Signature,
    },
    Slot,
    Root,
    Block {
        mentions: Option<Pubkey>,
        encoding: UiTransactionEncoding,
        details: TransactionDetails,
        show_rewards: bool,
        max_version: Option<u8>,
    },
}

struct Subscription {
    kind: Kind,
    commitment: CommitmentLevel,
}

impl Subscription {
    fn method(&self) -> &'static str {
        match self.kind {
            Kind::Logs { .. } => "logsNotification",
            Kind::Account { .. } => "accountNotification",
            Kind::Program { .. } => "programNotification",
            Kind::Signature { .. } => "signatureNotification",
            Kind::Slot => "slotNotification",
            Kind::Root => "rootNotification",
            Kind::Block { .. } => "blockNotification",
        }
    }

    fn wants(&self, commitment: CommitmentLevel) -> bool {
        match commitment {
            CommitmentLevel::Finalized => self.commitment == CommitmentLevel::Finalized,
            _ => self.commitment != CommitmentLevel::Finalized,
        }
    }

    /// The notification's `result` for this event, if it matches.
    fn result_for(&self, node: &Node, event: &NodeEvent) -> Option<Value> {
        match (&self.kind, event) {
            (Kind::Slot, NodeEvent::Slot { slot, parent, root }) => {
                Some(json!({"slot": slot, "parent": parent, "root": root}))
            }
            (Kind::Root, NodeEvent::Root { root }) => Some(json!(root)),
            (
                Kind::Block { mentions, encoding, details, show_rewards, max_version },
                NodeEvent::Block { slot, commitment },
            ) if self.wants(*commitment) => {
                let (block, mut txs) = {
                    let bank = node.bank.lock();
                    let txs = bank.block_transactions(*slot).inspect_err(|err| {
                        tracing::warn!(slot, err = %err.message, "blockSubscribe: a transaction is unreadable");
                    });
                    (bank.block(*slot)?, txs.ok()?)
                };
                if let Some(key) = mentions {
                    txs.retain(|tx| tx.account_keys().any(|k| k == key));
                    if txs.is_empty() {
                        return None;
                    }
                }
                let (block, err) =
                    match blocks::encode_block(&block, &txs, *encoding, *details, *show_rewards, *max_version) {
                        Ok(block) => (Some(block), None),
                        Err(e) if e.code == rpc_error::UNSUPPORTED_TRANSACTION_VERSION => {
                            (None, Some(RpcBlockUpdateError::UnsupportedTransactionVersion(0)))
                        }
                        Err(_) => return None,
                    };
                let value = RpcBlockUpdate { slot: *slot, block, err };
                Some(json!({"context": {"slot": slot}, "value": value}))
            }
            (Kind::Logs { mentions }, NodeEvent::Transaction { tx, signature, commitment })
                if self.wants(*commitment) =>
            {
                if let Some(key) = mentions {
                    if !tx.account_keys().any(|k| k == key) {
                        return None;
                    }
                }
                let value =
                    RpcLogsResponse { signature: signature.to_string(), err: tx.err.clone(), logs: tx.logs.clone() };
                Some(json!({"context": {"slot": tx.slot}, "value": value}))
            }
            (Kind::Signature { signature: wanted }, NodeEvent::Transaction { tx, signature, commitment })
                if wanted == signature && self.wants(*commitment) =>
            {
                Some(json!({"context": {"slot": tx.slot}, "value": {"err": tx.err}}))
            }
            (
                Kind::Account { pubkey: wanted, encoding, data_slice },
                NodeEvent::Account { pubkey, account, slot, commitment },
            ) if wanted == pubkey && self.wants(*commitment) => {
                let value = encode_account(
                    pubkey,
                    &deleted_as_empty(account),
                    *encoding,
                    *data_slice,
                    parse_data(node, account, *encoding),
                )
                .ok()?;
                Some(json!({"context": {"slot": slot}, "value": value}))
            }
            (
                Kind::Program { program, encoding, data_slice, filters },
                NodeEvent::Account { pubkey, account, slot, commitment },
            ) if account.owner == *program && self.wants(*commitment) => {
                let shared = solana_account::AccountSharedData::from((**account).clone());
                #[allow(deprecated)]
                if !filters.iter().all(|f| !matches!(f, RpcFilterType::TokenAccountState) && f.allows(&shared)) {
                    return None;
                }
                let value = RpcKeyedAccount {
                    pubkey: pubkey.to_string(),
                    account: encode_account(
                        pubkey,
                        account,
                        *encoding,
                        *data_slice,
                        parse_data(node, account, *encoding),
                    )
                    .ok()?,
                };
                Some(json!({"context": {"slot": slot}, "value": value}))
            }
            _ => None,
        }
    }
}

/// For `jsonParsed` token accounts: the mint's decimals, for Agave's decoder.
fn parse_data(
    node: &Node,
    account: &Account,
    encoding: Option<UiAccountEncoding>,
) -> Option<solana_account_decoder::parse_account_data::AccountAdditionalDataV3> {
    if encoding != Some(UiAccountEncoding::JsonParsed) {
        return None;
    }
    crate::rpc::tokens::token_additional_data(&node.bank.lock(), account, CommitmentLevel::Processed)
}

fn deleted_as_empty(account: &Account) -> Account {
    if account.lamports == 0 {
        Account::default()
    } else {
        account.clone()
    }
}

async fn connection(node: Arc<Node>, socket: WebSocket) {
    let (mut sink, mut stream) = socket.split();
    let (outbound, mut queue) = mpsc::channel::<Message>(OUTBOUND_QUEUE);
    let writer = tokio::spawn(async move {
        while let Some(message) = queue.recv().await {
            if sink.send(message).await.is_err() {
                break;
            }
        }
    });
    let mut events = node.events.subscribe();
    let mut subscriptions: HashMap<u64, Subscription> = HashMap::new();

    loop {
        tokio::select! {
            incoming = stream.next() => {
                let text = match incoming {
                    Some(Ok(Message::Text(text))) => text,
                    Some(Ok(Message::Binary(_))) => {
                        let reply = json!({"jsonrpc": "2.0", "error": RpcError::invalid_request().to_json(), "id": null});
                        if outbound.try_send(Message::Text(reply.to_string().into())).is_err() { break; }
                        continue;
                    }
                    Some(Ok(_)) => continue, // ping/pong are answered by the socket
                    _ => break,
                };
                let (reply, immediate) = handle_request(&node, &mut subscriptions, text.as_str());
                if outbound.try_send(Message::Text(reply.to_string().into())).is_err() { break; }
                if let Some(notification) = immediate {
                    if outbound.try_send(Message::Text(notification.to_string().into())).is_err() { break; }
                }
            }
            event = events.recv() => {
                let event = match event {
                    Ok(event) => event,
                    Err(broadcast::error::RecvError::Lagged(missed)) => {
                        tracing::warn!(missed, "pubsub client fell behind the event stream; disconnecting");
                        break;
                    }
                    Err(broadcast::error::RecvError::Closed) => break,
                };
                let mut finished = Vec::new();
                let mut overflow = false;
                for (id, subscription) in &subscriptions {
                    if let Some(result) = subscription.result_for(&node, &event) {
                        let message = json!({"jsonrpc": "2.0", "method": subscription.method(), "params": {"result": result, "subscription": id}});
                        if outbound.try_send(Message::Text(message.to_string().into())).is_err() { overflow = true; break; }
                        if matches!(subscription.kind, Kind::Signature { .. }) { finished.push(*id); }
                    }
                }
                if overflow {
                    tracing::warn!("pubsub client is not reading; disconnecting");
                    break;
                }
                for id in finished { subscriptions.remove(&id); }
            }
        }
    }
    writer.abort();
}

/// Answers one request; may also return a notification to send right away
/// (a signature that is already confirmed at the requested commitment).
fn handle_request(node: &Node, subscriptions: &mut HashMap<u64, Subscription>, text: &str) -> (Value, Option<Value>) {
    let request: Value = match serde_json::from_str(text) {
        Ok(value) => value,
        Err(_) => return (json!({"jsonrpc": "2.0", "error": RpcError::parse_error().to_json(), "id": null}), None),
    };
    let id = request.get("id").cloned().unwrap_or(Value::Null);
    let method = request.get("method").and_then(Value::as_str).unwrap_or_default();
    let params: Vec<Value> = match request.get("params") {
        Some(Value::Array(p)) => p.clone(),
        None | Some(Value::Null) => Vec::new(),
        Some(_) => return (error(id, RpcError::invalid_params("Invalid params: expected an array")), None),
    };
    let result = if let Some(kind) = method.strip_suffix("Unsubscribe") {
        unsubscribe(subscriptions, kind, &params)
    } else {
        subscribe(node, method, &params).map(|(subscription, immediate)| {
            let sub_id = NEXT_SUBSCRIPTION_ID.fetch_add(1, Ordering::Relaxed);
            let immediate = immediate.map(|result| {
                json!({"jsonrpc": "2.0", "method": subscription.method(), "params": {"result": result, "subscription": sub_id}})
            });
            if immediate.is_none() {
                subscriptions.insert(sub_id, subscription);
            }
            (json!(sub_id), immediate)
        })
    };
    match result {
        Ok((value, immediate)) => (json!({"jsonrpc": "2.0", "result": value, "id": id}), immediate),
        Err(e) => (error(id, e), None),
    }
}

fn error(id: Value, e: RpcError) -> Value {
    json!({"jsonrpc": "2.0", "error": e.to_json(), "id": id})
}

fn parse<T: serde::de::DeserializeOwned + Default>(params: &[Value], index: usize) -> Result<T, RpcError> {
    match params.get(index) {
        None | Some(Value::Null) => Ok(T::default()),
        Some(v) => {
            serde_json::from_value(v.clone()).map_err(|e| RpcError::invalid_params(format!("Invalid params: {e}.")))
        }
    }
}

fn key(params: &[Value], index: usize) -> Result<String, RpcError> {
    params
        .get(index)
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| RpcError::invalid_params("Invalid params: missing address"))
}

fn pubkey(s: &str) -> Result<Pubkey, RpcError> {
    Pubkey::from_str(s).map_err(|e| RpcError::invalid_params(format!("Invalid param: {e:?}")))
}

type Subscribed = (Subscription, Option<Value>);

fn subscribe(node: &Node, method: &str, params: &[Value]) -> Result<Subscribed, RpcError> {
    let level = |c: Option<solana_commitment_config::CommitmentConfig>| {
        c.map(|c| c.commitment).unwrap_or(CommitmentLevel::Finalized)
    };
    match method {
        "slotSubscribe" => Ok((Subscription { kind: Kind::Slot, commitment: CommitmentLevel::Processed }, None)),
        "rootSubscribe" => Ok((Subscription { kind: Kind::Root, commitment: CommitmentLevel::Finalized }, None)),
        "blockSubscribe" => {
            let filter: RpcBlockSubscribeFilter =
                serde_json::from_value(params.first().cloned().unwrap_or(Value::Null))
                    .map_err(|e| RpcError::invalid_params(format!("Invalid params: {e}.")))?;
            let mentions = match filter {
                RpcBlockSubscribeFilter::All => None,
                RpcBlockSubscribeFilter::MentionsAccountOrProgram(key) => Some(pubkey(&key)?),
            };
            let config: RpcBlockSubscribeConfig = parse(params, 1)?;
            let commitment = level(config.commitment);
            if commitment == CommitmentLevel::Processed {
                return Err(RpcError::invalid_params("Method does not support commitment below `confirmed`"));
            }
            let kind = Kind::Block {
                mentions,
                encoding: config.encoding.unwrap_or(UiTransactionEncoding::Base64),
                details: config.transaction_details.unwrap_or_default(),
                show_rewards: config.show_rewards.unwrap_or_default(),
                max_version: config.max_supported_transaction_version,
            };
            Ok((Subscription { kind, commitment }, None))
        }
        "logsSubscribe" => {
            let filter: RpcTransactionLogsFilter =
                serde_json::from_value(params.first().cloned().unwrap_or(Value::Null))
                    .map_err(|e| RpcError::invalid_params(format!("Invalid params: {e}.")))?;
            let mentions = match filter {
                RpcTransactionLogsFilter::All | RpcTransactionLogsFilter::AllWithVotes => None,
                RpcTransactionLogsFilter::Mentions(keys) if keys.len() == 1 => Some(pubkey(&keys[0])?),
                RpcTransactionLogsFilter::Mentions(_) => {
                    return Err(RpcError::invalid_params("Invalid Request: Only 1 address supported"))
                }
            };
            let config: Option<RpcTransactionLogsConfig> = parse(params, 1)?;
            Ok((
                Subscription { kind: Kind::Logs { mentions }, commitment: level(config.and_then(|c| c.commitment)) },
                None,
            ))
        }
        "accountSubscribe" => {
            let pubkey = pubkey(&key(params, 0)?)?;
            let config: RpcAccountInfoConfig = parse(params, 1)?;
            let kind = Kind::Account { pubkey, encoding: config.encoding, data_slice: config.data_slice };
            Ok((Subscription { kind, commitment: level(config.commitment) }, None))
        }
        "programSubscribe" => {
            let program = pubkey(&key(params, 0)?)?;
            let config: RpcProgramAccountsConfig = parse(params, 1)?;
            let filters = config.filters.unwrap_or_default();
            for f in &filters {
                f.verify().map_err(|e| RpcError::invalid_params(format!("Invalid param: {e}")))?;
            }
            Ok((
                Subscription {
                    kind: Kind::Program {
                        program,
                        encoding: config.account_config.encoding,
                        data_slice: config.account_config.data_slice,
                        filters,
                    },
                    commitment: level(config.account_config.commitment),
                },
                None,
            ))
        }
        "signatureSubscribe" => {
            let signature = Signature::from_str(&key(params, 0)?)
                .map_err(|e| RpcError::invalid_params(format!("Invalid param: {e:?}")))?;
            let config: RpcSignatureSubscribeConfig = parse(params, 1)?;
            let subscription =
                Subscription { kind: Kind::Signature { signature }, commitment: level(config.commitment) };
            // Already there at the requested commitment: notify at once.
            let bank = node.bank.lock();
            let immediate = bank
                .transaction(&signature)?
                .filter(|tx| tx.slot <= bank.slot_at(subscription.commitment))
                .map(|tx| json!({"context": {"slot": tx.slot}, "value": {"err": tx.err}}));
            Ok((subscription, immediate))
        }
        _ => Err(RpcError::method_not_found()),
    }
}

fn unsubscribe(
    subscriptions: &mut HashMap<u64, Subscription>,
    kind: &str,
    params: &[Value],
) -> Result<(Value, Option<Value>), RpcError> {
    let id =
        params.first().and_then(Value::as_u64).ok_or_else(|| RpcError::invalid_params("Invalid subscription id."))?;
    let matches = subscriptions.get(&id).is_some_and(|s| {
        matches!(
            (kind, &s.kind),
            ("logs", Kind::Logs { .. })
                | ("account", Kind::Account { .. })
                | ("program", Kind::Program { .. })
                | ("signature", Kind::Signature { .. })
                | ("slot", Kind::Slot)
                | ("root", Kind::Root)
                | ("block", Kind::Block { .. })
        )
    });
    if !matches {
        return Err(RpcError::invalid_params("Invalid subscription id."));
    }
    subscriptions.remove(&id);
    Ok((json!(true), None))
}
