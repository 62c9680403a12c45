//! Config, trainers and the pause switch: initialize_config (upgrade authority
//! only), the two-step admin handover (propose_admin, accept_admin),
//! register_trainer, deactivate_trainer, set_paused, and what pausing blocks
//! and allows.
mod common;
use common::*;
use mirror::{AdminChanged, AdminProposed, ConfigInitialized, PauseChanged, TrainerDeactivated, TrainerRegistered};
use native_host::upgradeable;

// --- initialize_config -------------------------------------------------------

#[test]
fn initialize_config_creates_config_with_the_signer_as_admin() {
    let mut env = Env::bare();
    let now = env.tick();
    let admin = env.admin.insecure_clone();
    let meta = env.send(&[initialize_config_ix(&admin.pubkey())], &[&admin]).expect("initialize_config");

    let config = env.config();
    assert_eq!(config.admin, admin.pubkey());
    assert_eq!(config.pending_admin, Pubkey::default());
    assert!(!config.paused);
    assert_eq!(config.mirror_count, 0);
    assert_eq!(config.trainer_count, 0);
    assert_eq!(config.job_count, 0);
    assert_eq!(config.model_count, 0);
    assert_eq!(config.bump, bump_of(&[mirror::CONFIG_SEED]));

    let ev: ConfigInitialized = event(&meta);
    assert_eq!(ev.config, config_pda());
    assert_eq!(ev.admin, admin.pubkey());
    assert_eq!(ev.timestamp, now);
    assert_ne!(ev.timestamp, GENESIS_UNIX_TIME);
    assert_sbf_log(&meta, "InitializeConfig");
}

#[test]
fn initialize_config_twice_is_refused_as_account_in_use() {
    let mut env = Env::new();
    let admin = env.admin.insecure_clone();
    let result = env.send(&[initialize_config_ix(&admin.pubkey())], &[&admin]);
    assert_instruction_error(result, ACCOUNT_ALREADY_IN_USE);
}

#[test]
fn initialize_config_by_someone_else_cannot_take_over_admin() {
    let mut env = Env::new();
    let mallory = env.funded("mallory");
    let result = env.send(&[initialize_config_ix(&mallory.pubkey())], &[&mallory]);
    assert_instruction_error(result, ACCOUNT_ALREADY_IN_USE);
    assert_eq!(env.config().admin, env.admin.pubkey());
}

#[test]
fn the_host_deploys_the_program_as_upgradeable_with_the_test_admin_as_authority() {
    let env = Env::bare();
    let program = env.chain.get_account(&mirror::ID).expect("program account");
    assert_eq!(program.owner, anchor_lang::solana_program::bpf_loader_upgradeable::ID);
    assert!(program.executable);
    let programdata = env.chain.get_account(&program_data_pda()).expect("ProgramData account");
    assert_eq!(upgradeable::upgrade_authority_of(&programdata), Some(Some(env.admin.pubkey())));
}

#[test]
fn initialize_config_by_a_stranger_first_is_refused_and_the_upgrade_authority_still_can() {
    let mut env = Env::bare();
    let mallory = env.funded("mallory");
    let result = env.send(&[initialize_config_ix(&mallory.pubkey())], &[&mallory]);
    assert_mirror_error(result, MirrorError::NotUpgradeAuthority);
    assert!(!env.exists(&config_pda()), "a refused initialize_config must leave no Config");

    let admin = env.admin.insecure_clone();
    env.send(&[initialize_config_ix(&admin.pubkey())], &[&admin]).expect("initialize_config");
    assert_eq!(env.config().admin, admin.pubkey());
}

#[test]
fn initialize_config_with_another_programs_program_data_is_refused() {
    let mut env = Env::bare();
    let mallory = env.funded("mallory");
    // A real ProgramData, of a program mallory deployed herself.
    let other_program = keypair("mallory's program").pubkey();
    let (_, address, programdata) = upgradeable::program_accounts(&other_program, Some(mallory.pubkey()), 0, |_| SOL);
    env.chain.set_account(address, programdata).expect("store mallory's ProgramData");

    let result = env.send(&[initialize_config_with_program_data_ix(&mallory.pubkey(), &address)], &[&mallory]);
    assert_mirror_error(result, MirrorError::ProgramDataMismatch);
    assert!(!env.exists(&config_pda()));
}

#[test]
fn initialize_config_with_a_forged_program_data_is_refused() {
    let mut env = Env::bare();
    let mallory = env.funded("mallory");
    // ProgramData's bytes naming mallory, in an account the loader does not own.
    let (_, _, mut forged) = upgradeable::program_accounts(&mirror::ID, Some(mallory.pubkey()), 0, |_| SOL);
    forged.owner = system_program();
    let address = keypair("forged program data").pubkey();
    env.chain.set_account(address, forged).expect("store the forgery");

    let result = env.send(&[initialize_config_with_program_data_ix(&mallory.pubkey(), &address)], &[&mallory]);
    assert_instruction_error(result, anchor_error(anchor_lang::error::ErrorCode::AccountOwnedByWrongProgram));
    assert!(!env.exists(&config_pda()));
}

#[test]
fn initialize_config_is_refused_when_the_program_is_immutable() {
    let mut env = Env::bare();
    let (_, address, immutable) = upgradeable::program_accounts(&mirror::ID, None, 0, |_| SOL);
    env.chain.set_account(address, immutable).expect("drop the upgrade authority");
    let admin = env.admin.insecure_clone();
    let result = env.send(&[initialize_config_ix(&admin.pubkey())], &[&admin]);
    assert_mirror_error(result, MirrorError::NotUpgradeAuthority);
}

// --- propose_admin / accept_admin ----------------------------------------------

#[test]
fn propose_then_accept_hands_the_admin_role_over() {
    let mut env = Env::new();
    let admin = env.admin.insecure_clone();
    let bob = env.funded("bob");

    let proposed_at = env.tick();
    let meta = env.propose_admin(&admin, &bob.pubkey()).expect("propose_admin");
    let config = env.config();
    assert_eq!(config.admin, admin.pubkey(), "proposing changes nothing yet");
    assert_eq!(config.pending_admin, bob.pubkey());
    let ev: AdminProposed = event(&meta);
    assert_eq!(ev.config, config_pda());
    assert_eq!(ev.admin, admin.pubkey());
    assert_eq!(ev.proposed_admin, bob.pubkey());
    assert_eq!(ev.timestamp, proposed_at);
    assert_sbf_log(&meta, "ProposeAdmin");

    let accepted_at = env.tick();
    let meta = env.accept_admin(&bob).expect("accept_admin");
    let config = env.config();
    assert_eq!(config.admin, bob.pubkey());
    assert_eq!(config.pending_admin, Pubkey::default());
    let ev: AdminChanged = event(&meta);
    assert_eq!(ev.config, config_pda());
    assert_eq!(ev.previous_admin, admin.pubkey());
    assert_eq!(ev.new_admin, bob.pubkey());
    assert_eq!(ev.timestamp, accepted_at);
    assert_sbf_log(&meta, "AcceptAdmin");
}

#[test]
fn accept_admin_by_someone_other_than_the_proposed_admin_is_refused() {
    let mut env = Env::new();
    let admin = env.admin.insecure_clone();
    let bob = env.funded("bob");
    let mallory = env.funded("mallory");
    env.propose_admin(&admin, &bob.pubkey()).expect("propose_admin");

    assert_mirror_error(env.accept_admin(&mallory), MirrorError::NotPendingAdmin);
    assert_mirror_error(env.accept_admin(&admin), MirrorError::NotPendingAdmin);
    let config = env.config();
    assert_eq!(config.admin, admin.pubkey());
    assert_eq!(config.pending_admin, bob.pubkey(), "a refused acceptance leaves the proposal pending");
}

#[test]
fn accept_admin_with_nothing_pending_is_refused() {
    let mut env = Env::new();
    let bob = env.funded("bob");
    assert_mirror_error(env.accept_admin(&bob), MirrorError::NoPendingAdmin);
    assert_eq!(env.config().admin, env.admin.pubkey());
}

#[test]
fn the_previous_admin_loses_every_admin_power_after_the_handover() {
    let mut env = Env::new();
    let admin = env.admin.insecure_clone();
    let bob = env.funded("bob");
    env.propose_admin(&admin, &bob.pubkey()).expect("propose_admin");
    env.accept_admin(&bob).expect("accept_admin");

    let trainer = keypair("trainer");
    let key = encryption_key("trainer");
    let refused = [
        env.send(&[set_paused_ix(&admin.pubkey(), true)], &[&admin]),
        env.send(&[register_trainer_ix(&admin.pubkey(), &trainer.pubkey(), key)], &[&admin]),
        env.propose_admin(&admin, &admin.pubkey()),
    ];
    for result in refused {
        assert_mirror_error(result, MirrorError::NotAdmin);
    }

    env.send(&[set_paused_ix(&bob.pubkey(), true)], &[&bob]).expect("the new admin pauses");
    env.send(&[register_trainer_ix(&bob.pubkey(), &trainer.pubkey(), key)], &[&bob]).expect("the new admin registers");
    assert!(env.config().paused);
}

#[test]
fn proposing_the_default_address_withdraws_a_pending_proposal() {
    let mut env = Env::new();
    let admin = env.admin.insecure_clone();
    let bob = env.funded("bob");
    env.propose_admin(&admin, &bob.pubkey()).expect("propose_admin");

    let meta = env.propose_admin(&admin, &Pubkey::default()).expect("withdraw");
    let ev: AdminProposed = event(&meta);
    assert_eq!(ev.proposed_admin, Pubkey::default());
    assert_eq!(env.config().pending_admin, Pubkey::default());
    assert_mirror_error(env.accept_admin(&bob), MirrorError::NoPendingAdmin);
    assert_eq!(env.config().admin, admin.pubkey());
}

#[test]
fn a_new_proposal_replaces_the_pending_one() {
    let mut env = Env::new();
    let admin = env.admin.insecure_clone();
    let bob = env.funded("bob");
    let carol = env.funded("carol");
    env.propose_admin(&admin, &bob.pubkey()).expect("propose bob");
    env.propose_admin(&admin, &carol.pubkey()).expect("propose carol");
    assert_mirror_error(env.accept_admin(&bob), MirrorError::NotPendingAdmin);
    env.accept_admin(&carol).expect("carol accepts");
    assert_eq!(env.config().admin, carol.pubkey());
}

#[test]
fn propose_admin_by_non_admin_is_refused() {
    let mut env = Env::new();
    let mallory = env.funded("mallory");
    assert_mirror_error(env.propose_admin(&mallory, &mallory.pubkey()), MirrorError::NotAdmin);
    assert_eq!(env.config().pending_admin, Pubkey::default());
}

#[test]
fn the_handover_works_while_paused() {
    let mut env = Env::new();
    let admin = env.admin.insecure_clone();
    let bob = env.funded("bob");
    env.set_paused(true).expect("pause");
    env.propose_admin(&admin, &bob.pubkey()).expect("propose while paused");
    env.accept_admin(&bob).expect("accept while paused");
    env.send(&[set_paused_ix(&bob.pubkey(), false)], &[&bob]).expect("the new admin unpauses");
    assert!(!env.config().paused);
}

// --- register_trainer ----------------------------------------------------------

#[test]
fn register_trainer_creates_an_active_trainer() {
    let mut env = Env::new();
    let trainer = keypair("trainer");
    let key = encryption_key("trainer");
    let now = env.tick();
    let meta = env.register_trainer(&trainer.pubkey(), key).expect("register_trainer");

    let address = trainer_pda(&trainer.pubkey());
    let account = env.account::<Trainer>(&address);
    assert_eq!(account.authority, trainer.pubkey());
    assert_eq!(account.encryption_key, key);
    assert!(account.active);
    assert_eq!(account.registered_at, now);
    assert_eq!(account.updated_at, now);
    assert_eq!(account.bump, bump_of(&[mirror::TRAINER_SEED, trainer.pubkey().as_ref()]));
    assert_eq!(env.config().trainer_count, 1);

    let ev: TrainerRegistered = event(&meta);
    assert_eq!(ev.trainer, address);
    assert_eq!(ev.authority, trainer.pubkey());
    assert_eq!(ev.encryption_key, key);
    assert_eq!(ev.timestamp, now);
    assert_sbf_log(&meta, "RegisterTrainer");
}

#[test]
fn register_trainer_by_non_admin_is_refused() {
    let mut env = Env::new();
    let mallory = env.funded("mallory");
    let result =
        env.send(&[register_trainer_ix(&mallory.pubkey(), &mallory.pubkey(), encryption_key("mallory"))], &[&mallory]);
    assert_mirror_error(result, MirrorError::NotAdmin);
    assert!(!env.exists(&trainer_pda(&mallory.pubkey())));
    assert_eq!(env.config().trainer_count, 0);
}

#[test]
fn register_trainer_with_zero_encryption_key_is_refused() {
    let mut env = Env::new();
    let trainer = keypair("trainer");
    let result = env.register_trainer(&trainer.pubkey(), [0u8; 32]);
    assert_mirror_error(result, MirrorError::InvalidEncryptionKey);
    assert!(!env.exists(&trainer_pda(&trainer.pubkey())));
}

#[test]
fn register_trainer_again_reactivates_a_deactivated_trainer_with_the_new_key() {
    let mut env = Env::new();
    let trainer = keypair("trainer");
    let registered_at = env.tick();
    env.register_trainer(&trainer.pubkey(), encryption_key("old")).expect("register");
    env.tick();
    env.deactivate_trainer(&trainer.pubkey()).expect("deactivate");

    let now = env.tick();
    let rotated = encryption_key("rotated");
    let meta = env.register_trainer(&trainer.pubkey(), rotated).expect("register again");

    let account = env.account::<Trainer>(&trainer_pda(&trainer.pubkey()));
    assert_eq!(account.authority, trainer.pubkey());
    assert_eq!(account.encryption_key, rotated);
    assert!(account.active);
    assert_eq!(account.registered_at, registered_at);
    assert_eq!(account.updated_at, now);
    assert_eq!(env.config().trainer_count, 1, "re-registration is not a new trainer");

    let ev: TrainerRegistered = event(&meta);
    assert_eq!(ev.encryption_key, rotated);
    assert_eq!(ev.timestamp, now);
}

#[test]
fn reactivated_trainer_can_start_jobs_again() {
    let mut env = Env::new();
    let (owner, mirror) = env.owner_with_mirror("alice");
    let trainer = env.active_trainer("trainer");
    env.deactivate_trainer(&trainer.pubkey()).expect("deactivate");
    let job = env.job_in(JobStatus::Requested, &owner, &mirror, &trainer);
    assert_mirror_error(env.start_training(&trainer, &mirror, &job), MirrorError::TrainerInactive);

    env.register_trainer(&trainer.pubkey(), encryption_key("rotated")).expect("register again");
    env.start_training(&trainer, &mirror, &job).expect("start after re-activation");
    assert_eq!(env.job(&job).status, JobStatus::Running);
}

#[test]
fn register_trainer_refuses_the_default_authority() {
    // The default address marks an unregistered Trainer account, so it can never be a trainer.
    let mut env = Env::new();
    let result = env.register_trainer(&Pubkey::default(), encryption_key("first"));
    assert_mirror_error(result, MirrorError::InvalidTrainerAuthority);
    assert_eq!(env.config().trainer_count, 0);
}

// --- deactivate_trainer --------------------------------------------------------

#[test]
fn deactivate_trainer_marks_it_inactive() {
    let mut env = Env::new();
    let trainer = env.active_trainer("trainer");
    let registered_at = env.now();
    let now = env.tick();
    let meta = env.deactivate_trainer(&trainer.pubkey()).expect("deactivate_trainer");

    let address = trainer_pda(&trainer.pubkey());
    let account = env.account::<Trainer>(&address);
    assert!(!account.active);
    assert_eq!(account.authority, trainer.pubkey());
    assert_eq!(account.encryption_key, encryption_key("trainer"));
    assert_eq!(account.registered_at, registered_at);
    assert_eq!(account.updated_at, now);
    assert_eq!(env.config().trainer_count, 1);

    let ev: TrainerDeactivated = event(&meta);
    assert_eq!(ev.trainer, address);
    assert_eq!(ev.authority, trainer.pubkey());
    assert_eq!(ev.timestamp, now);
    assert_sbf_log(&meta, "DeactivateTrainer");
}

#[test]
fn deactivate_trainer_by_non_admin_is_refused() {
    let mut env = Env::new();
    let trainer = env.active_trainer("trainer");
    let mallory = env.funded("mallory");
    let result = env.send(&[deactivate_trainer_ix(&mallory.pubkey(), &trainer.pubkey())], &[&mallory]);
    assert_mirror_error(result, MirrorError::NotAdmin);
    assert!(env.account::<Trainer>(&trainer_pda(&trainer.pubkey())).active);
}

#[test]
fn deactivate_trainer_twice_is_refused() {
    let mut env = Env::new();
    let trainer = env.active_trainer("trainer");
    env.deactivate_trainer(&trainer.pubkey()).expect("deactivate");
    assert_mirror_error(env.deactivate_trainer(&trainer.pubkey()), MirrorError::TrainerInactive);
}

#[test]
fn deactivate_unregistered_trainer_is_refused_as_not_initialized() {
    let mut env = Env::new();
    let nobody = keypair("nobody");
    let result = env.deactivate_trainer(&nobody.pubkey());
    assert_instruction_error(result, anchor_error(anchor_lang::error::ErrorCode::AccountNotInitialized));
}

// --- set_paused ---------------------------------------------------------------

#[test]
fn set_paused_pauses_and_unpauses() {
    let mut env = Env::new();
    let now = env.tick();
    let meta = env.set_paused(true).expect("pause");
    assert!(env.config().paused);
    let ev: PauseChanged = event(&meta);
    assert_eq!(ev.config, config_pda());
    assert_eq!(ev.admin, env.admin.pubkey());
    assert!(ev.paused);
    assert_eq!(ev.timestamp, now);
    assert_sbf_log(&meta, "SetPaused");

    let now = env.tick();
    let meta = env.set_paused(false).expect("unpause");
    let config = env.config();
    assert!(!config.paused);
    assert_eq!(config.admin, env.admin.pubkey());
    let ev: PauseChanged = event(&meta);
    assert!(!ev.paused);
    assert_eq!(ev.timestamp, now);
}

#[test]
fn set_paused_by_non_admin_is_refused() {
    let mut env = Env::new();
    let mallory = env.funded("mallory");
    let result = env.send(&[set_paused_ix(&mallory.pubkey(), true)], &[&mallory]);
    assert_mirror_error(result, MirrorError::NotAdmin);
    assert!(!env.config().paused);
}

// --- what pausing blocks ----------------------------------------------------------

#[test]
fn paused_program_refuses_create_mirror() {
    let mut env = Env::new();
    let alice = env.funded("alice");
    env.set_paused(true).expect("pause");
    assert_mirror_error(env.create_mirror(&alice, 1, "alice", Visibility::Public), MirrorError::ProgramPaused);
    assert!(!env.exists(&mirror_pda(&alice.pubkey(), 1)));
}

#[test]
fn paused_program_refuses_update_mirror() {
    let mut env = Env::new();
    let (alice, mirror) = env.owner_with_mirror("alice");
    env.set_paused(true).expect("pause");
    let result = env.update_mirror(&alice, &mirror, None, Changes::name("renamed"));
    assert_mirror_error(result, MirrorError::ProgramPaused);
    assert_eq!(env.mirror(&mirror).name, "alice");
}

#[test]
fn paused_program_refuses_transfer_mirror() {
    let mut env = Env::new();
    let (alice, mirror) = env.owner_with_mirror("alice");
    let bob = keypair("bob");
    env.set_paused(true).expect("pause");
    assert_mirror_error(env.transfer_mirror(&alice, &mirror, &bob.pubkey()), MirrorError::ProgramPaused);
    assert_eq!(env.mirror(&mirror).owner, alice.pubkey());
}

#[test]
fn paused_program_refuses_grant_access() {
    let mut env = Env::new();
    let (alice, mirror) = env.owner_with_mirror("alice");
    let bob = keypair("bob");
    env.set_paused(true).expect("pause");
    assert_mirror_error(env.grant(&alice, &mirror, &bob.pubkey(), PERM_VIEW, 0), MirrorError::ProgramPaused);
    assert!(!env.exists(&grant_pda(&mirror, &bob.pubkey())));
}

#[test]
fn paused_program_refuses_request_training() {
    let mut env = Env::new();
    let (alice, mirror) = env.owner_with_mirror("alice");
    env.set_paused(true).expect("pause");
    assert_mirror_error(env.request_training(&alice, &mirror, None), MirrorError::ProgramPaused);
    assert_eq!(env.mirror(&mirror).job_count, 0);
}

#[test]
fn paused_program_refuses_start_training() {
    let mut env = Env::new();
    let (alice, mirror) = env.owner_with_mirror("alice");
    let trainer = env.active_trainer("trainer");
    let job = env.job_in(JobStatus::Requested, &alice, &mirror, &trainer);
    env.set_paused(true).expect("pause");
    assert_mirror_error(env.start_training(&trainer, &mirror, &job), MirrorError::ProgramPaused);
    assert_eq!(env.job(&job).status, JobStatus::Requested);
}

// --- what stays possible while paused -----------------------------------------------

#[test]
fn paused_program_still_allows_revoke_access() {
    let mut env = Env::new();
    let (alice, mirror) = env.owner_with_mirror("alice");
    let bob = keypair("bob");
    env.grant(&alice, &mirror, &bob.pubkey(), PERM_VIEW, 0).expect("grant");
    env.set_paused(true).expect("pause");
    let grant = grant_pda(&mirror, &bob.pubkey());
    env.revoke(&alice, &mirror, &grant).expect("revoke while paused");
    assert!(!env.exists(&grant));
}

#[test]
fn paused_program_still_allows_cancel_training() {
    let mut env = Env::new();
    let (alice, mirror) = env.owner_with_mirror("alice");
    let trainer = env.active_trainer("trainer");
    let job = env.job_in(JobStatus::Running, &alice, &mirror, &trainer);
    env.set_paused(true).expect("pause");
    env.cancel_training(&alice, &mirror, &job).expect("cancel while paused");
    assert_eq!(env.job(&job).status, JobStatus::Cancelled);
}

#[test]
fn paused_program_still_allows_freeze_mirror() {
    let mut env = Env::new();
    let (alice, mirror) = env.owner_with_mirror("alice");
    env.set_paused(true).expect("pause");
    env.freeze_mirror(&alice, &mirror).expect("freeze while paused");
    assert_eq!(env.mirror(&mirror).status, MirrorStatus::Frozen);
}

#[test]
fn paused_program_still_allows_complete_training() {
    let mut env = Env::new();
    let (alice, mirror) = env.owner_with_mirror("alice");
    let trainer = env.active_trainer("trainer");
    let job = env.job_in(JobStatus::Running, &alice, &mirror, &trainer);
    env.set_paused(true).expect("pause");
    env.complete_training(&trainer, &mirror, &job).expect("complete while paused");
    assert_eq!(env.job(&job).status, JobStatus::Completed);
    assert_eq!(env.mirror(&mirror).model_version, 1);
    assert!(env.exists(&model_pda(&mirror, 1)));
}

#[test]
fn paused_program_still_allows_fail_training() {
    let mut env = Env::new();
    let (alice, mirror) = env.owner_with_mirror("alice");
    let trainer = env.active_trainer("trainer");
    let job = env.job_in(JobStatus::Running, &alice, &mirror, &trainer);
    env.set_paused(true).expect("pause");
    env.fail_training(&trainer, &job, mirror::FAIL_OTHER).expect("fail while paused");
    let job = env.job(&job);
    assert_eq!(job.status, JobStatus::Failed);
    assert_eq!(job.failure_code, mirror::FAIL_OTHER);
}

#[test]
fn unpausing_allows_state_changes_again() {
    let mut env = Env::new();
    let alice = env.funded("alice");
    env.set_paused(true).expect("pause");
    assert_mirror_error(env.create_mirror(&alice, 1, "alice", Visibility::Public), MirrorError::ProgramPaused);
    env.set_paused(false).expect("unpause");
    env.create_mirror(&alice, 1, "alice", Visibility::Public).expect("create after unpause");
    assert_eq!(env.config().mirror_count, 1);
}

// --- counters -------------------------------------------------------------------

#[test]
fn config_counts_mirrors_trainers_jobs_and_models() {
    let mut env = Env::new();
    let (alice, alice_mirror) = env.owner_with_mirror("alice");
    let (bob, bob_mirror) = env.owner_with_mirror("bob");
    let t1 = env.active_trainer("trainer-1");
    let t2 = env.active_trainer("trainer-2");
    // Re-registering and refused instructions count nothing.
    env.register_trainer(&t1.pubkey(), encryption_key("again")).expect("re-register");
    assert_mirror_error(env.create_mirror(&alice, 2, "", Visibility::Public), MirrorError::NameEmpty);
    let config = env.config();
    assert_eq!((config.mirror_count, config.trainer_count, config.job_count, config.model_count), (2, 2, 0, 0));

    env.job_in(JobStatus::Completed, &alice, &alice_mirror, &t1);
    env.job_in(JobStatus::Failed, &bob, &bob_mirror, &t2);
    env.job_in(JobStatus::Completed, &bob, &bob_mirror, &t2);
    env.job_in(JobStatus::Requested, &alice, &alice_mirror, &t1);

    let config = env.config();
    assert_eq!(config.mirror_count, 2);
    assert_eq!(config.trainer_count, 2);
    assert_eq!(config.job_count, 4);
    assert_eq!(config.model_count, 2);
    assert_eq!(env.mirror(&alice_mirror).job_count, 2);
    assert_eq!(env.mirror(&bob_mirror).job_count, 2);
}
