//! mirror-localnet: a local Solana node hosting the Mirror program natively.
//!
//! - [`bank`]: the ledger state machine (LiteSVM + native Mirror program),
//!   slots, blockhashes, commitment, history; every state change goes through it.
//! - [`ledger`]: the append-only, fsync'd log that makes `--ledger DIR` durable.
//! - [`rpc`]: JSON-RPC over HTTP, answers built from Agave's client types.
//! - [`pubsub`]: the WebSocket subscriptions on RPC port + 1.
//! - [`cluster`]: the one-node cluster: identity, vote account, genesis figures.
//! - [`bootstrap`]: initialises Config and registers the dev trainer.

pub mod bank;
pub mod bootstrap;
pub mod cluster;
pub mod ledger;
pub mod pubsub;
pub mod rpc;
pub mod rpc_error;

pub use native_host;
