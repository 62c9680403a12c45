//! Drop-in replacement for `solana-msg` 2.2 (patched in via the workspace's
//! `[patch.crates-io]`).
//!
//! On SBF it is the same thing as upstream: `sol_log` is the `sol_log_` syscall.
//! Natively upstream calls `println!`, so a program hosted as a builtin would
//! lose every `Program log:` line. Here the native path calls a hook that the
//! host installs (`set_native_log_hook`), falling back to stdout when none is.

/// Print a message to the log (same contract as upstream `solana_msg::msg!`).
#[macro_export]
macro_rules! msg {
    ($msg:expr) => {
        $crate::sol_log($msg)
    };
    ($($arg:tt)*) => ($crate::sol_log(&format!($($arg)*)));
}

#[cfg(target_os = "solana")]
pub mod syscalls;

/// Print a string to the log.
#[inline]
pub fn sol_log(message: &str) {
    #[cfg(target_os = "solana")]
    unsafe {
        syscalls::sol_log_(message.as_ptr(), message.len() as u64);
    }

    #[cfg(not(target_os = "solana"))]
    native::log(message);
}

#[cfg(not(target_os = "solana"))]
pub use native::set_native_log_hook;

#[cfg(not(target_os = "solana"))]
mod native {
    use std::sync::OnceLock;

    static HOOK: OnceLock<fn(&str)> = OnceLock::new();

    /// Install the function that receives every native `msg!`. First caller
    /// wins; returns false if a different hook was already installed.
    pub fn set_native_log_hook(hook: fn(&str)) -> bool {
        let installed = *HOOK.get_or_init(|| hook);
        std::ptr::fn_addr_eq(installed, hook)
    }

    pub(crate) fn log(message: &str) {
        match HOOK.get() {
            Some(hook) => hook(message),
            None => println!("{message}"),
        }
    }
}
