//! One file per instruction: its `Accounts` struct and its handler.
#![allow(ambiguous_glob_reexports)]

pub mod accept_admin;
pub mod cancel_training;
pub mod complete_training;
pub mod create_mirror;
pub mod deactivate_trainer;
pub mod fail_training;
pub mod freeze_mirror;
pub mod grant_access;
pub mod initialize_config;
pub mod propose_admin;
pub mod register_trainer;
pub mod request_training;
pub mod revoke_access;
pub mod set_paused;
pub mod start_training;
pub mod transfer_mirror;
pub mod update_mirror;

pub use accept_admin::*;
pub use cancel_training::*;
pub use complete_training::*;
pub use create_mirror::*;
pub use deactivate_trainer::*;
pub use fail_training::*;
pub use freeze_mirror::*;
pub use grant_access::*;
pub use initialize_config::*;
pub use propose_admin::*;
pub use register_trainer::*;
pub use request_training::*;
pub use revoke_access::*;
pub use set_paused::*;
pub use start_training::*;
pub use transfer_mirror::*;
pub use update_mirror::*;

use anchor_lang::prelude::*;

/// The cluster's unix time, as every event and timestamp records it.
pub(crate) fn now() -> Result<i64> {
    Ok(Clock::get()?.unix_timestamp)
}
