//! SPL Token accounts (SPL Token and Token-2022, run by the node as BPF
//! programs): getTokenAccountBalance, getTokenSupply, getTokenAccountsByOwner,
//! getTokenAccountsByDelegate, getTokenLargestAccounts, and the `jsonParsed`
//! form of token accounts and mints. The layouts are SPL Token's packed ones.

use std::str::FromStr;

use serde_json::Value;
use solana_account::Account;
use solana_account_decoder::parse_account_data::{AccountAdditionalDataV3, SplTokenAdditionalDataV2};
use solana_account_decoder_client_types::token::{real_number_string_trimmed, UiTokenAmount};
use solana_account_decoder_client_types::{UiAccount, UiAccountEncoding};
use solana_commitment_config::CommitmentConfig;
use solana_pubkey::Pubkey;
use solana_rpc_client_types::config::{RpcAccountInfoConfig, RpcTokenAccountsFilter};
use solana_rpc_client_types::response::{RpcKeyedAccount, RpcTokenAccountBalance};

use super::encoding::encode_account;
use super::params::{commitment, optional, parse_pubkey, pubkey_param, read_at, required, with_context};
use super::Node;
use crate::bank::Bank;
use crate::rpc_error::{RpcError, RpcResult};

pub const SPL_TOKEN: Pubkey = solana_pubkey::pubkey!("TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA");
pub const TOKEN_2022: Pubkey = solana_pubkey::pubkey!("TokenzQdBNbLqP5VEhdkAS6EPFLC1PHnBqCXEpPxuEb");
/// Agave's NUM_LARGEST_ACCOUNTS.
const NUM_LARGEST_ACCOUNTS: usize = 20;
const ACCOUNT_LEN: usize = 165;
const MINT_LEN: usize = 82;
/// Token-2022's AccountType byte, right after the base account's bytes.
const ACCOUNT_TYPE_MINT: u8 = 1;
const ACCOUNT_TYPE_ACCOUNT: u8 = 2;

pub fn is_token_program(program: &Pubkey) -> bool {
    *program == SPL_TOKEN || *program == TOKEN_2022
}

/// What the token methods read of a token account.
pub struct TokenAccount {
    pub mint: Pubkey,
    pub owner: Pubkey,
    pub amount: u64,
    pub delegate: Option<Pubkey>,
}

/// What the token methods read of a mint.
pub struct Mint {
    pub supply: u64,
    pub decimals: u8,
}

fn pubkey_at(data: &[u8], at: usize) -> Pubkey {
    Pubkey::new_from_array(data[at..at + 32].try_into().expect("32 bytes"))
}

fn u64_at(data: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(data[at..at + 8].try_into().expect("8 bytes"))
}

/// A COption<Pubkey>: a u32 tag, then the key.
fn optional_pubkey_at(data: &[u8], at: usize) -> Option<Option<Pubkey>> {
    match u32::from_le_bytes(data[at..at + 4].try_into().expect("4 bytes")) {
        0 => Some(None),
        1 => Some(Some(pubkey_at(data, at + 4))),
        _ => None,
    }
}

/// An initialized token account (SPL Token's 165 bytes, or Token-2022's with
/// extensions after the account-type byte).
pub fn unpack_account(data: &[u8]) -> Option<TokenAccount> {
    if data.len() < ACCOUNT_LEN || (data.len() > ACCOUNT_LEN && data[ACCOUNT_LEN] != ACCOUNT_TYPE_ACCOUNT) {
        return None;
    }
    let state = data[108];
    if state == 0 || state > 2 {
        return None;
    }
    // is_native (a COption<u64>) and close_authority must be well formed too.
    if u32::from_le_bytes(data[109..113].try_into().ok()?) > 1 {
        return None;
    }
    optional_pubkey_at(data, 129)?;
    Some(TokenAccount {
        mint: pubkey_at(data, 0),
        owner: pubkey_at(data, 32),
        amount: u64_at(data, 64),
        delegate: optional_pubkey_at(data, 72)?,
    })
}

/// An initialized mint (82 bytes, or Token-2022's padded to the account length
/// with extensions after the account-type byte).
pub fn unpack_mint(data: &[u8]) -> Option<Mint> {
    let base_only = data.len() == MINT_LEN;
    let extended = data.len() > ACCOUNT_LEN && data[ACCOUNT_LEN] == ACCOUNT_TYPE_MINT;
    if !(base_only || extended) || data[45] != 1 {
        return None;
    }
    optional_pubkey_at(data, 0)?;
    optional_pubkey_at(data, 46)?;
    Some(Mint { supply: u64_at(data, 36), decimals: data[44] })
}

pub fn ui_token_amount(amount: u64, decimals: u8) -> UiTokenAmount {
    UiTokenAmount {
        ui_amount: Some(amount as f64 / 10f64.powi(i32::from(decimals))),
        decimals,
        amount: amount.to_string(),
        ui_amount_string: real_number_string_trimmed(amount, decimals),
    }
}

/// An account in the requested encoding; for `jsonParsed`, token accounts get
/// their mint's decimals so that Agave's decoder can parse them.
pub fn encode_account_with_bank(
    bank: &Bank,
    pubkey: &Pubkey,
    account: &Account,
    config: &RpcAccountInfoConfig,
    level: solana_commitment_config::CommitmentLevel,
) -> RpcResult<UiAccount> {
    let additional = if config.encoding == Some(UiAccountEncoding::JsonParsed) {
        token_additional_data(bank, account, level)
    } else {
        None
    };
    encode_account(pubkey, account, config.encoding, config.data_slice, additional)
}

/// What Agave's decoder needs to parse a token account: its mint's decimals.
pub fn token_additional_data(
    bank: &Bank,
    account: &Account,
    level: solana_commitment_config::CommitmentLevel,
) -> Option<AccountAdditionalDataV3> {
    if !is_token_program(&account.owner) {
        return None;
    }
    let token = unpack_account(&account.data)?;
    let mint = unpack_mint(&bank.account_at(&token.mint, level)?.data)?;
    Some(AccountAdditionalDataV3 {
        spl_token_additional_data: Some(SplTokenAdditionalDataV2 {
            decimals: mint.decimals,
            interest_bearing_config: None,
            scaled_ui_amount_config: None,
        }),
    })
}

fn token_account_of(
    bank: &Bank,
    pubkey: &Pubkey,
    level: solana_commitment_config::CommitmentLevel,
) -> RpcResult<(Account, TokenAccount)> {
    let account = bank
        .account_at(pubkey, level)
        .ok_or_else(|| RpcError::invalid_params("Invalid param: could not find account"))?;
    if !is_token_program(&account.owner) {
        return Err(RpcError::invalid_params("Invalid param: not a Token account"));
    }
    let token =
        unpack_account(&account.data).ok_or_else(|| RpcError::invalid_params("Invalid param: not a Token account"))?;
    Ok((account, token))
}

fn mint_of(bank: &Bank, mint: &Pubkey, level: solana_commitment_config::CommitmentLevel) -> RpcResult<(Account, Mint)> {
    let account =
        bank.account_at(mint, level).ok_or_else(|| RpcError::invalid_params("Invalid param: could not find mint"))?;
    if !is_token_program(&account.owner) {
        return Err(RpcError::invalid_params("Invalid param: not a Token mint"));
    }
    let parsed = unpack_mint(&account.data)
        .ok_or_else(|| RpcError::invalid_params("Invalid param: mint could not be unpacked"))?;
    Ok((account, parsed))
}

pub fn get_token_account_balance(node: &Node, params: &[Value]) -> RpcResult<Value> {
    let pubkey = pubkey_param(params, 0)?;
    let config: Option<CommitmentConfig> = optional(params, 1)?;
    let bank = node.bank.lock();
    let level = commitment(config);
    let (_, token) = token_account_of(&bank, &pubkey, level)?;
    let (_, mint) = mint_of(&bank, &token.mint, level)?;
    with_context(bank.slot_at(level), ui_token_amount(token.amount, mint.decimals))
}

pub fn get_token_supply(node: &Node, params: &[Value]) -> RpcResult<Value> {
    let pubkey = pubkey_param(params, 0)?;
    let config: Option<CommitmentConfig> = optional(params, 1)?;
    let bank = node.bank.lock();
    let level = commitment(config);
    let account = bank
        .account_at(&pubkey, level)
        .ok_or_else(|| RpcError::invalid_params("Invalid param: could not find account"))?;
    if !is_token_program(&account.owner) {
        return Err(RpcError::invalid_params("Invalid param: not a Token mint"));
    }
    let mint = unpack_mint(&account.data)
        .ok_or_else(|| RpcError::invalid_params("Invalid param: mint could not be unpacked"))?;
    with_context(bank.slot_at(level), ui_token_amount(mint.supply, mint.decimals))
}

pub fn get_token_largest_accounts(node: &Node, params: &[Value]) -> RpcResult<Value> {
    let mint_key = pubkey_param(params, 0)?;
    let config: Option<CommitmentConfig> = optional(params, 1)?;
    let bank = node.bank.lock();
    let level = commitment(config);
    let (mint_account, mint) = mint_of(&bank, &mint_key, level)?;
    let mut holders: Vec<(Pubkey, u64)> = bank
        .program_accounts(&mint_account.owner, level, |a| unpack_account(&a.data).is_some_and(|t| t.mint == mint_key))
        .into_iter()
        .filter_map(|(key, account)| unpack_account(&account.data).map(|t| (key, t.amount)))
        .collect();
    holders.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    holders.truncate(NUM_LARGEST_ACCOUNTS);
    let list: Vec<RpcTokenAccountBalance> = holders
        .into_iter()
        .map(|(address, amount)| RpcTokenAccountBalance {
            address: address.to_string(),
            amount: ui_token_amount(amount, mint.decimals),
        })
        .collect();
    with_context(bank.slot_at(level), list)
}

pub fn get_token_accounts_by_owner(node: &Node, params: &[Value]) -> RpcResult<Value> {
    token_accounts_by(node, params, |token, key| token.owner == *key)
}

pub fn get_token_accounts_by_delegate(node: &Node, params: &[Value]) -> RpcResult<Value> {
    token_accounts_by(node, params, |token, key| token.delegate == Some(*key))
}

fn token_accounts_by(
    node: &Node,
    params: &[Value],
    holds: impl Fn(&TokenAccount, &Pubkey) -> bool,
) -> RpcResult<Value> {
    let key = pubkey_param(params, 0)?;
    let filter: RpcTokenAccountsFilter = required(params, 1, "filter")?;
    let config: RpcAccountInfoConfig = optional(params, 2)?.unwrap_or_default();
    let bank = node.bank.lock();
    let (level, slot) = read_at(&bank, config.commitment, config.min_context_slot)?;
    let (program, mint) = match filter {
        RpcTokenAccountsFilter::Mint(mint) => {
            let mint = parse_pubkey(&mint)?;
            let account = bank
                .account_at(&mint, level)
                .ok_or_else(|| RpcError::invalid_params("Invalid param: could not find mint"))?;
            if !is_token_program(&account.owner) {
                return Err(RpcError::invalid_params("Invalid param: not a Token mint"));
            }
            (account.owner, Some(mint))
        }
        RpcTokenAccountsFilter::ProgramId(program) => {
            let program =
                Pubkey::from_str(&program).map_err(|e| RpcError::invalid_params(format!("Invalid param: {e:?}")))?;
            if !is_token_program(&program) {
                return Err(RpcError::invalid_params("Invalid param: unrecognized Token program id"));
            }
            (program, None)
        }
    };
    let mut accounts = bank.program_accounts(&program, level, |account| {
        unpack_account(&account.data).is_some_and(|t| holds(&t, &key) && mint.is_none_or(|m| t.mint == m))
    });
    accounts.sort_by_key(|(k, _)| *k);
    let config =
        RpcAccountInfoConfig { encoding: Some(config.encoding.unwrap_or(UiAccountEncoding::Binary)), ..config };
    let keyed = accounts
        .iter()
        .map(|(pubkey, account)| {
            Ok(RpcKeyedAccount {
                pubkey: pubkey.to_string(),
                account: encode_account_with_bank(&bank, pubkey, account, &config, level)?,
            })
        })
        .collect::<RpcResult<Vec<_>>>()?;
    with_context(slot, keyed)
}
