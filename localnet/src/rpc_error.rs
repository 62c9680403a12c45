//! JSON-RPC errors with Agave's codes and messages (solana-rpc-client-api's
//! `custom_error` and jsonrpc-core's standard codes).

use serde_json::{json, Value};

pub const PARSE_ERROR: i64 = -32700;
pub const INVALID_REQUEST: i64 = -32600;
pub const METHOD_NOT_FOUND: i64 = -32601;
pub const INVALID_PARAMS: i64 = -32602;
pub const INTERNAL_ERROR: i64 = -32603;
pub const BLOCK_CLEANED_UP: i64 = -32001;
pub const BLOCK_NOT_AVAILABLE: i64 = -32004;
pub const SLOT_SKIPPED: i64 = -32007;
pub const NO_SNAPSHOT: i64 = -32008;
pub const SEND_TRANSACTION_PREFLIGHT_FAILURE: i64 = -32002;
pub const TRANSACTION_SIGNATURE_VERIFICATION_FAILURE: i64 = -32003;
pub const TRANSACTION_PRECOMPILE_VERIFICATION_FAILURE: i64 = -32013;
pub const UNSUPPORTED_TRANSACTION_VERSION: i64 = -32015;
pub const MIN_CONTEXT_SLOT_NOT_REACHED: i64 = -32016;

#[derive(Debug, Clone, PartialEq)]
pub struct RpcError {
    pub code: i64,
    pub message: String,
    pub data: Option<Value>,
}

impl RpcError {
    pub fn new(code: i64, message: impl Into<String>) -> Self {
        Self { code, message: message.into(), data: None }
    }
    pub fn with_data(mut self, data: Value) -> Self {
        self.data = Some(data);
        self
    }
    pub fn parse_error() -> Self {
        Self::new(PARSE_ERROR, "Parse error")
    }
    pub fn invalid_request() -> Self {
        Self::new(INVALID_REQUEST, "Invalid request")
    }
    pub fn method_not_found() -> Self {
        Self::new(METHOD_NOT_FOUND, "Method not found")
    }
    pub fn invalid_params(message: impl Into<String>) -> Self {
        Self::new(INVALID_PARAMS, message)
    }
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(INTERNAL_ERROR, message)
    }
    pub fn block_not_available(slot: u64) -> Self {
        Self::new(BLOCK_NOT_AVAILABLE, format!("Block not available for slot {slot}"))
    }
    pub fn slot_skipped(slot: u64) -> Self {
        Self::new(SLOT_SKIPPED, format!("Slot {slot} was skipped, or missing due to ledger jump to recent snapshot"))
    }
    pub fn block_cleaned_up(slot: u64, first_available_block: u64) -> Self {
        Self::new(
            BLOCK_CLEANED_UP,
            format!("Block {slot} cleaned up, does not exist on node. First available block: {first_available_block}"),
        )
    }
    pub fn to_json(&self) -> Value {
        match &self.data {
            Some(data) => json!({"code": self.code, "message": self.message, "data": data}),
            None => json!({"code": self.code, "message": self.message}),
        }
    }
}

pub type RpcResult<T> = Result<T, RpcError>;
