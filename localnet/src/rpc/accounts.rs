//! Account reads: getAccountInfo, getBalance, getMultipleAccounts,
//! getProgramAccounts, getMinimumBalanceForRentExemption.

use serde_json::{json, Value};
use solana_account_decoder_client_types::UiAccountEncoding;
use solana_rpc_client_types::config::{RpcAccountInfoConfig, RpcContextConfig, RpcProgramAccountsConfig};
use solana_rpc_client_types::filter::RpcFilterType;
use solana_rpc_client_types::response::RpcKeyedAccount;

use super::params::{optional, parse_pubkey, pubkey_param, read_at, required, to_value, with_context};
use super::tokens::{self, encode_account_with_bank};
use super::Node;
use crate::rpc_error::{RpcError, RpcResult};

const MAX_MULTIPLE_ACCOUNTS: usize = 100;
const MAX_PROGRAM_ACCOUNT_FILTERS: usize = 4;

pub fn get_account_info(node: &Node, params: &[Value]) -> RpcResult<Value> {
    let pubkey = pubkey_param(params, 0)?;
    let config: RpcAccountInfoConfig = optional(params, 1)?.unwrap_or_default();
    let bank = node.bank.lock();
    let (level, slot) = read_at(&bank, config.commitment, config.min_context_slot)?;
    let account = bank.account_at(&pubkey, level);
    let value = account.map(|a| encode_account_with_bank(&bank, &pubkey, &a, &config, level)).transpose()?;
    with_context(slot, value)
}

pub fn get_balance(node: &Node, params: &[Value]) -> RpcResult<Value> {
    let pubkey = pubkey_param(params, 0)?;
    let config: RpcContextConfig = optional(params, 1)?.unwrap_or_default();
    let bank = node.bank.lock();
    let (level, slot) = read_at(&bank, config.commitment, config.min_context_slot)?;
    with_context(slot, bank.account_at(&pubkey, level).map_or(0, |a| a.lamports))
}

pub fn get_multiple_accounts(node: &Node, params: &[Value]) -> RpcResult<Value> {
    let keys: Vec<String> = required(params, 0, "pubkeys")?;
    if keys.len() > MAX_MULTIPLE_ACCOUNTS {
        return Err(RpcError::invalid_params(format!("Too many inputs provided; max {MAX_MULTIPLE_ACCOUNTS}")));
    }
    let keys = keys.iter().map(|k| parse_pubkey(k)).collect::<RpcResult<Vec<_>>>()?;
    let config: RpcAccountInfoConfig = optional(params, 1)?.unwrap_or_default();
    // Agave's default for this method is base64 (getAccountInfo's is base58).
    let config =
        RpcAccountInfoConfig { encoding: Some(config.encoding.unwrap_or(UiAccountEncoding::Base64)), ..config };
    let bank = node.bank.lock();
    let (level, slot) = read_at(&bank, config.commitment, config.min_context_slot)?;
    let values = keys
        .iter()
        .map(|k| bank.account_at(k, level).map(|a| encode_account_with_bank(&bank, k, &a, &config, level)).transpose())
        .collect::<RpcResult<Vec<_>>>()?;
    with_context(slot, values)
}

pub fn get_program_accounts(node: &Node, params: &[Value]) -> RpcResult<Value> {
    let program = pubkey_param(params, 0)?;
    let config: RpcProgramAccountsConfig = optional(params, 1)?.unwrap_or_default();
    let filters = config.filters.unwrap_or_default();
    if filters.len() > MAX_PROGRAM_ACCOUNT_FILTERS {
        return Err(RpcError::invalid_params(format!("Too many filters provided; max {MAX_PROGRAM_ACCOUNT_FILTERS}")));
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
            RpcFilterType::TokenAccountState => {
                tokens::is_token_program(&account.owner) && tokens::unpack_account(&account.data).is_some()
            }
            other => other.allows(&shared),
        })
    });
    if config.sort_results.unwrap_or(true) {
        accounts.sort_by_key(|(k, _)| *k);
    }
    let keyed = accounts
        .iter()
        .map(|(pubkey, account)| {
            Ok(RpcKeyedAccount {
                pubkey: pubkey.to_string(),
                account: encode_account_with_bank(&bank, pubkey, account, &account_config, level)?,
            })
        })
        .collect::<RpcResult<Vec<_>>>()?;
    drop(bank);
    if config.with_context.unwrap_or(false) {
        with_context(slot, keyed)
    } else {
        to_value(keyed)
    }
}

pub fn get_minimum_balance_for_rent_exemption(node: &Node, params: &[Value]) -> RpcResult<Value> {
    let len: usize = required(params, 0, "data length")?;
    Ok(json!(node.bank.lock().minimum_balance_for_rent_exemption(len)))
}
