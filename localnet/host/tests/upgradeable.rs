//! A native program hosted as an upgradeable program: its accounts are the
//! upgradeable loader's, its instructions run the native entry, and the
//! instructions addressed to the loader itself still run the real loader.

use native_host::upgradeable::{get_program_data_address, upgrade_authority_of};
use native_host::Chain;
use solana_instruction::{AccountMeta, Instruction};
use solana_keypair::Keypair;
use solana_message::Message;
use solana_program::account_info::AccountInfo;
use solana_program::entrypoint::ProgramResult;
use solana_pubkey::Pubkey;
use solana_signer::Signer;
use solana_transaction::Transaction;

fn entry<'a>(program_id: &'a Pubkey, accounts: &'a [AccountInfo<'a>], _data: &'a [u8]) -> ProgramResult {
    solana_msg::msg!("native entry of {} owned by {}", program_id, accounts[0].owner);
    Ok(())
}

fn send(chain: &mut Chain, ixs: &[Instruction], signer: &Keypair) -> Vec<String> {
    let tx = Transaction::new(&[signer], Message::new(ixs, Some(&signer.pubkey())), chain.latest_blockhash());
    let result = chain.send_transaction(tx);
    chain.expire_blockhash();
    match result {
        Ok(meta) => meta.logs,
        Err(failed) => panic!("transaction failed: {:?}\n{:#?}", failed.err, failed.meta.logs),
    }
}

#[test]
fn the_native_entry_runs_and_the_loader_still_manages_the_program() {
    let program_id = Pubkey::new_unique();
    let authority = Keypair::new();
    let successor = Pubkey::new_unique();
    let mut chain = Chain::new();
    chain.airdrop(&authority.pubkey(), 10_000_000_000).expect("airdrop");
    chain.add_native_upgradeable_program(program_id, entry, Some(authority.pubkey())).expect("host the program");

    let loader = solana_sdk_ids::bpf_loader_upgradeable::id();
    let program = chain.get_account(&program_id).expect("program account");
    assert_eq!(program.owner, loader);
    assert!(program.executable);
    let programdata = get_program_data_address(&program_id);
    assert_eq!(
        upgrade_authority_of(&chain.get_account(&programdata).expect("ProgramData")),
        Some(Some(authority.pubkey()))
    );

    // The program's own instruction runs the native entry, which sees its
    // program account owned by the loader.
    let ix = Instruction { program_id, accounts: vec![AccountMeta::new_readonly(program_id, false)], data: vec![] };
    let logs = send(&mut chain, &[ix], &authority);
    assert!(logs.contains(&format!("Program log: native entry of {program_id} owned by {loader}")), "logs: {logs:#?}");
    assert_eq!(logs.last(), Some(&format!("Program {program_id} success")), "logs: {logs:#?}");

    // SetAuthority is addressed to the loader: the real loader runs it.
    let ix = solana_loader_v3_interface::instruction::set_upgrade_authority(
        &program_id,
        &authority.pubkey(),
        Some(&successor),
    );
    let logs = send(&mut chain, &[ix], &authority);
    assert!(logs.iter().any(|l| l.contains(&format!("New authority Some({successor})"))), "logs: {logs:#?}");
    assert_eq!(upgrade_authority_of(&chain.get_account(&programdata).expect("ProgramData")), Some(Some(successor)));
}

#[test]
fn the_placeholder_code_is_a_verifiable_sbf_program() {
    // Storing the program account makes LiteSVM load and verify the ELF in
    // ProgramData; a bad ELF would be refused here.
    let mut chain = Chain::new();
    chain
        .add_native_upgradeable_program(Pubkey::new_unique(), entry, None)
        .expect("the placeholder ELF loads and verifies");
}
