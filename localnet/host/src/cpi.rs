//! Cross-program invocation from a native program, following the SBF `sol_invoke_signed`
//! syscall: charge invoke units, derive PDA signers, push the caller's account
//! changes into the transaction, run the callee, and pull its changes back into
//! the caller's `AccountInfo`s (including data length changes within the
//! realloc padding that the serialized input buffer reserves).

use solana_instruction::error::InstructionError;
use solana_instruction::Instruction;
use solana_program::account_info::AccountInfo;
use solana_program::entrypoint::ProgramResult;
use solana_program::program_error::ProgramError;
use solana_program_runtime::invoke_context::InvokeContext;
use solana_pubkey::Pubkey;
use solana_transaction_context::BorrowedAccount;

use crate::stubs::abort;

pub(crate) fn invoke_signed(
    invoke_context: &mut InvokeContext,
    instruction: &Instruction,
    account_infos: &[AccountInfo],
    signers_seeds: &[&[&[u8]]],
) -> ProgramResult {
    run(invoke_context, instruction, account_infos, signers_seeds).map_err(|error| {
        // On SBF a failed CPI aborts the caller with the callee's error.
        abort(error.clone());
        ProgramError::try_from(error).unwrap_or(ProgramError::Custom(u32::MAX))
    })
}

fn run(
    invoke_context: &mut InvokeContext,
    instruction: &Instruction,
    account_infos: &[AccountInfo],
    signers_seeds: &[&[&[u8]]],
) -> Result<(), InstructionError> {
    invoke_context
        .consume_checked(invoke_context.get_execution_cost().invoke_units)
        .map_err(|_| InstructionError::ComputationalBudgetExceeded)?;

    let caller_program_id = {
        let transaction_context = &invoke_context.transaction_context;
        *transaction_context.get_current_instruction_context()?.get_last_program_key(transaction_context)?
    };
    let signers = signers_seeds
        .iter()
        .map(|seeds| Pubkey::create_program_address(seeds, &caller_program_id))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| InstructionError::InvalidSeeds)?;

    // Every account the callee sees must be one the caller passed in.
    let mut shared = Vec::with_capacity(instruction.accounts.len());
    for meta in &instruction.accounts {
        let info =
            account_infos.iter().find(|info| *info.key == meta.pubkey).ok_or(InstructionError::MissingAccount)?;
        if !shared.iter().any(|(i, _): &(&AccountInfo, bool)| i.key == info.key) {
            shared.push((info, meta.is_writable));
        }
    }

    for (info, _) in &shared {
        push_caller_changes(invoke_context, info)?;
    }
    invoke_context.native_invoke(instruction.clone().into(), &signers)?;
    for (info, callee_writable) in &shared {
        if *callee_writable {
            pull_callee_changes(invoke_context, info)?;
        }
    }
    Ok(())
}

/// Caller → transaction: what the caller changed in its buffer so far.
fn push_caller_changes(invoke_context: &InvokeContext, info: &AccountInfo) -> Result<(), InstructionError> {
    let mut account = caller_account(invoke_context, info.key)?;
    if !account.is_writable() {
        return Ok(());
    }
    let lamports = **info.try_borrow_lamports().map_err(|_| InstructionError::AccountBorrowFailed)?;
    if account.get_lamports() != lamports {
        account.set_lamports(lamports)?;
    }
    {
        let data = info.try_borrow_data().map_err(|_| InstructionError::AccountBorrowFailed)?;
        if account.get_data() != &data[..] {
            account.set_data_from_slice(&data)?;
        }
    }
    if account.get_owner() != info.owner {
        account.set_owner(info.owner.as_ref())?;
    }
    Ok(())
}

/// Transaction → caller: what the callee changed.
fn pull_callee_changes(invoke_context: &InvokeContext, info: &AccountInfo) -> Result<(), InstructionError> {
    let account = caller_account(invoke_context, info.key)?;

    **info.try_borrow_mut_lamports().map_err(|_| InstructionError::AccountBorrowFailed)? = account.get_lamports();
    if account.get_owner() != info.owner {
        info.assign(account.get_owner());
    }
    let new_data = account.get_data();
    if new_data.len() != info.data_len() {
        // Fails past MAX_PERMITTED_DATA_INCREASE over the serialized length, as on SBF.
        info.resize(new_data.len()).map_err(|_| InstructionError::InvalidRealloc)?;
    }
    info.try_borrow_mut_data().map_err(|_| InstructionError::AccountBorrowFailed)?.copy_from_slice(new_data);
    Ok(())
}

/// The caller's view of `key` in the transaction.
fn caller_account<'a>(
    invoke_context: &'a InvokeContext,
    key: &Pubkey,
) -> Result<BorrowedAccount<'a>, InstructionError> {
    let transaction_context = &*invoke_context.transaction_context;
    let instruction_context = transaction_context.get_current_instruction_context()?;
    let index = instruction_context
        .find_index_of_instruction_account(transaction_context, key)
        .ok_or(InstructionError::MissingAccount)?;
    instruction_context.try_borrow_instruction_account(transaction_context, index)
}
