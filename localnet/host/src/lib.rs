//! Native host: runs Solana programs compiled for the host CPU (not SBF) as
//! builtins inside Agave's runtime, through LiteSVM.
//!
//! An SBF program talks to the runtime through syscalls. Compiled natively, the
//! same calls land in `solana_program::program_stubs` (sysvars, CPI, return
//! data, `sol_log_data`) and in `solana_msg::sol_log` (`msg!`, patched in by the
//! workspace). This crate installs stubs that forward each of them to the
//! `InvokeContext` of the instruction being executed, so a native run logs,
//! invokes and reads sysvars exactly as an SBF run does.
//!
//! - [`builtin`]: the builtin entrypoint that serializes accounts the way the
//!   BPF loader does, calls the program's `entry`, and writes results back.
//! - [`stubs`]: the syscall stubs and the per-thread "current invoke context".
//! - [`cpi`]: cross-program invocation from native code.
//! - [`upgradeable`]: native programs hosted as upgradeable-loader programs
//!   (program account + ProgramData with an upgrade authority), and the loader
//!   wrapper that still runs their native entry.
//! - [`chain`]: a LiteSVM with native programs registered, plus clock control.

pub mod builtin;
pub mod chain;
pub mod cpi;
pub mod stubs;
pub mod upgradeable;

pub use builtin::ProgramEntry;
pub use chain::{Chain, ChainError};
pub use litesvm;
