//! Native programs hosted as *upgradeable* programs: the accounts look exactly
//! as `solana program deploy` leaves them, while execution goes to native code.
//!
//! What this guarantees: the program account at the program id is owned by the
//! BPF upgradeable loader and holds `UpgradeableLoaderState::Program {
//! programdata_address }`; the ProgramData account (the PDA of the program id
//! under the loader) holds `UpgradeableLoaderState::ProgramData { slot,
//! upgrade_authority_address }`. A program that checks its upgrade authority
//! (Anchor's `Program::programdata_address` plus `Account<ProgramData>`) reads
//! the same bytes as on a cluster, and the loader's own management
//! instructions (SetAuthority, Close...) work on these accounts unchanged.
//!
//! How the runtime is made to run native code for such a program (Agave 2.3):
//!
//! - `InvokeContext::process_executable_chain` runs the builtin found in the
//!   program cache under the program account's *owner* when that owner is a
//!   loader: for an upgradeable program, the builtin under the upgradeable
//!   loader's id, i.e. solana-bpf-loader-program's `Entrypoint`.
//! - That entrypoint looks the program id up in the program cache and runs only
//!   `Loaded` SBF executables (a `Builtin` entry there is refused with
//!   `IncorrectProgramId`), so no cache entry under the program id alone can
//!   route an upgradeable program to native code.
//! - The host therefore replaces the builtin under the loader id with
//!   [`UpgradeableLoader`]: an instruction whose program account is owned by
//!   the upgradeable loader and has a native entry registered goes to
//!   [`NativeProgram`](crate::builtin::NativeProgram), the same path a
//!   native-loader builtin takes; everything else (instructions addressed to the
//!   loader itself, real SBF programs) goes to the loader's `Entrypoint`.
//! - LiteSVM, like a validator, verifies the code behind a program account when
//!   the account is stored, so ProgramData must hold a verifiable SBF ELF. It
//!   holds [`placeholder_elf`]: two instructions (`mov64 r0, 1; exit`) that
//!   would fail with custom error 1 if an SBF VM ever ran them. The wrapper
//!   never lets one run them for a natively hosted program.

use solana_account::Account;
use solana_loader_v3_interface::state::UpgradeableLoaderState;
use solana_program_runtime::invoke_context::InvokeContext;
use solana_program_runtime::solana_sbpf::declare_builtin_function;
use solana_program_runtime::solana_sbpf::memory_region::MemoryMapping;
use solana_pubkey::Pubkey;
use solana_sdk_ids::bpf_loader_upgradeable;

use crate::builtin::{self, NativeProgram};

pub use solana_loader_v3_interface::get_program_data_address;

declare_builtin_function!(
    /// The upgradeable loader as the host runs it: natively hosted programs
    /// owned by the loader run their native entry, everything else runs the
    /// real loader.
    UpgradeableLoader,
    fn rust(
        invoke_context: &mut InvokeContext,
        arg0: u64,
        arg1: u64,
        arg2: u64,
        arg3: u64,
        arg4: u64,
        memory_mapping: &mut MemoryMapping,
    ) -> Result<u64, Box<dyn std::error::Error>> {
        if runs_natively(invoke_context)? {
            NativeProgram::rust(invoke_context, arg0, arg1, arg2, arg3, arg4, memory_mapping)
        } else {
            solana_bpf_loader_program::Entrypoint::rust(invoke_context, arg0, arg1, arg2, arg3, arg4, memory_mapping)
        }
    }
);

/// True when the instruction's program is an upgradeable-loader-owned account
/// with a native entry; false for instructions addressed to the loader itself
/// (their program account is owned by the native loader) and for SBF programs.
fn runs_natively(invoke_context: &InvokeContext) -> Result<bool, Box<dyn std::error::Error>> {
    let transaction_context = &invoke_context.transaction_context;
    let instruction_context = transaction_context.get_current_instruction_context()?;
    let program = instruction_context.try_borrow_last_program_account(transaction_context)?;
    Ok(bpf_loader_upgradeable::check_id(program.get_owner()) && builtin::is_registered(program.get_key()))
}

/// The smallest SBF (v0) ELF the loader accepts: a `.text` section holding
/// `mov64 r0, 1; exit` (a failure with custom error 1), its entry point at the
/// first instruction, and the section-name table. Stored in ProgramData so the
/// program account verifies; the native entry runs instead.
pub fn placeholder_elf() -> Vec<u8> {
    const EHDR_SIZE: usize = 64;
    const SHDR_SIZE: usize = 64;
    const SHT_PROGBITS: u32 = 1;
    const SHT_STRTAB: u32 = 3;
    const SHF_ALLOC_EXECINSTR: u64 = 0x2 | 0x4;
    const EM_BPF: u16 = 247;
    const ET_DYN: u16 = 3;

    let text: [u8; 16] = [
        0xb7, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, // mov64 r0, 1
        0x95, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // exit
    ];
    let names: &[u8] = b"\0.text\0.shstrtab\0";
    let text_offset = EHDR_SIZE;
    let names_offset = text_offset + text.len();
    let section_headers_offset = (names_offset + names.len()).next_multiple_of(8);

    let mut elf = Vec::with_capacity(section_headers_offset + 3 * SHDR_SIZE);
    elf.extend_from_slice(&[0x7f, b'E', b'L', b'F', 2, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0]); // 64-bit, LSB, v1, SysV
    elf.extend_from_slice(&ET_DYN.to_le_bytes());
    elf.extend_from_slice(&EM_BPF.to_le_bytes());
    elf.extend_from_slice(&1u32.to_le_bytes()); // e_version
    elf.extend_from_slice(&(text_offset as u64).to_le_bytes()); // e_entry: .text's address
    elf.extend_from_slice(&0u64.to_le_bytes()); // e_phoff: no program headers
    elf.extend_from_slice(&(section_headers_offset as u64).to_le_bytes());
    elf.extend_from_slice(&0u32.to_le_bytes()); // e_flags: SBPF v0
    elf.extend_from_slice(&(EHDR_SIZE as u16).to_le_bytes());
    elf.extend_from_slice(&56u16.to_le_bytes()); // e_phentsize
    elf.extend_from_slice(&0u16.to_le_bytes()); // e_phnum
    elf.extend_from_slice(&(SHDR_SIZE as u16).to_le_bytes());
    elf.extend_from_slice(&3u16.to_le_bytes()); // e_shnum: null, .text, .shstrtab
    elf.extend_from_slice(&2u16.to_le_bytes()); // e_shstrndx
    elf.extend_from_slice(&text);
    elf.extend_from_slice(names);
    elf.resize(section_headers_offset, 0);

    let mut section = |name: u32, kind: u32, flags: u64, address: u64, offset: usize, size: usize, align: u64| {
        elf.extend_from_slice(&name.to_le_bytes());
        elf.extend_from_slice(&kind.to_le_bytes());
        elf.extend_from_slice(&flags.to_le_bytes());
        elf.extend_from_slice(&address.to_le_bytes());
        elf.extend_from_slice(&(offset as u64).to_le_bytes());
        elf.extend_from_slice(&(size as u64).to_le_bytes());
        elf.extend_from_slice(&0u32.to_le_bytes()); // sh_link
        elf.extend_from_slice(&0u32.to_le_bytes()); // sh_info
        elf.extend_from_slice(&align.to_le_bytes());
        elf.extend_from_slice(&0u64.to_le_bytes()); // sh_entsize
    };
    section(0, 0, 0, 0, 0, 0, 0);
    section(1, SHT_PROGBITS, SHF_ALLOC_EXECINSTR, text_offset as u64, text_offset, text.len(), 8);
    section(7, SHT_STRTAB, 0, 0, names_offset, names.len(), 1);
    elf
}

/// The program account and the ProgramData account (with its address) of an
/// upgradeable program deployed at `slot`, rent-exempt at `rent_exempt(len)`.
pub fn program_accounts(
    program_id: &Pubkey,
    upgrade_authority: Option<Pubkey>,
    slot: u64,
    rent_exempt: impl Fn(usize) -> u64,
) -> (Account, Pubkey, Account) {
    let programdata_address = get_program_data_address(program_id);
    let program_data = bincode::serialize(&UpgradeableLoaderState::Program { programdata_address })
        .expect("UpgradeableLoaderState serializes");
    let mut programdata_data =
        bincode::serialize(&UpgradeableLoaderState::ProgramData { slot, upgrade_authority_address: upgrade_authority })
            .expect("UpgradeableLoaderState serializes");
    // bincode writes `None` in one byte; the loader keeps the metadata at its
    // fixed size so the code always starts at the same offset.
    programdata_data.resize(UpgradeableLoaderState::size_of_programdata_metadata(), 0);
    programdata_data.extend_from_slice(&placeholder_elf());
    let owner = bpf_loader_upgradeable::id();
    let program = Account {
        lamports: rent_exempt(program_data.len()),
        data: program_data,
        owner,
        executable: true,
        rent_epoch: 0,
    };
    let programdata = Account {
        lamports: rent_exempt(programdata_data.len()),
        data: programdata_data,
        owner,
        executable: false,
        rent_epoch: 0,
    };
    (program, programdata_address, programdata)
}

/// The upgrade authority a ProgramData account names: `None` when the account
/// is not ProgramData, `Some(None)` when the program is immutable.
pub fn upgrade_authority_of(programdata: &Account) -> Option<Option<Pubkey>> {
    if !bpf_loader_upgradeable::check_id(&programdata.owner) {
        return None;
    }
    match bincode::deserialize(&programdata.data).ok()? {
        UpgradeableLoaderState::ProgramData { upgrade_authority_address, .. } => Some(upgrade_authority_address),
        _ => None,
    }
}
