//! Simulating, executing and recording transactions (and the faucet's and
//! bootstrap's own sends).

use std::sync::Arc;

use serde_json::json;
use solana_account::Account;
use solana_commitment_config::CommitmentLevel;
use solana_keypair::Keypair;
use solana_message::v0::LoadedAddresses;
use solana_message::{AddressLoader, Message, VersionedMessage};
use solana_pubkey::Pubkey;
use solana_signer::Signer;
use solana_transaction::versioned::VersionedTransaction;
use solana_transaction::Transaction;
use solana_transaction_error::TransactionError;
use solana_transaction_status_client_types::{InnerInstruction, InnerInstructions};

use super::{fees, Bank, NodeEvent, Sent, LAMPORTS_PER_SIGNATURE};
use crate::ledger::{Entry, StoredTransaction, TokenBalance};
use crate::rpc_error::{self, RpcError, RpcResult};

impl Bank {
    /// The addresses a v0 message loads through its lookup tables, resolved
    /// against the tables and the SlotHashes sysvar as they are now (empty for a
    /// legacy message), or the error a cluster's address loader gives.
    pub fn load_addresses(&self, message: &VersionedMessage) -> Result<LoadedAddresses, TransactionError> {
        match message.address_table_lookups() {
            Some(lookups) if !lookups.is_empty() => {
                self.chain.accounts_db().load_addresses(lookups).map_err(TransactionError::from)
            }
            _ => Ok(LoadedAddresses::default()),
        }
    }

    /// As Agave's RPC sanitizes a transaction before anything else: a lookup
    /// that does not resolve is an invalid parameter.
    pub fn sanitize_lookups(&mut self, message: &VersionedMessage) -> RpcResult<LoadedAddresses> {
        self.refresh_clock();
        self.load_addresses(message).map_err(|err| RpcError::invalid_params(format!("invalid transaction: {err}")))
    }

    /// Runs the transaction without committing anything.
    pub fn simulate(
        &mut self,
        tx: &VersionedTransaction,
        replace_recent_blockhash: bool,
    ) -> (Result<(), TransactionError>, Simulation) {
        self.refresh_clock();
        let mut tx = tx.clone();
        if replace_recent_blockhash {
            tx.message.set_recent_blockhash(self.latest_blockhash().0);
        } else if !self.is_blockhash_valid(tx.message.recent_blockhash()) {
            return (Err(TransactionError::BlockhashNotFound), Simulation::default());
        }
        if self.history.contains(&tx.signatures[0]) {
            return (Err(TransactionError::AlreadyProcessed), Simulation::default());
        }
        if !self.can_pay_fee(&tx) {
            return (Err(TransactionError::InsufficientFundsForFee), Simulation::default());
        }
        match self.chain.simulate_transaction(tx) {
            Ok(info) => (
                Ok(()),
                Simulation {
                    logs: info.meta.logs,
                    units_consumed: info.meta.compute_units_consumed,
                    return_data: return_data(&info.meta.return_data),
                    inner_instructions: inner_instructions(info.meta.inner_instructions),
                    post_accounts: info.post_accounts.into_iter().map(|(k, a)| (k, Account::from(a))).collect(),
                },
            ),
            Err(failed) => (
                Err(failed.err),
                Simulation {
                    logs: failed.meta.logs,
                    units_consumed: failed.meta.compute_units_consumed,
                    return_data: return_data(&failed.meta.return_data),
                    inner_instructions: inner_instructions(failed.meta.inner_instructions),
                    post_accounts: Vec::new(),
                },
            ),
        }
    }

    /// Checks signatures and age, optionally preflights, executes and records.
    pub fn send_transaction(&mut self, tx: VersionedTransaction, skip_preflight: bool) -> RpcResult<Sent> {
        let signature = tx.signatures[0];
        self.sanitize_lookups(&tx.message)?;
        if tx.verify_with_results().iter().any(|ok| !ok) {
            return Err(RpcError::new(
                rpc_error::TRANSACTION_SIGNATURE_VERIFICATION_FAILURE,
                "Transaction signature verification failure",
            ));
        }
        if !skip_preflight {
            let (result, simulation) = self.simulate(&tx, false);
            if let Err(err) = result {
                return Err(preflight_failure(err, simulation));
            }
        } else if self.history.contains(&signature) || !self.is_blockhash_valid(tx.message.recent_blockhash()) {
            // As on a cluster: accepted for forwarding, then dropped.
            return Ok(Sent { signature, ledger_seq: None });
        }
        self.execute(tx, skip_preflight)
    }

    pub(super) fn execute(&mut self, tx: VersionedTransaction, skip_preflight: bool) -> RpcResult<Sent> {
        self.check_ledger_writable()?;
        self.refresh_clock();
        let signature = tx.signatures[0];
        let loaded_addresses = match self.load_addresses(&tx.message) {
            Ok(loaded) => loaded,
            // A cluster drops what it cannot sanitize.
            Err(_) if skip_preflight => return Ok(Sent { signature, ledger_seq: None }),
            Err(err) => return Err(RpcError::invalid_params(format!("invalid transaction: {err}"))),
        };
        // Agave's account order: static keys, then loaded writable, then loaded readonly.
        let static_keys = tx.message.static_account_keys();
        let keys: Vec<Pubkey> =
            static_keys.iter().chain(&loaded_addresses.writable).chain(&loaded_addresses.readonly).copied().collect();
        let writable: Vec<Pubkey> = static_keys
            .iter()
            .enumerate()
            .filter(|(i, _)| tx.message.is_maybe_writable(*i, None))
            .map(|(_, k)| *k)
            .chain(loaded_addresses.writable.iter().copied())
            .collect();
        let pre_accounts: Vec<Option<Account>> = writable.iter().map(|k| self.chain.get_account(k)).collect();
        let pre_balances: Vec<u64> = keys.iter().map(|k| self.chain.get_balance(k).unwrap_or(0)).collect();
        let pre_token_balances = self.token_balances(&keys);

        // The priority fee is charged here (LiteSVM charges the signatures), before
        // execution, as a cluster does: the payer pays it whatever the outcome.
        let fee = fees::total_fee(&tx.message);
        let priority = fee - LAMPORTS_PER_SIGNATURE * u64::from(tx.message.header().num_required_signatures);
        if priority > 0 {
            if !self.can_pay_fee(&tx) {
                if skip_preflight {
                    return Ok(Sent { signature, ledger_seq: None });
                }
                return Err(preflight_failure(TransactionError::InsufficientFundsForFee, Simulation::default()));
            }
            let mut payer = pre_accounts[0].clone().unwrap_or_default();
            payer.lamports -= priority;
            if let Err(e) = self.chain.set_account(keys[0], payer) {
                return Err(RpcError::internal(format!("charging the priority fee: {e}")));
            }
        }

        let (meta, err) = match self.chain.send_transaction(tx.clone()) {
            Ok(meta) => (meta, None),
            Err(failed) => {
                if !matches!(failed.err, TransactionError::InstructionError(..)) {
                    // Not loadable (no funds for the fee, unknown program...): nothing was
                    // committed, the priority fee included. Without preflight a cluster
                    // would just drop it.
                    if priority > 0 {
                        self.restore(&writable[..1], pre_accounts[..1].to_vec());
                    }
                    if skip_preflight {
                        return Ok(Sent { signature, ledger_seq: None });
                    }
                    return Err(preflight_failure(
                        failed.err,
                        Simulation { logs: failed.meta.logs, ..Simulation::default() },
                    ));
                }
                (failed.meta, Some(failed.err))
            }
        };
        let post_balances: Vec<u64> = keys.iter().map(|k| self.chain.get_balance(k).unwrap_or(0)).collect();
        let post_accounts: Vec<(Pubkey, Account)> =
            writable.iter().map(|k| (*k, self.chain.get_account(k).unwrap_or_default())).collect();
        let post_token_balances = self.token_balances(&keys);

        let stored = StoredTransaction {
            slot: self.slot,
            block_time: self.block_time(self.slot).unwrap_or_else(|| self.unix_timestamp()),
            fee,
            transaction: tx,
            err,
            logs: meta.logs,
            pre_balances,
            post_balances,
            compute_units: meta.compute_units_consumed,
            inner_instructions: inner_instructions(meta.inner_instructions),
            return_data: return_data(&meta.return_data),
            accounts: post_accounts,
            token_balances: Default::default(),
            loaded_addresses,
        };
        let has_token_balances = !pre_token_balances.is_empty() || !post_token_balances.is_empty();
        // The TokenBalances record directly follows the transaction's: both are
        // appended under the bank's lock.
        let recorded = self.record(&Entry::transaction(stored.clone())).and_then(|appended| {
            if !has_token_balances {
                return Ok(appended.map(|a| (a.offset, a.seq)));
            }
            let entry = Entry::TokenBalances { pre: pre_token_balances.clone(), post: post_token_balances.clone() };
            Ok(appended.zip(self.record(&entry)?).map(|(tx, balances)| (tx.offset, balances.seq)))
        });
        let (offset, ledger_seq) = match recorded {
            Ok(recorded) => recorded.unzip(),
            Err(err) => {
                // Memory must not hold what the ledger does not: undo the writes.
                self.restore(&writable, pre_accounts);
                return Err(err);
            }
        };

        let mut stored = stored;
        stored.token_balances = Arc::new((pre_token_balances, post_token_balances));
        let accounts = std::mem::take(&mut stored.accounts);
        let stored = Arc::new(stored);
        self.history.push(stored.clone(), offset);
        self.unfinalized.push_back(stored.clone());
        let mut events = Vec::with_capacity(accounts.len() + 1);
        for ((pubkey, account), before) in accounts.into_iter().zip(pre_accounts) {
            self.pending_pre.entry(pubkey).or_default().push_back((self.slot, before.filter(|a| a.lamports > 0)));
            self.pending_order.push_back((self.slot, pubkey));
            events.push(NodeEvent::Account {
                pubkey,
                account: Arc::new(account),
                slot: self.slot,
                commitment: CommitmentLevel::Confirmed,
            });
        }
        events.push(NodeEvent::Transaction { tx: stored, signature, commitment: CommitmentLevel::Confirmed });
        match ledger_seq {
            Some(seq) => self.undurable_events.extend(events.into_iter().map(|e| (seq, e))),
            None => events.into_iter().for_each(|e| drop(self.events.send(e))),
        }
        Ok(Sent { signature, ledger_seq })
    }

    /// Test cheatcode: writes `account` at `pubkey` in the current slot, as a
    /// transaction would (recorded, notified, finalized with the slot).
    pub fn set_account(&mut self, pubkey: Pubkey, account: Account) -> RpcResult<Option<u64>> {
        self.check_ledger_writable()?;
        let before = self.chain.get_account(&pubkey).filter(|a| a.lamports > 0);
        self.chain
            .set_account(pubkey, account.clone())
            .map_err(|e| RpcError::invalid_params(format!("Invalid params: cannot set account {pubkey}: {e}")))?;
        let seq = match self.record(&Entry::SetAccount { slot: self.slot, pubkey, account: account.clone() }) {
            Ok(appended) => appended.map(|a| a.seq),
            Err(err) => {
                self.restore(&[pubkey], vec![before]);
                return Err(err);
            }
        };
        self.pending_pre.entry(pubkey).or_default().push_back((self.slot, before));
        self.pending_order.push_back((self.slot, pubkey));
        let event = NodeEvent::Account {
            pubkey,
            account: Arc::new(account),
            slot: self.slot,
            commitment: CommitmentLevel::Confirmed,
        };
        match seq {
            Some(seq) => self.undurable_events.push_back((seq, event)),
            None => drop(self.events.send(event)),
        }
        Ok(seq)
    }

    /// The SPL Token balances among `keys` now (for a transaction's meta).
    fn token_balances(&self, keys: &[Pubkey]) -> Vec<TokenBalance> {
        use crate::rpc::tokens::{is_token_program, unpack_account, unpack_mint};
        keys.iter()
            .enumerate()
            .filter_map(|(index, key)| {
                let account = self.chain.get_account(key).filter(|a| a.lamports > 0 && is_token_program(&a.owner))?;
                let token = unpack_account(&account.data)?;
                let decimals = self.chain.get_account(&token.mint).and_then(|m| unpack_mint(&m.data))?.decimals;
                Some(TokenBalance {
                    account_index: u8::try_from(index).ok()?,
                    mint: token.mint,
                    owner: token.owner,
                    program_id: account.owner,
                    amount: token.amount,
                    decimals,
                })
            })
            .collect()
    }

    /// Puts `accounts` back as they were before a transaction that is not kept.
    fn restore(&mut self, accounts: &[Pubkey], before: Vec<Option<Account>>) {
        for (pubkey, before) in accounts.iter().zip(before) {
            if let Err(e) = self.chain.set_account(*pubkey, before.unwrap_or_default()) {
                tracing::error!(%pubkey, error = %e, "undoing the writes of a transaction that is not kept");
            }
        }
    }

    /// Whether the fee payer holds the transaction's whole fee.
    fn can_pay_fee(&self, tx: &VersionedTransaction) -> bool {
        let payer = tx.message.static_account_keys()[0];
        self.chain.get_balance(&payer).unwrap_or(0) >= fees::total_fee(&tx.message)
    }

    /// Sends `lamports` from the dev faucet, as solana-test-validator's faucet does.
    pub fn request_airdrop(&mut self, to: &Pubkey, lamports: u64) -> RpcResult<Sent> {
        let ix = solana_system_interface::instruction::transfer(&self.faucet.pubkey(), to, lamports);
        let message = Message::new(&[ix], Some(&self.faucet.pubkey()));
        let tx = Transaction::new(&[&self.faucet], message, self.latest_blockhash().0);
        let sent = self.send_transaction(VersionedTransaction::from(tx), false)?;
        // A second identical airdrop in this slot must not be a duplicate.
        self.new_blockhash();
        Ok(sent)
    }

    /// Signs `message` with `signers` at the latest blockhash and sends it (bootstrap).
    pub fn send_signed(
        &mut self,
        instructions: &[solana_instruction::Instruction],
        signers: &[&Keypair],
    ) -> RpcResult<Sent> {
        let message = Message::new(instructions, Some(&signers[0].pubkey()));
        let tx = Transaction::new(signers, message, self.latest_blockhash().0);
        self.send_transaction(VersionedTransaction::from(tx), false)
    }
}

/// What a simulation saw, for simulateTransaction and preflight errors.
#[derive(Debug, Default, Clone)]
pub struct Simulation {
    pub logs: Vec<String>,
    pub units_consumed: u64,
    pub return_data: Option<(Pubkey, Vec<u8>)>,
    pub inner_instructions: Vec<InnerInstructions>,
    pub post_accounts: Vec<(Pubkey, Account)>,
}

pub fn preflight_failure(err: TransactionError, simulation: Simulation) -> RpcError {
    RpcError::new(rpc_error::SEND_TRANSACTION_PREFLIGHT_FAILURE, format!("Transaction simulation failed: {err}"))
        .with_data(json!({
            "err": err,
            "logs": simulation.logs,
            "accounts": null,
            "unitsConsumed": simulation.units_consumed,
            "returnData": null,
            "innerInstructions": null,
            "replacementBlockhash": null,
            "loadedAccountsDataSize": null,
        }))
}

fn return_data(data: &solana_transaction_context::TransactionReturnData) -> Option<(Pubkey, Vec<u8>)> {
    (!data.data.is_empty()).then(|| (data.program_id, data.data.clone()))
}

fn inner_instructions(list: solana_message::inner_instruction::InnerInstructionsList) -> Vec<InnerInstructions> {
    list.into_iter()
        .enumerate()
        .filter(|(_, ixs)| !ixs.is_empty())
        .map(|(index, ixs)| InnerInstructions {
            index: index as u8,
            instructions: ixs
                .into_iter()
                .map(|ix| InnerInstruction {
                    instruction: ix.instruction,
                    stack_height: Some(u32::from(ix.stack_height)),
                })
                .collect(),
        })
        .collect()
}
