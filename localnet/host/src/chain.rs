//! A LiteSVM ledger that can host native programs, with the clock controls a
//! local node and tests need.

use std::ops::{Deref, DerefMut};

use litesvm::error::LiteSVMError;
use litesvm::LiteSVM;
use solana_account::Account;
use solana_clock::Clock;
use solana_pubkey::Pubkey;

use crate::builtin::{self, NativeProgram, ProgramEntry};

#[derive(Debug, thiserror::Error)]
pub enum ChainError {
    #[error("ledger rejected the account: {0}")]
    Account(#[from] LiteSVMError),
}

/// LiteSVM plus native programs. Derefs to [`LiteSVM`] for everything else.
pub struct Chain {
    svm: LiteSVM,
}

impl Default for Chain {
    fn default() -> Self {
        Self::new()
    }
}

impl Chain {
    /// A ledger with Agave's builtins, sysvars, precompiles, the SPL programs
    /// LiteSVM ships, signature and blockhash checks on, all features enabled.
    pub fn new() -> Self {
        Self::from_svm(LiteSVM::new())
    }

    pub fn from_svm(svm: LiteSVM) -> Self {
        crate::stubs::install();
        Self { svm }
    }

    /// Hosts `entry` at `program_id`, as a builtin owned by the native loader
    /// (how Agave represents builtins), so transactions can invoke it.
    pub fn add_native_program(&mut self, program_id: Pubkey, name: &str, entry: ProgramEntry) -> Result<(), ChainError> {
        builtin::register(program_id, entry);
        self.svm.add_builtin(program_id, NativeProgram::vm);
        self.svm.set_account(
            program_id,
            Account {
                lamports: 1,
                data: name.as_bytes().to_vec(),
                owner: solana_sdk_ids::native_loader::id(),
                executable: true,
                rent_epoch: 0,
            },
        )?;
        Ok(())
    }

    pub fn clock(&self) -> Clock {
        self.svm.get_sysvar::<Clock>()
    }

    /// Moves the cluster clock: `seconds` of unix time and `slots` slots forward.
    pub fn advance_clock(&mut self, seconds: i64, slots: u64) {
        let mut clock = self.clock();
        clock.unix_timestamp = clock.unix_timestamp.saturating_add(seconds);
        clock.slot = clock.slot.saturating_add(slots);
        self.svm.set_sysvar(&clock);
    }

    pub fn set_unix_timestamp(&mut self, unix_timestamp: i64) {
        let mut clock = self.clock();
        clock.unix_timestamp = unix_timestamp;
        self.svm.set_sysvar(&clock);
    }

    pub fn into_svm(self) -> LiteSVM {
        self.svm
    }
}

impl Deref for Chain {
    type Target = LiteSVM;
    fn deref(&self) -> &LiteSVM {
        &self.svm
    }
}

impl DerefMut for Chain {
    fn deref_mut(&mut self) -> &mut LiteSVM {
        &mut self.svm
    }
}
