//! The builtin entrypoint shared by every native program.
//!
//! It does what the BPF loader does around a VM run: serialize the
//! instruction's accounts into the aligned input buffer, hand that buffer to
//! the program's entrypoint (via `solana_program::entrypoint::deserialize`, so
//! `AccountInfo` pointers, realloc padding and original lengths are laid out as
//! on chain), then validate and write the results back into the transaction.

use std::collections::HashMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{LazyLock, RwLock};

use solana_instruction::error::InstructionError;
use solana_log_collector::ic_logger_msg;
use solana_program::account_info::AccountInfo;
use solana_program::entrypoint::ProgramResult;
use solana_program_runtime::declare_process_instruction;
use solana_program_runtime::invoke_context::InvokeContext;
use solana_program_runtime::serialization::{deserialize_parameters, serialize_parameters};
use solana_program_runtime::solana_sbpf::vm::ContextObject;
use solana_program_runtime::stable_log;
use solana_pubkey::Pubkey;

use crate::stubs;

/// A program's native entrypoint, e.g. the `entry` function Anchor generates.
pub type ProgramEntry = for<'a> fn(&'a Pubkey, &'a [AccountInfo<'a>], &'a [u8]) -> ProgramResult;

/// Compute units charged per native instruction. Native code cannot be metered
/// instruction by instruction; this keeps budgets and the "consumed" log line
/// meaningful (the one visible difference from an SBF run).
pub const NATIVE_INSTRUCTION_UNITS: u64 = 5_000;

static PROGRAMS: LazyLock<RwLock<HashMap<Pubkey, ProgramEntry>>> = LazyLock::new(Default::default);

/// Makes `entry` the code behind `program_id` for every chain in this process.
pub(crate) fn register(program_id: Pubkey, entry: ProgramEntry) {
    stubs::install();
    PROGRAMS.write().unwrap_or_else(|poisoned| poisoned.into_inner()).insert(program_id, entry);
}

pub(crate) fn is_registered(program_id: &Pubkey) -> bool {
    lookup(program_id).is_some()
}

fn lookup(program_id: &Pubkey) -> Option<ProgramEntry> {
    PROGRAMS.read().unwrap_or_else(|poisoned| poisoned.into_inner()).get(program_id).copied()
}

declare_process_instruction!(NativeProgram, 0, |invoke_context| { execute(invoke_context) });

fn execute(invoke_context: &mut InvokeContext) -> Result<(), InstructionError> {
    let log_collector = invoke_context.get_log_collector();
    let units_before = invoke_context.get_remaining();
    let (program_id, entry) = {
        let transaction_context = &invoke_context.transaction_context;
        let instruction_context = transaction_context.get_current_instruction_context()?;
        let program_id = *instruction_context.get_last_program_key(transaction_context)?;
        let entry = lookup(&program_id).ok_or(InstructionError::UnsupportedProgramId)?;
        (program_id, entry)
    };
    invoke_context
        .consume_checked(NATIVE_INSTRUCTION_UNITS)
        .map_err(|_| InstructionError::ComputationalBudgetExceeded)?;

    let mask_rent_epoch = invoke_context.get_feature_set().mask_out_rent_epoch_in_vm_serialization;
    let (mut parameters, _regions, accounts_metadata) = {
        let transaction_context = &invoke_context.transaction_context;
        let instruction_context = transaction_context.get_current_instruction_context()?;
        serialize_parameters(transaction_context, instruction_context, true, mask_rent_epoch)?
    };

    let (outcome, aborted) = {
        let guard = stubs::enter(invoke_context);
        let input = parameters.as_slice_mut().as_mut_ptr();
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            // SAFETY: `input` is a buffer laid out by `serialize_parameters`,
            // exactly what an SBF entrypoint receives; it outlives the call.
            let (program_id, accounts, data) = unsafe { solana_program::entrypoint::deserialize(input) };
            entry(program_id, &accounts, data)
        }));
        (outcome, guard.take_abort())
    };

    let consumed = units_before.saturating_sub(invoke_context.get_remaining());
    ic_logger_msg!(log_collector, "Program {} consumed {} of {} compute units", program_id, consumed, units_before);

    if let Some(error) = aborted {
        return Err(error);
    }
    match outcome {
        Ok(Ok(())) => {
            let transaction_context = &invoke_context.transaction_context;
            let instruction_context = transaction_context.get_current_instruction_context()?;
            deserialize_parameters(
                transaction_context,
                instruction_context,
                true,
                parameters.as_slice(),
                &accounts_metadata,
            )
        }
        Ok(Err(program_error)) => Err(InstructionError::from(u64::from(program_error))),
        Err(panic) => {
            let message = panic
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| panic.downcast_ref::<&str>().copied())
                .unwrap_or("unknown panic");
            stable_log::program_log(&log_collector, &format!("panicked at: {message}"));
            Err(InstructionError::ProgramFailedToComplete)
        }
    }
}
