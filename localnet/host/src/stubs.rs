//! Syscall stubs for natively compiled programs.
//!
//! While a native program runs, [`enter`] publishes a pointer to the current
//! `InvokeContext` in a thread-local; every stub resolves it and acts on the
//! transaction being executed. Outside a native program the stubs behave like
//! the upstream defaults (print to stdout, no sysvars).

use std::cell::{Cell, RefCell};
use std::ptr::NonNull;
use std::sync::Once;

use solana_clock::Clock;
use solana_instruction::error::InstructionError;
use solana_instruction::Instruction;
use solana_program::account_info::AccountInfo;
use solana_program::entrypoint::ProgramResult;
use solana_program::program_stubs::{set_syscall_stubs, SyscallStubs};
use solana_program_runtime::invoke_context::InvokeContext;
use solana_program_runtime::stable_log;
use solana_program_runtime::sysvar_cache::SysvarCache;
use solana_pubkey::Pubkey;

/// Return codes of the sysvar syscalls (as in `solana_program::sysvar`).
const SUCCESS: u64 = 0;
const OFFSET_LENGTH_EXCEEDS_SYSVAR: u64 = 1;
const SYSVAR_NOT_FOUND: u64 = 2;
const UNSUPPORTED_SYSVAR: u64 = solana_instruction::error::UNSUPPORTED_SYSVAR;

thread_local! {
    static CURRENT: Cell<Option<NonNull<InvokeContext<'static>>>> = const { Cell::new(None) };
    /// An error raised by a syscall that aborts the program on SBF (a failed
    /// CPI, bad signer seeds, running out of compute). The builtin returns it
    /// whatever the program does with the stub's error value.
    static ABORT: RefCell<Option<InstructionError>> = const { RefCell::new(None) };
}

/// Installs the stubs once per process.
pub fn install() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        set_syscall_stubs(Box::new(NativeHostStubs));
        solana_msg::set_native_log_hook(log_message);
    });
}

/// Publishes `invoke_context` to the stubs until the guard drops. Nested native
/// invocations (CPI into another native program) stack and unwind in order.
pub(crate) fn enter(invoke_context: &mut InvokeContext) -> Entered {
    let ptr = NonNull::from(invoke_context).cast::<InvokeContext<'static>>();
    Entered { previous: CURRENT.with(|c| c.replace(Some(ptr))), previous_abort: ABORT.with(|a| a.borrow_mut().take()) }
}

pub(crate) struct Entered {
    previous: Option<NonNull<InvokeContext<'static>>>,
    previous_abort: Option<InstructionError>,
}

impl Entered {
    /// The error a syscall raised during this invocation, if any.
    pub(crate) fn take_abort(&self) -> Option<InstructionError> {
        ABORT.with(|a| a.borrow_mut().take())
    }
}

impl Drop for Entered {
    fn drop(&mut self) {
        CURRENT.with(|c| c.set(self.previous));
        let previous = self.previous_abort.take();
        ABORT.with(|a| *a.borrow_mut() = previous);
    }
}

/// Records an error that must fail the running instruction (first one wins).
pub(crate) fn abort(error: InstructionError) {
    ABORT.with(|a| {
        let mut slot = a.borrow_mut();
        if slot.is_none() {
            *slot = Some(error);
        }
    });
}

/// Runs `f` on the invoke context of the native program running on this thread.
pub(crate) fn with_invoke_context<R>(f: impl FnOnce(&mut InvokeContext<'static>) -> R) -> Option<R> {
    let ptr = CURRENT.with(|c| c.get())?;
    // SAFETY: the pointer was published by `enter` from a live `&mut
    // InvokeContext` whose builtin frame is below us on this thread's stack and
    // does not touch the context until the program returns.
    Some(f(unsafe { &mut *ptr.as_ptr() }))
}

fn log_message(message: &str) {
    if with_invoke_context(|ic| stable_log::program_log(&ic.get_log_collector(), message)).is_none() {
        println!("{message}");
    }
}

fn copy_sysvar<T: Clone>(
    var_addr: *mut u8,
    get: impl FnOnce(&SysvarCache) -> Result<std::sync::Arc<T>, InstructionError>,
) -> u64 {
    with_invoke_context(|ic| match get(ic.get_sysvar_cache()) {
        Ok(value) => {
            // SAFETY: the caller passes a pointer to a `T` (the sysvar's own type).
            unsafe { std::ptr::write_unaligned(var_addr as *mut T, (*value).clone()) };
            SUCCESS
        }
        Err(_) => UNSUPPORTED_SYSVAR,
    })
    .unwrap_or(UNSUPPORTED_SYSVAR)
}

struct NativeHostStubs;

impl SyscallStubs for NativeHostStubs {
    fn sol_log(&self, message: &str) {
        log_message(message);
    }

    fn sol_log_data(&self, fields: &[&[u8]]) {
        if with_invoke_context(|ic| stable_log::program_data(&ic.get_log_collector(), fields)).is_none() {
            println!("data: {fields:?}");
        }
    }

    fn sol_log_compute_units(&self) {
        with_invoke_context(|ic| {
            let remaining = solana_program_runtime::solana_sbpf::vm::ContextObject::get_remaining(ic);
            stable_log::program_log(
                &ic.get_log_collector(),
                &format!("Program consumption: {remaining} units remaining"),
            );
        });
    }

    fn sol_remaining_compute_units(&self) -> u64 {
        with_invoke_context(|ic| solana_program_runtime::solana_sbpf::vm::ContextObject::get_remaining(ic)).unwrap_or(0)
    }

    fn sol_invoke_signed(
        &self,
        instruction: &Instruction,
        account_infos: &[AccountInfo],
        signers_seeds: &[&[&[u8]]],
    ) -> ProgramResult {
        with_invoke_context(|ic| crate::cpi::invoke_signed(ic, instruction, account_infos, signers_seeds))
            .unwrap_or(Err(solana_program::program_error::ProgramError::UnsupportedSysvar))
    }

    fn sol_get_sysvar(&self, sysvar_id_addr: *const u8, var_addr: *mut u8, offset: u64, length: u64) -> u64 {
        // SAFETY: the caller passes a pointer to a 32-byte sysvar id.
        let sysvar_id = unsafe { std::ptr::read_unaligned(sysvar_id_addr as *const Pubkey) };
        with_invoke_context(|ic| {
            let Some(buffer) = ic.get_sysvar_cache().sysvar_id_to_buffer(&sysvar_id) else {
                return SYSVAR_NOT_FOUND;
            };
            let (Ok(offset), Ok(length)) = (usize::try_from(offset), usize::try_from(length)) else {
                return OFFSET_LENGTH_EXCEEDS_SYSVAR;
            };
            match offset.checked_add(length).and_then(|end| buffer.get(offset..end)) {
                Some(bytes) => {
                    // SAFETY: the caller passes a buffer of `length` bytes.
                    unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), var_addr, length) };
                    SUCCESS
                }
                None => OFFSET_LENGTH_EXCEEDS_SYSVAR,
            }
        })
        .unwrap_or(SYSVAR_NOT_FOUND)
    }

    fn sol_get_clock_sysvar(&self, var_addr: *mut u8) -> u64 {
        copy_sysvar::<Clock>(var_addr, |c| c.get_clock())
    }

    fn sol_get_epoch_schedule_sysvar(&self, var_addr: *mut u8) -> u64 {
        copy_sysvar(var_addr, |c| c.get_epoch_schedule())
    }

    fn sol_get_rent_sysvar(&self, var_addr: *mut u8) -> u64 {
        copy_sysvar(var_addr, |c| c.get_rent())
    }

    fn sol_get_epoch_rewards_sysvar(&self, var_addr: *mut u8) -> u64 {
        copy_sysvar(var_addr, |c| c.get_epoch_rewards())
    }

    fn sol_get_last_restart_slot(&self, var_addr: *mut u8) -> u64 {
        copy_sysvar(var_addr, |c| c.get_last_restart_slot())
    }

    fn sol_get_return_data(&self) -> Option<(Pubkey, Vec<u8>)> {
        with_invoke_context(|ic| {
            let (program_id, data) = ic.transaction_context.get_return_data();
            (!data.is_empty()).then(|| (*program_id, data.to_vec()))
        })
        .flatten()
    }

    fn sol_set_return_data(&self, data: &[u8]) {
        with_invoke_context(|ic| {
            let program_id = ic
                .transaction_context
                .get_current_instruction_context()
                .and_then(|ix| ix.get_last_program_key(ic.transaction_context).copied());
            let result = program_id.and_then(|id| ic.transaction_context.set_return_data(id, data.to_vec()));
            if let Err(err) = result {
                abort(err);
            }
        });
    }

    fn sol_get_stack_height(&self) -> u64 {
        with_invoke_context(|ic| ic.get_stack_height() as u64).unwrap_or(0)
    }
}
