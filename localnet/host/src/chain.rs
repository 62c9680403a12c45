//! A LiteSVM ledger that can host native programs, with the clock controls a
//! local node and tests need.

use std::ops::{Deref, DerefMut};

use litesvm::error::LiteSVMError;
use litesvm::LiteSVM;
use solana_account::Account;
use solana_clock::Clock;
use solana_pubkey::Pubkey;

use crate::builtin::{self, NativeProgram, ProgramEntry};
use crate::upgradeable;

#[derive(Debug, thiserror::Error)]
pub enum ChainError {
    #[error("ledger rejected the account: {0}")]
    Account(#[from] LiteSVMError),
    #[error("the loader {0} is not in this ledger")]
    MissingLoader(Pubkey),
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
    pub fn add_native_program(
        &mut self,
        program_id: Pubkey,
        name: &str,
        entry: ProgramEntry,
    ) -> Result<(), ChainError> {
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

    /// Hosts `entry` at `program_id` as an upgradeable program, the way
    /// `solana program deploy` leaves one: the program account is owned by the
    /// BPF upgradeable loader and points at its ProgramData, whose upgrade
    /// authority is `upgrade_authority` (`None`: immutable). The loader under
    /// this chain is wrapped so the program still runs `entry` natively; see
    /// [`crate::upgradeable`].
    pub fn add_native_upgradeable_program(
        &mut self,
        program_id: Pubkey,
        entry: ProgramEntry,
        upgrade_authority: Option<Pubkey>,
    ) -> Result<(), ChainError> {
        builtin::register(program_id, entry);
        self.wrap_upgradeable_loader()?;
        let slot = self.clock().slot;
        let (program, programdata_address, programdata) =
            upgradeable::program_accounts(&program_id, upgrade_authority, slot, |len| {
                self.svm.minimum_balance_for_rent_exemption(len)
            });
        // ProgramData first: storing the program account loads the code it names.
        self.svm.set_account(programdata_address, programdata)?;
        self.svm.set_account(program_id, program)?;
        Ok(())
    }

    /// Puts [`upgradeable::UpgradeableLoader`] in the program cache under the
    /// upgradeable loader's id. LiteSVM's `add_builtin` also overwrites the
    /// loader's account with a BPF-loader-owned stub, which transactions would
    /// refuse as a program owner, so the native-loader account is put back.
    fn wrap_upgradeable_loader(&mut self) -> Result<(), ChainError> {
        let loader_id = solana_sdk_ids::bpf_loader_upgradeable::id();
        let loader_account = self.svm.get_account(&loader_id).ok_or(ChainError::MissingLoader(loader_id))?;
        self.svm.add_builtin(loader_id, upgradeable::UpgradeableLoader::vm);
        self.svm.set_account(loader_id, loader_account)?;
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
