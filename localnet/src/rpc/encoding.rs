//! Encodings: wire transactions in (base58/base64 with Agave's limits) and
//! accounts and transactions out, in the encodings a request asks for.

use base64::prelude::{Engine, BASE64_STANDARD};
use bincode::Options;
use solana_account::Account;
use solana_account_decoder::encode_ui_account;
use solana_account_decoder::parse_account_data::AccountAdditionalDataV3;
use solana_account_decoder_client_types::{UiAccount, UiAccountData, UiAccountEncoding, UiDataSliceConfig};
use solana_pubkey::Pubkey;
use solana_transaction::versioned::{TransactionVersion, VersionedTransaction};
use solana_transaction_status::{EncodeError, VersionedTransactionWithStatusMeta};
use solana_transaction_status_client_types::option_serializer::OptionSerializer;
use solana_transaction_status_client_types::{
    EncodedConfirmedTransactionWithStatusMeta, EncodedTransaction, EncodedTransactionWithStatusMeta, ParsedAccount,
    ParsedAccountSource, TransactionBinaryEncoding, TransactionStatusMeta, UiAccountsList, UiTransactionEncoding,
    UiTransactionStatusMeta,
};

use crate::ledger::StoredTransaction;
use crate::rpc_error::{self, RpcError, RpcResult};

const MAX_BASE58_BYTES: usize = 128;
const PACKET_DATA_SIZE: usize = 1232;

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

/// An account in `encoding` (base58 when none is given), by Agave's account
/// encoder: `jsonParsed` parses what solana-account-decoder knows (sysvars,
/// nonce, stake, vote, config, loaders, lookup tables, token accounts given
/// their mint's decimals in `additional`) and falls back to base64.
pub fn encode_account(
    pubkey: &Pubkey,
    account: &Account,
    encoding: Option<UiAccountEncoding>,
    slice: Option<UiDataSliceConfig>,
    additional: Option<AccountAdditionalDataV3>,
) -> RpcResult<UiAccount> {
    let encoding = encoding.unwrap_or(UiAccountEncoding::Binary);
    if matches!(encoding, UiAccountEncoding::Binary | UiAccountEncoding::Base58) {
        let len = slice.map_or(account.data.len(), |s| s.length.min(account.data.len().saturating_sub(s.offset)));
        if len > MAX_BASE58_BYTES {
            return Err(RpcError::invalid_params(format!(
                "Encoded binary (base 58) data should be less than {MAX_BASE58_BYTES} bytes, please use Base64 encoding."
            )));
        }
    }
    if encoding == UiAccountEncoding::JsonParsed && account.owner == mirror::ID {
        if let Some(parsed) = super::idl::parse_account(&account.data) {
            return Ok(UiAccount {
                lamports: account.lamports,
                data: UiAccountData::Json(solana_account_decoder_client_types::ParsedAccount {
                    program: super::idl::program_name().to_string(),
                    parsed,
                    space: account.data.len() as u64,
                }),
                owner: account.owner.to_string(),
                executable: account.executable,
                rent_epoch: account.rent_epoch,
                space: Some(account.data.len() as u64),
            });
        }
    }
    Ok(encode_ui_account(pubkey, account, encoding, additional, slice))
}

pub fn ui_return_data(
    (program_id, data): (Pubkey, Vec<u8>),
) -> solana_transaction_status_client_types::UiTransactionReturnData {
    solana_transaction_status_client_types::UiTransactionReturnData {
        program_id: program_id.to_string(),
        data: (BASE64_STANDARD.encode(data), solana_transaction_status_client_types::UiReturnDataEncoding::Base64),
    }
}

/// The `version` field of an encoded transaction, or Agave's refusal when the
/// client did not say it reads this version.
fn transaction_version(
    tx: &VersionedTransaction,
    max_supported_version: Option<u8>,
) -> RpcResult<Option<TransactionVersion>> {
    match (tx.version(), max_supported_version) {
        (TransactionVersion::Legacy(_), None) => Ok(None),
        (TransactionVersion::Legacy(_), Some(_)) => Ok(Some(TransactionVersion::LEGACY)),
        (TransactionVersion::Number(v), Some(max)) if v <= max => Ok(Some(TransactionVersion::Number(v))),
        (TransactionVersion::Number(v), _) => Err(unsupported_version(v)),
    }
}

fn unsupported_version(v: u8) -> RpcError {
    RpcError::new(
        rpc_error::UNSUPPORTED_TRANSACTION_VERSION,
        format!("Transaction version ({v}) is not supported by the requesting client. Please try the request again with the following configuration parameter: \"maxSupportedTransactionVersion\": {v}"),
    )
}

/// getTransaction's answer: the transaction with its meta, slot and block time.
pub fn encode_confirmed_transaction(
    stored: &StoredTransaction,
    encoding: UiTransactionEncoding,
    max_supported_version: Option<u8>,
) -> RpcResult<EncodedConfirmedTransactionWithStatusMeta> {
    Ok(EncodedConfirmedTransactionWithStatusMeta {
        slot: stored.slot,
        transaction: encode_transaction_with_meta(stored, encoding, max_supported_version, true)?,
        block_time: Some(stored.block_time),
    })
}

/// A transaction and its full meta, as getTransaction and getBlock
/// (`transactionDetails: "full"`) give it.
pub fn encode_transaction_with_meta(
    stored: &StoredTransaction,
    encoding: UiTransactionEncoding,
    max_supported_version: Option<u8>,
    show_rewards: bool,
) -> RpcResult<EncodedTransactionWithStatusMeta> {
    // Agave's own encoder: json, base58/base64 and jsonParsed (system, SPL
    // Token, ATA, memo, loaders, ALT, compute budget, vote, stake; other
    // programs partially decoded), meta included.
    let with_meta =
        VersionedTransactionWithStatusMeta { transaction: stored.transaction.clone(), meta: status_meta(stored) };
    let mut encoded = with_meta.encode(encoding, max_supported_version, show_rewards).map_err(|e| match e {
        EncodeError::UnsupportedTransactionVersion(v) => unsupported_version(v),
    })?;
    if encoding == UiTransactionEncoding::JsonParsed {
        super::idl::parse_mirror_instructions(&mut encoded);
    }
    Ok(encoded)
}

fn token_balance(
    balance: &crate::ledger::TokenBalance,
) -> solana_transaction_status_client_types::TransactionTokenBalance {
    solana_transaction_status_client_types::TransactionTokenBalance {
        account_index: balance.account_index,
        mint: balance.mint.to_string(),
        ui_token_amount: super::tokens::ui_token_amount(balance.amount, balance.decimals),
        owner: balance.owner.to_string(),
        program_id: balance.program_id.to_string(),
    }
}

fn status_meta(stored: &StoredTransaction) -> TransactionStatusMeta {
    TransactionStatusMeta {
        status: stored.err.clone().map_or(Ok(()), Err),
        fee: stored.fee,
        pre_balances: stored.pre_balances.clone(),
        post_balances: stored.post_balances.clone(),
        inner_instructions: Some(stored.inner_instructions.clone()),
        log_messages: Some(stored.logs.clone()),
        pre_token_balances: Some(stored.token_balances.0.iter().map(token_balance).collect()),
        post_token_balances: Some(stored.token_balances.1.iter().map(token_balance).collect()),
        rewards: Some(Vec::new()),
        loaded_addresses: stored.loaded_addresses.clone(),
        return_data: stored
            .return_data
            .clone()
            .map(|(program_id, data)| solana_transaction_context::TransactionReturnData { program_id, data }),
        compute_units_consumed: Some(stored.compute_units),
        cost_units: None,
    }
}

/// A transaction as getBlock's `transactionDetails: "accounts"` gives it: its
/// signatures, its accounts (writable, signer) and a meta without logs,
/// inner instructions or return data.
pub fn encode_transaction_accounts(
    stored: &StoredTransaction,
    max_supported_version: Option<u8>,
    show_rewards: bool,
) -> RpcResult<EncodedTransactionWithStatusMeta> {
    let tx = &stored.transaction;
    let version = transaction_version(tx, max_supported_version)?;
    let signers = usize::from(tx.message.header().num_required_signatures);
    let loaded = &stored.loaded_addresses;
    let lookup_table_key = |key: &Pubkey, writable| ParsedAccount {
        pubkey: key.to_string(),
        writable,
        signer: false,
        source: Some(ParsedAccountSource::LookupTable),
    };
    let account_keys = tx
        .message
        .static_account_keys()
        .iter()
        .enumerate()
        .map(|(i, key)| ParsedAccount {
            pubkey: key.to_string(),
            writable: tx.message.is_maybe_writable(i, None),
            signer: i < signers,
            source: Some(ParsedAccountSource::Transaction),
        })
        .chain(loaded.writable.iter().map(|key| lookup_table_key(key, true)))
        .chain(loaded.readonly.iter().map(|key| lookup_table_key(key, false)))
        .collect();
    let meta = UiTransactionStatusMeta {
        err: stored.err.clone(),
        status: stored.err.clone().map_or(Ok(()), Err),
        fee: stored.fee,
        pre_balances: stored.pre_balances.clone(),
        post_balances: stored.post_balances.clone(),
        inner_instructions: OptionSerializer::Skip,
        log_messages: OptionSerializer::Skip,
        pre_token_balances: OptionSerializer::Some(
            stored.token_balances.0.iter().map(token_balance).map(Into::into).collect(),
        ),
        post_token_balances: OptionSerializer::Some(
            stored.token_balances.1.iter().map(token_balance).map(Into::into).collect(),
        ),
        rewards: if show_rewards { OptionSerializer::Some(Vec::new()) } else { OptionSerializer::Skip },
        loaded_addresses: OptionSerializer::Skip,
        return_data: OptionSerializer::Skip,
        compute_units_consumed: OptionSerializer::Skip,
        cost_units: OptionSerializer::Skip,
    };
    Ok(EncodedTransactionWithStatusMeta {
        transaction: EncodedTransaction::Accounts(UiAccountsList {
            signatures: tx.signatures.iter().map(ToString::to_string).collect(),
            account_keys,
        }),
        meta: Some(meta),
        version,
    })
}
