//! JSON-RPC over HTTP, method by method as Agave serves them. Answers are
//! built from Agave's client types (solana-rpc-client-types,
//! solana-transaction-status-client-types, solana-account-decoder-client-types)
//! so their JSON shapes are the ones clients already parse.
//!
//! Where a method lives: [`dispatch`] below names each method's function; the
//! functions are grouped by family, one file each:
//! - [`accounts`]: account reads (getAccountInfo, getProgramAccounts, ...);
//! - [`blocks`]: slots, blockhashes and blocks;
//! - [`transactions`]: sending, simulating, statuses, history and fees;
//! - [`tokens`]: SPL Token accounts and mints;
//! - [`cluster`]: the node and its cluster (health, version, epoch);
//! - [`cheatcodes`]: test-only methods (`mirror_*`);
//! - [`encoding`]: wire and JSON encodings of accounts and transactions;
//! - [`idl`]: `jsonParsed` of the Mirror program's instructions and accounts;
//! - [`params`]: parameter parsing, commitment and context shared by all.
//!
//! PubSub subscriptions are served by [`crate::pubsub`].

mod accounts;
pub mod blocks;
mod cheatcodes;
mod cluster;
pub mod encoding;
mod idl;
mod params;
pub mod tokens;
mod transactions;

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use parking_lot::Mutex;
use serde_json::{json, Value};

use crate::bank::{Bank, NodeEvent, Sent};
use crate::rpc_error::{RpcError, RpcResult};

pub use encoding::{decode_transaction, encode_account};
pub use transactions::status_of;

/// Agave's limit on a request body.
pub const MAX_REQUEST_BODY_SIZE: usize = 50 * 1024;
/// Version of the Agave runtime crates the node embeds.
pub const AGAVE_VERSION: &str = "2.3.13";
/// Shared by the RPC and PubSub servers and the slot clock.
pub struct Node {
    pub bank: Mutex<Bank>,
    pub events: tokio::sync::broadcast::Sender<NodeEvent>,
    /// Where the node serves JSON-RPC and PubSub (getClusterNodes).
    pub rpc_addr: Option<std::net::SocketAddr>,
    pub pubsub_addr: Option<std::net::SocketAddr>,
    /// Whether test cheatcodes that write state (mirror_setAccount) are allowed.
    pub cheatcodes: bool,
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

/// Every HTTP method the node serves, and the function that answers it.
async fn dispatch(node: &Arc<Node>, method: &str, params: &[Value]) -> RpcResult<Value> {
    match method {
        // accounts
        "getAccountInfo" => accounts::get_account_info(node, params),
        "getBalance" => accounts::get_balance(node, params),
        "getMinimumBalanceForRentExemption" => accounts::get_minimum_balance_for_rent_exemption(node, params),
        "getMultipleAccounts" => accounts::get_multiple_accounts(node, params),
        "getProgramAccounts" => accounts::get_program_accounts(node, params),
        // blocks
        "getBlock" => blocks::get_block(node, params),
        "getBlockCommitment" => blocks::get_block_commitment(node, params),
        "getBlockHeight" => blocks::get_block_height(node, params),
        "getBlockProduction" => blocks::get_block_production(node, params),
        "getBlockTime" => blocks::get_block_time(node, params),
        "getBlocks" => blocks::get_blocks(node, params),
        "getBlocksWithLimit" => blocks::get_blocks_with_limit(node, params),
        "getFirstAvailableBlock" => blocks::get_first_available_block(node),
        "getLatestBlockhash" => blocks::get_latest_blockhash(node, params),
        "getSlot" => blocks::get_slot(node, params),
        "isBlockhashValid" => blocks::is_blockhash_valid(node, params),
        "minimumLedgerSlot" => blocks::minimum_ledger_slot(node),
        // tokens
        "getTokenAccountBalance" => tokens::get_token_account_balance(node, params),
        "getTokenAccountsByDelegate" => tokens::get_token_accounts_by_delegate(node, params),
        "getTokenAccountsByOwner" => tokens::get_token_accounts_by_owner(node, params),
        "getTokenLargestAccounts" => tokens::get_token_largest_accounts(node, params),
        "getTokenSupply" => tokens::get_token_supply(node, params),
        // transactions
        "getFeeForMessage" => transactions::get_fee_for_message(node, params),
        "getRecentPrioritizationFees" => transactions::get_recent_prioritization_fees(node, params),
        "getSignatureStatuses" => transactions::get_signature_statuses(node, params),
        "getSignaturesForAddress" => transactions::get_signatures_for_address(node, params),
        "getTransaction" => transactions::get_transaction(node, params),
        "requestAirdrop" => transactions::request_airdrop(node, params).await,
        "sendTransaction" => transactions::send_transaction(node, params).await,
        "simulateTransaction" => transactions::simulate_transaction(node, params),
        // cluster
        "getClusterNodes" => cluster::get_cluster_nodes(node),
        "getEpochInfo" => cluster::get_epoch_info(node, params),
        "getEpochSchedule" => cluster::get_epoch_schedule(),
        "getGenesisHash" => cluster::get_genesis_hash(node),
        "getHealth" => cluster::get_health(),
        "getHighestSnapshotSlot" => cluster::get_highest_snapshot_slot(),
        "getIdentity" => cluster::get_identity(),
        "getInflationGovernor" => cluster::get_inflation_governor(params),
        "getInflationRate" => cluster::get_inflation_rate(node),
        "getInflationReward" => cluster::get_inflation_reward(node, params),
        "getLargestAccounts" => cluster::get_largest_accounts(node, params),
        "getLeaderSchedule" => cluster::get_leader_schedule(node, params),
        "getMaxRetransmitSlot" | "getMaxShredInsertSlot" => cluster::get_max_slot(node),
        "getRecentPerformanceSamples" => cluster::get_recent_performance_samples(node, params),
        "getSlotLeader" => cluster::get_slot_leader(node, params),
        "getSlotLeaders" => cluster::get_slot_leaders(node, params),
        "getStakeMinimumDelegation" => cluster::get_stake_minimum_delegation(node, params),
        "getSupply" => cluster::get_supply(node, params),
        "getTransactionCount" => cluster::get_transaction_count(node, params),
        "getVersion" => cluster::get_version(),
        "getVoteAccounts" => cluster::get_vote_accounts(node, params),
        // test cheatcodes
        "mirror_setAccount" => cheatcodes::set_account(node, params).await,
        "mirror_warpClock" => cheatcodes::warp_clock(node, params).await,
        _ => Err(RpcError::method_not_found()),
    }
}
