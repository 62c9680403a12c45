//! The node and its one-node cluster: health, version, identity, epochs,
//! leaders, votes, supply and inflation, as a solana-test-validator answers
//! them. The figures come from [`crate::cluster`].

use serde_json::{json, Value};
use solana_commitment_config::{CommitmentConfig, CommitmentLevel};
use solana_rpc_client_types::config::{
    RpcContextConfig, RpcEpochConfig, RpcGetVoteAccountsConfig, RpcLargestAccountsConfig, RpcLargestAccountsFilter,
    RpcLeaderScheduleConfig, RpcLeaderScheduleConfigWrapper, RpcSupplyConfig,
};
use solana_rpc_client_types::response::{
    RpcAccountBalance, RpcContactInfo, RpcIdentity, RpcInflationGovernor, RpcInflationRate, RpcPerfSample, RpcSupply,
    RpcVersionInfo, RpcVoteAccountInfo, RpcVoteAccountStatus,
};

use super::params::{
    check_min_context_slot, commitment, commitment_at_least_confirmed, optional, parse_pubkey, read_at, required,
    to_value, with_context,
};
use super::{Node, AGAVE_VERSION};
use crate::bank::SLOTS_PER_EPOCH;
use crate::cluster;
use crate::rpc_error::{self, RpcError, RpcResult};

/// Agave's limits.
const NUM_LARGEST_ACCOUNTS: usize = 20;
const MAX_GET_SLOT_LEADERS: u64 = 5_000;
const PERFORMANCE_SAMPLES_LIMIT: usize = 720;

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

pub fn get_identity() -> RpcResult<Value> {
    to_value(RpcIdentity { identity: cluster::identity_pubkey().to_string() })
}

/// No warmup: every epoch is SLOTS_PER_EPOCH long, as the node counts them.
pub fn get_epoch_schedule() -> RpcResult<Value> {
    Ok(json!({
        "slotsPerEpoch": SLOTS_PER_EPOCH,
        "leaderScheduleSlotOffset": SLOTS_PER_EPOCH,
        "warmup": false,
        "firstNormalEpoch": 0,
        "firstNormalSlot": 0,
    }))
}

pub fn get_cluster_nodes(node: &Node) -> RpcResult<Value> {
    // The node runs no gossip, TPU or repair services: those addresses are null.
    to_value(vec![RpcContactInfo {
        pubkey: cluster::identity_pubkey().to_string(),
        gossip: None,
        tvu: None,
        tpu: None,
        tpu_quic: None,
        tpu_forwards: None,
        tpu_forwards_quic: None,
        tpu_vote: None,
        serve_repair: None,
        rpc: node.rpc_addr,
        pubsub: node.pubsub_addr,
        version: Some(AGAVE_VERSION.to_string()),
        feature_set: Some(solana_version::Version::default().feature_set),
        shred_version: Some(0),
    }])
}

pub fn get_highest_snapshot_slot() -> RpcResult<Value> {
    // The node keeps a ledger log, not snapshots: Agave's answer for a node without one.
    Err(RpcError::new(rpc_error::NO_SNAPSHOT, "No snapshot"))
}

pub fn get_max_slot(node: &Node) -> RpcResult<Value> {
    Ok(json!(node.bank.lock().slot()))
}

pub fn get_inflation_governor(params: &[Value]) -> RpcResult<Value> {
    let _commitment: Option<CommitmentConfig> = optional(params, 0)?;
    let i = cluster::INFLATION;
    to_value(RpcInflationGovernor {
        initial: i.initial,
        terminal: i.terminal,
        taper: i.taper,
        foundation: i.foundation,
        foundation_term: i.foundation_term,
    })
}

pub fn get_inflation_rate(node: &Node) -> RpcResult<Value> {
    let epoch = node.bank.lock().slot_at(CommitmentLevel::Finalized) / SLOTS_PER_EPOCH;
    let year = cluster::INFLATION.year_of_epoch(epoch);
    to_value(RpcInflationRate {
        total: cluster::INFLATION.total(year),
        validator: cluster::INFLATION.validator(year),
        foundation: cluster::INFLATION.foundation(year),
        epoch,
    })
}

pub fn get_inflation_reward(node: &Node, params: &[Value]) -> RpcResult<Value> {
    let addresses: Vec<String> = required(params, 0, "addresses")?;
    let addresses = addresses.iter().map(|a| parse_pubkey(a)).collect::<RpcResult<Vec<_>>>()?;
    let config: RpcEpochConfig = optional(params, 1)?.unwrap_or_default();
    let bank = node.bank.lock();
    let slot = bank.slot_at(commitment(config.commitment));
    check_min_context_slot(slot, config.min_context_slot)?;
    let epoch = config.epoch.unwrap_or_else(|| (slot / SLOTS_PER_EPOCH).saturating_sub(1));
    // Rewards for an epoch are paid in the first block of the next one.
    let first_slot = epoch.saturating_add(1).saturating_mul(SLOTS_PER_EPOCH);
    let first = bank.first_available_block();
    if first_slot < first {
        return Err(RpcError::block_cleaned_up(first_slot, first));
    }
    let level = commitment_at_least_confirmed(config.commitment)?;
    let newest = if level == CommitmentLevel::Finalized { bank.root() } else { bank.slot() };
    if bank.block_slots(first_slot, newest, 1).is_empty() {
        return Err(RpcError::block_not_available(first_slot));
    }
    // The node pays no staking or voting rewards: no address has one.
    Ok(json!(vec![Value::Null; addresses.len()]))
}

pub fn get_supply(node: &Node, params: &[Value]) -> RpcResult<Value> {
    let config: RpcSupplyConfig = optional(params, 0)?.unwrap_or_default();
    let bank = node.bank.lock();
    let level = commitment(config.commitment);
    let total: u64 = bank.balances(level).iter().map(|(_, lamports)| lamports).sum();
    // No account is locked up: everything circulates.
    with_context(
        bank.slot_at(level),
        RpcSupply { total, circulating: total, non_circulating: 0, non_circulating_accounts: Vec::new() },
    )
}

pub fn get_largest_accounts(node: &Node, params: &[Value]) -> RpcResult<Value> {
    let config: RpcLargestAccountsConfig = optional(params, 0)?.unwrap_or_default();
    let bank = node.bank.lock();
    let level = commitment(config.commitment);
    let mut balances = match config.filter {
        Some(RpcLargestAccountsFilter::NonCirculating) => Vec::new(),
        _ => bank.balances(level),
    };
    balances.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    balances.truncate(NUM_LARGEST_ACCOUNTS);
    let list: Vec<RpcAccountBalance> = balances
        .into_iter()
        .map(|(address, lamports)| RpcAccountBalance { address: address.to_string(), lamports })
        .collect();
    with_context(bank.slot_at(level), list)
}

pub fn get_leader_schedule(node: &Node, params: &[Value]) -> RpcResult<Value> {
    let wrapper: Option<RpcLeaderScheduleConfigWrapper> = optional(params, 0)?;
    let config: Option<RpcLeaderScheduleConfig> = optional(params, 1)?;
    let (slot, wrapped_config) = wrapper.map(|w| w.unzip()).unwrap_or_default();
    let config = config.or(wrapped_config).unwrap_or_default();
    let identity = config.identity.as_deref().map(parse_pubkey).transpose()?;
    let bank = node.bank.lock();
    let bank_slot = bank.slot_at(commitment(config.commitment));
    let epoch = slot.unwrap_or(bank_slot) / SLOTS_PER_EPOCH;
    // The schedule is known for the current epoch and the next one.
    if epoch > bank_slot / SLOTS_PER_EPOCH + 1 {
        return Ok(Value::Null);
    }
    let node_identity = cluster::identity_pubkey();
    let mut schedule = serde_json::Map::new();
    if identity.is_none_or(|wanted| wanted == node_identity) {
        schedule.insert(node_identity.to_string(), json!((0..SLOTS_PER_EPOCH).collect::<Vec<u64>>()));
    }
    Ok(Value::Object(schedule))
}

pub fn get_slot_leader(node: &Node, params: &[Value]) -> RpcResult<Value> {
    let config: RpcContextConfig = optional(params, 0)?.unwrap_or_default();
    let bank = node.bank.lock();
    read_at(&bank, config.commitment, config.min_context_slot)?;
    Ok(json!(cluster::identity_pubkey().to_string()))
}

pub fn get_slot_leaders(node: &Node, params: &[Value]) -> RpcResult<Value> {
    let start: u64 = required(params, 0, "start_slot")?;
    let limit: u64 = required(params, 1, "limit")?;
    if limit > MAX_GET_SLOT_LEADERS {
        return Err(RpcError::invalid_params(format!("Invalid limit; max {MAX_GET_SLOT_LEADERS}")));
    }
    let bank = node.bank.lock();
    let known_epochs = bank.slot() / SLOTS_PER_EPOCH + 1;
    let last = start.saturating_add(limit.saturating_sub(1));
    if limit > 0 && last / SLOTS_PER_EPOCH > known_epochs {
        let epoch = (start / SLOTS_PER_EPOCH).max(known_epochs + 1);
        return Err(RpcError::invalid_params(format!(
            "Invalid slot range: leader schedule for epoch {epoch} is unavailable"
        )));
    }
    Ok(json!(vec![cluster::identity_pubkey().to_string(); limit as usize]))
}

pub fn get_vote_accounts(node: &Node, params: &[Value]) -> RpcResult<Value> {
    let config: RpcGetVoteAccountsConfig = optional(params, 0)?.unwrap_or_default();
    let wanted = config.vote_pubkey.as_deref().map(parse_pubkey).transpose()?;
    let bank = node.bank.lock();
    let level = commitment(config.commitment);
    let slot = bank.slot_at(level);
    let vote = cluster::vote_account_pubkey();
    let mut current = Vec::new();
    if wanted.is_none_or(|w| w == vote) {
        // The node votes on every block it produces; its root is the node's root.
        let epoch = slot / SLOTS_PER_EPOCH;
        let credits = bank.block_height_at(CommitmentLevel::Finalized);
        current.push(RpcVoteAccountInfo {
            vote_pubkey: vote.to_string(),
            node_pubkey: cluster::identity_pubkey().to_string(),
            activated_stake: cluster::VALIDATOR_STAKE_LAMPORTS,
            commission: 0,
            epoch_vote_account: true,
            epoch_credits: vec![(epoch, credits, 0)],
            last_vote: slot,
            root_slot: bank.root(),
        });
    }
    to_value(RpcVoteAccountStatus { current, delinquent: Vec::new() })
}

pub fn get_recent_performance_samples(node: &Node, params: &[Value]) -> RpcResult<Value> {
    let limit: usize = optional(params, 0)?.unwrap_or(PERFORMANCE_SAMPLES_LIMIT);
    if limit > PERFORMANCE_SAMPLES_LIMIT {
        return Err(RpcError::invalid_params(format!("Invalid limit; max {PERFORMANCE_SAMPLES_LIMIT}")));
    }
    let samples = node.bank.lock().performance_samples(limit);
    let samples: Vec<RpcPerfSample> = samples
        .into_iter()
        .map(|(slot, num_transactions, num_slots, sample_period_secs)| RpcPerfSample {
            slot,
            num_transactions,
            num_non_vote_transactions: Some(num_transactions),
            num_slots,
            sample_period_secs,
        })
        .collect();
    to_value(samples)
}

pub fn get_stake_minimum_delegation(node: &Node, params: &[Value]) -> RpcResult<Value> {
    let config: RpcContextConfig = optional(params, 0)?.unwrap_or_default();
    let bank = node.bank.lock();
    let (_, slot) = read_at(&bank, config.commitment, config.min_context_slot)?;
    with_context(slot, cluster::STAKE_MINIMUM_DELEGATION)
}

pub fn get_transaction_count(node: &Node, params: &[Value]) -> RpcResult<Value> {
    let config: RpcContextConfig = optional(params, 0)?.unwrap_or_default();
    let bank = node.bank.lock();
    let (_, slot) = read_at(&bank, config.commitment, config.min_context_slot)?;
    Ok(json!(bank.transaction_count_until(slot)))
}
