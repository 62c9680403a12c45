//! Test harness: a native-host chain with the Mirror program, funded keypairs,
//! instruction builders, signed transactions, event decoding from log lines and
//! error assertions. Every test file starts with `mod common; use common::*;`.
#![allow(dead_code)]
// TxResult is LiteSVM's own result type: a failure carries the whole
// transaction metadata (logs included), which the assertions print.
#![allow(clippy::result_large_err)]

pub use anchor_lang::prelude::Pubkey;
#[allow(unused_imports)]
pub use anchor_lang::Space;
use anchor_lang::{AccountDeserialize, AnchorDeserialize, Discriminator, InstructionData, ToAccountMetas};
use base64::Engine;
pub use native_host::litesvm::types::{FailedTransactionMetadata, TransactionMetadata};
use native_host::Chain;
pub use solana_instruction::error::InstructionError;
pub use solana_instruction::Instruction;
pub use solana_keypair::Keypair;
use solana_message::Message;
pub use solana_signer::Signer;
use solana_transaction::Transaction;
use solana_transaction_error::TransactionError;

/// What tests name most often; not every test file uses all of it.
#[allow(unused_imports)]
pub use mirror::{
    accounts, instruction, AccessGrant, Config, JobStatus, Mirror, MirrorError, MirrorStatus, ModelVersion, Trainer,
    TrainingJob, TrainingMetrics, TrainingParams, Visibility, PERM_ALL, PERM_INFER, PERM_MANAGE, PERM_TRAIN, PERM_VIEW,
};

pub const SOL: u64 = 1_000_000_000;
/// Fixed start time so that captured fixtures are reproducible.
pub const GENESIS_UNIX_TIME: i64 = 1_767_225_600; // 2026-01-01T00:00:00Z

pub type TxResult = Result<TransactionMetadata, FailedTransactionMetadata>;

pub struct Env {
    pub chain: Chain,
    pub admin: Keypair,
}

/// A keypair derived from a label, so addresses are the same on every run.
pub fn keypair(label: &str) -> Keypair {
    use sha2::Digest;
    let seed: [u8; 32] = sha2::Sha256::digest(label.as_bytes()).into();
    Keypair::new_from_array(seed)
}

/// A non-zero X25519-sized key derived from a label.
pub fn encryption_key(label: &str) -> [u8; 32] {
    use sha2::Digest;
    sha2::Sha256::digest(format!("x25519:{label}").as_bytes()).into()
}

pub fn system_program() -> Pubkey {
    anchor_lang::system_program::ID
}

// --- addresses -----------------------------------------------------------

/// The program's ProgramData account under the upgradeable loader.
pub fn program_data_pda() -> Pubkey {
    native_host::upgradeable::get_program_data_address(&mirror::ID)
}
pub fn config_pda() -> Pubkey {
    Pubkey::find_program_address(&[mirror::CONFIG_SEED], &mirror::ID).0
}
pub fn trainer_pda(authority: &Pubkey) -> Pubkey {
    Pubkey::find_program_address(&[mirror::TRAINER_SEED, authority.as_ref()], &mirror::ID).0
}
pub fn mirror_pda(creator: &Pubkey, mirror_id: u64) -> Pubkey {
    Pubkey::find_program_address(&[mirror::MIRROR_SEED, creator.as_ref(), &mirror_id.to_le_bytes()], &mirror::ID).0
}
pub fn grant_pda(mirror: &Pubkey, grantee: &Pubkey) -> Pubkey {
    Pubkey::find_program_address(&[mirror::GRANT_SEED, mirror.as_ref(), grantee.as_ref()], &mirror::ID).0
}
pub fn job_pda(mirror: &Pubkey, job_id: u64) -> Pubkey {
    Pubkey::find_program_address(&[mirror::JOB_SEED, mirror.as_ref(), &job_id.to_le_bytes()], &mirror::ID).0
}
pub fn model_pda(mirror: &Pubkey, version: u32) -> Pubkey {
    Pubkey::find_program_address(&[mirror::MODEL_SEED, mirror.as_ref(), &version.to_le_bytes()], &mirror::ID).0
}
/// The canonical bump of a PDA, as the program stores it.
pub fn bump_of(seeds: &[&[u8]]) -> u8 {
    Pubkey::find_program_address(seeds, &mirror::ID).1
}

// --- fixtures --------------------------------------------------------------

pub fn params() -> TrainingParams {
    TrainingParams { epochs: 2, seq_len: 64, batch_size: 8, learning_rate_micros: 3_000, start_fresh: false }
}

pub fn metrics() -> TrainingMetrics {
    TrainingMetrics { final_loss_micros: 1_234_567, tokens_trained: 65_536 }
}

pub const WEIGHTS_SHA256: [u8; 32] = [7u8; 32];
pub const DATASET_CID: &str = "bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy";
pub const MODEL_CID: &str = "bafkreidvbhs33ighmljlvr7zbv2ywwzcmp5adtf4kqvlly67cy56bdtmve";

/// The metadata URI that `Env::create_mirror` stores.
pub fn metadata_uri(mirror_id: u64) -> String {
    format!("ipfs://meta/{mirror_id}")
}

// --- instruction builders (one per instruction, every argument explicit) ---

pub fn ix(accounts: impl ToAccountMetas, data: impl InstructionData) -> Instruction {
    Instruction { program_id: mirror::ID, accounts: accounts.to_account_metas(None), data: data.data() }
}

pub fn initialize_config_ix(admin: &Pubkey) -> Instruction {
    initialize_config_with_program_data_ix(admin, &program_data_pda())
}

/// initialize_config naming `program_data` as the program's ProgramData.
pub fn initialize_config_with_program_data_ix(admin: &Pubkey, program_data: &Pubkey) -> Instruction {
    ix(
        accounts::InitializeConfig {
            config: config_pda(),
            admin: *admin,
            program: mirror::ID,
            program_data: *program_data,
            system_program: system_program(),
        },
        instruction::InitializeConfig {},
    )
}

pub fn propose_admin_ix(admin: &Pubkey, new_admin: &Pubkey) -> Instruction {
    ix(
        accounts::ProposeAdmin { config: config_pda(), admin: *admin },
        instruction::ProposeAdmin { new_admin: *new_admin },
    )
}

pub fn accept_admin_ix(new_admin: &Pubkey) -> Instruction {
    ix(accounts::AcceptAdmin { config: config_pda(), new_admin: *new_admin }, instruction::AcceptAdmin {})
}

pub fn register_trainer_ix(admin: &Pubkey, authority: &Pubkey, key: [u8; 32]) -> Instruction {
    ix(
        accounts::RegisterTrainer {
            config: config_pda(),
            trainer: trainer_pda(authority),
            admin: *admin,
            system_program: system_program(),
        },
        instruction::RegisterTrainer { authority: *authority, encryption_key: key },
    )
}

pub fn deactivate_trainer_ix(admin: &Pubkey, authority: &Pubkey) -> Instruction {
    ix(
        accounts::DeactivateTrainer { config: config_pda(), trainer: trainer_pda(authority), admin: *admin },
        instruction::DeactivateTrainer {},
    )
}

pub fn set_paused_ix(admin: &Pubkey, paused: bool) -> Instruction {
    ix(accounts::SetPaused { config: config_pda(), admin: *admin }, instruction::SetPaused { paused })
}

pub fn create_mirror_ix(
    creator: &Pubkey,
    mirror_id: u64,
    name: &str,
    metadata_uri: &str,
    visibility: Visibility,
) -> Instruction {
    ix(
        accounts::CreateMirror {
            config: config_pda(),
            mirror: mirror_pda(creator, mirror_id),
            creator: *creator,
            system_program: system_program(),
        },
        instruction::CreateMirror {
            mirror_id,
            name: name.to_string(),
            metadata_uri: metadata_uri.to_string(),
            visibility,
        },
    )
}

/// What update_mirror changes; `None` leaves the field as it is.
#[derive(Clone, Default)]
pub struct Changes {
    pub name: Option<String>,
    pub metadata_uri: Option<String>,
    pub visibility: Option<Visibility>,
}

impl Changes {
    pub fn name(name: &str) -> Self {
        Self { name: Some(name.to_string()), ..Self::default() }
    }
    pub fn metadata_uri(uri: &str) -> Self {
        Self { metadata_uri: Some(uri.to_string()), ..Self::default() }
    }
    pub fn visibility(visibility: Visibility) -> Self {
        Self { visibility: Some(visibility), ..Self::default() }
    }
}

pub fn update_mirror_ix(authority: &Pubkey, mirror: &Pubkey, grant: Option<Pubkey>, changes: Changes) -> Instruction {
    ix(
        accounts::UpdateMirror { config: config_pda(), mirror: *mirror, grant, authority: *authority },
        instruction::UpdateMirror {
            name: changes.name,
            metadata_uri: changes.metadata_uri,
            visibility: changes.visibility,
        },
    )
}

pub fn transfer_mirror_ix(owner: &Pubkey, mirror: &Pubkey, new_owner: &Pubkey) -> Instruction {
    ix(
        accounts::TransferMirror { config: config_pda(), mirror: *mirror, owner: *owner },
        instruction::TransferMirror { new_owner: *new_owner },
    )
}

pub fn freeze_mirror_ix(owner: &Pubkey, mirror: &Pubkey) -> Instruction {
    ix(accounts::FreezeMirror { mirror: *mirror, owner: *owner }, instruction::FreezeMirror {})
}

pub fn grant_access_ix(
    owner: &Pubkey,
    mirror: &Pubkey,
    grantee: &Pubkey,
    permissions: u8,
    expires_at: i64,
) -> Instruction {
    ix(
        accounts::GrantAccess {
            config: config_pda(),
            mirror: *mirror,
            grant: grant_pda(mirror, grantee),
            owner: *owner,
            system_program: system_program(),
        },
        instruction::GrantAccess { grantee: *grantee, permissions, expires_at },
    )
}

pub fn revoke_access_ix(owner: &Pubkey, mirror: &Pubkey, grant: &Pubkey) -> Instruction {
    ix(accounts::RevokeAccess { mirror: *mirror, grant: *grant, owner: *owner }, instruction::RevokeAccess {})
}

pub fn request_training_ix(
    requester: &Pubkey,
    mirror: &Pubkey,
    job_id: u64,
    grant: Option<Pubkey>,
    dataset_cid: &str,
    params: TrainingParams,
) -> Instruction {
    ix(
        accounts::RequestTraining {
            config: config_pda(),
            mirror: *mirror,
            grant,
            job: job_pda(mirror, job_id),
            requester: *requester,
            system_program: system_program(),
        },
        instruction::RequestTraining { dataset_cid: dataset_cid.to_string(), params },
    )
}

pub fn cancel_training_ix(authority: &Pubkey, mirror: &Pubkey, job: &Pubkey) -> Instruction {
    ix(accounts::CancelTraining { mirror: *mirror, job: *job, authority: *authority }, instruction::CancelTraining {})
}

pub fn start_training_ix(authority: &Pubkey, mirror: &Pubkey, job: &Pubkey) -> Instruction {
    ix(
        accounts::StartTraining {
            config: config_pda(),
            mirror: *mirror,
            job: *job,
            trainer: trainer_pda(authority),
            authority: *authority,
        },
        instruction::StartTraining {},
    )
}

pub fn complete_training_ix(
    authority: &Pubkey,
    mirror: &Pubkey,
    job: &Pubkey,
    version: u32,
    model_cid: &str,
    weights_sha256: [u8; 32],
    metrics: TrainingMetrics,
) -> Instruction {
    ix(
        accounts::CompleteTraining {
            config: config_pda(),
            mirror: *mirror,
            job: *job,
            model: model_pda(mirror, version),
            trainer: trainer_pda(authority),
            authority: *authority,
            system_program: system_program(),
        },
        instruction::CompleteTraining { version, model_cid: model_cid.to_string(), weights_sha256, metrics },
    )
}

pub fn fail_training_ix(authority: &Pubkey, job: &Pubkey, reason_code: u16) -> Instruction {
    ix(
        accounts::FailTraining { job: *job, trainer: trainer_pda(authority), authority: *authority },
        instruction::FailTraining { reason_code },
    )
}

impl Env {
    /// A chain hosting the Mirror program natively, with an initialized config.
    pub fn new() -> Self {
        let mut env = Self::bare();
        let admin = env.admin.insecure_clone();
        env.send(&[initialize_config_ix(&admin.pubkey())], &[&admin]).expect("initialize_config");
        env
    }

    /// A chain hosting the program as an upgradeable program whose upgrade
    /// authority is the test admin, with nothing initialized.
    pub fn bare() -> Self {
        let admin = keypair("admin");
        let mut chain = Chain::new();
        chain
            .add_native_upgradeable_program(mirror::ID, mirror::entry, Some(admin.pubkey()))
            .expect("host the mirror program");
        chain.set_unix_timestamp(GENESIS_UNIX_TIME);
        chain.airdrop(&admin.pubkey(), 100 * SOL).expect("airdrop");
        Self { chain, admin }
    }

    pub fn funded(&mut self, label: &str) -> Keypair {
        let kp = keypair(label);
        self.chain.airdrop(&kp.pubkey(), 10 * SOL).expect("airdrop");
        kp
    }

    /// Signs with `signers` (the first pays) and sends. The blockhash is
    /// expired afterwards so an identical later transaction is not a duplicate.
    pub fn send(&mut self, ixs: &[Instruction], signers: &[&Keypair]) -> TxResult {
        let payer = signers[0].pubkey();
        let message = Message::new(ixs, Some(&payer));
        let tx = Transaction::new(signers, message, self.chain.latest_blockhash());
        let result = self.chain.send_transaction(tx);
        self.chain.expire_blockhash();
        result
    }

    pub fn account<T: AccountDeserialize>(&self, address: &Pubkey) -> T {
        let account = self.chain.get_account(address).unwrap_or_else(|| panic!("no account at {address}"));
        assert_eq!(account.owner, mirror::ID, "account {address} is not owned by the program");
        T::try_deserialize(&mut account.data.as_slice()).expect("decode account")
    }

    pub fn exists(&self, address: &Pubkey) -> bool {
        self.chain.get_account(address).is_some_and(|a| a.lamports > 0)
    }

    pub fn balance(&self, address: &Pubkey) -> u64 {
        self.chain.get_balance(address).unwrap_or(0)
    }

    pub fn now(&self) -> i64 {
        self.chain.clock().unix_timestamp
    }

    /// Moves the clock a minute (and 150 slots) on, so that timestamps written
    /// by the next transaction differ from earlier ones; returns the new time.
    pub fn tick(&mut self) -> i64 {
        self.chain.advance_clock(60, 150);
        self.now()
    }

    pub fn config(&self) -> Config {
        self.account::<Config>(&config_pda())
    }

    pub fn mirror(&self, address: &Pubkey) -> Mirror {
        self.account::<Mirror>(address)
    }

    pub fn job(&self, address: &Pubkey) -> TrainingJob {
        self.account::<TrainingJob>(address)
    }

    // --- instruction shortcuts: the usual arguments, signed by the actor ----

    pub fn register_trainer(&mut self, authority: &Pubkey, key: [u8; 32]) -> TxResult {
        let admin = self.admin.insecure_clone();
        self.send(&[register_trainer_ix(&admin.pubkey(), authority, key)], &[&admin])
    }

    pub fn deactivate_trainer(&mut self, authority: &Pubkey) -> TxResult {
        let admin = self.admin.insecure_clone();
        self.send(&[deactivate_trainer_ix(&admin.pubkey(), authority)], &[&admin])
    }

    pub fn set_paused(&mut self, paused: bool) -> TxResult {
        let admin = self.admin.insecure_clone();
        self.send(&[set_paused_ix(&admin.pubkey(), paused)], &[&admin])
    }

    pub fn propose_admin(&mut self, admin: &Keypair, new_admin: &Pubkey) -> TxResult {
        self.send(&[propose_admin_ix(&admin.pubkey(), new_admin)], &[admin])
    }

    pub fn accept_admin(&mut self, new_admin: &Keypair) -> TxResult {
        self.send(&[accept_admin_ix(&new_admin.pubkey())], &[new_admin])
    }

    /// Creates a mirror whose metadata URI is `metadata_uri(mirror_id)`.
    pub fn create_mirror(&mut self, creator: &Keypair, mirror_id: u64, name: &str, visibility: Visibility) -> TxResult {
        self.create_mirror_with(creator, mirror_id, name, &metadata_uri(mirror_id), visibility)
    }

    pub fn create_mirror_with(
        &mut self,
        creator: &Keypair,
        mirror_id: u64,
        name: &str,
        metadata_uri: &str,
        visibility: Visibility,
    ) -> TxResult {
        self.send(&[create_mirror_ix(&creator.pubkey(), mirror_id, name, metadata_uri, visibility)], &[creator])
    }

    pub fn update_mirror(
        &mut self,
        authority: &Keypair,
        mirror: &Pubkey,
        grant: Option<Pubkey>,
        changes: Changes,
    ) -> TxResult {
        self.send(&[update_mirror_ix(&authority.pubkey(), mirror, grant, changes)], &[authority])
    }

    pub fn transfer_mirror(&mut self, owner: &Keypair, mirror: &Pubkey, new_owner: &Pubkey) -> TxResult {
        self.send(&[transfer_mirror_ix(&owner.pubkey(), mirror, new_owner)], &[owner])
    }

    pub fn freeze_mirror(&mut self, owner: &Keypair, mirror: &Pubkey) -> TxResult {
        self.send(&[freeze_mirror_ix(&owner.pubkey(), mirror)], &[owner])
    }

    pub fn grant(
        &mut self,
        owner: &Keypair,
        mirror: &Pubkey,
        grantee: &Pubkey,
        permissions: u8,
        expires_at: i64,
    ) -> TxResult {
        self.send(&[grant_access_ix(&owner.pubkey(), mirror, grantee, permissions, expires_at)], &[owner])
    }

    pub fn revoke(&mut self, owner: &Keypair, mirror: &Pubkey, grant: &Pubkey) -> TxResult {
        self.send(&[revoke_access_ix(&owner.pubkey(), mirror, grant)], &[owner])
    }

    /// Requests training of `mirror` with DATASET_CID and `params()`, as job
    /// number `mirror.job_count`.
    pub fn request_training(&mut self, requester: &Keypair, mirror: &Pubkey, grant: Option<Pubkey>) -> TxResult {
        self.request_training_with(requester, mirror, grant, DATASET_CID, params())
    }

    pub fn request_training_with(
        &mut self,
        requester: &Keypair,
        mirror: &Pubkey,
        grant: Option<Pubkey>,
        dataset_cid: &str,
        params: TrainingParams,
    ) -> TxResult {
        let job_id = self.mirror(mirror).job_count;
        self.send(&[request_training_ix(&requester.pubkey(), mirror, job_id, grant, dataset_cid, params)], &[requester])
    }

    pub fn cancel_training(&mut self, authority: &Keypair, mirror: &Pubkey, job: &Pubkey) -> TxResult {
        self.send(&[cancel_training_ix(&authority.pubkey(), mirror, job)], &[authority])
    }

    pub fn start_training(&mut self, trainer: &Keypair, mirror: &Pubkey, job: &Pubkey) -> TxResult {
        self.send(&[start_training_ix(&trainer.pubkey(), mirror, job)], &[trainer])
    }

    /// Completes with MODEL_CID, WEIGHTS_SHA256 and `metrics()`, publishing the
    /// mirror's next model version.
    pub fn complete_training(&mut self, trainer: &Keypair, mirror: &Pubkey, job: &Pubkey) -> TxResult {
        self.complete_training_with(trainer, mirror, job, MODEL_CID)
    }

    pub fn complete_training_with(
        &mut self,
        trainer: &Keypair,
        mirror: &Pubkey,
        job: &Pubkey,
        model_cid: &str,
    ) -> TxResult {
        let version = self.mirror(mirror).model_version + 1;
        self.send(
            &[complete_training_ix(&trainer.pubkey(), mirror, job, version, model_cid, WEIGHTS_SHA256, metrics())],
            &[trainer],
        )
    }

    pub fn fail_training(&mut self, trainer: &Keypair, job: &Pubkey, reason_code: u16) -> TxResult {
        self.send(&[fail_training_ix(&trainer.pubkey(), job, reason_code)], &[trainer])
    }

    // --- scenarios ----------------------------------------------------------

    /// A funded owner (keypair of `label`) and their mirror number 1, named `label`.
    pub fn owner_with_mirror(&mut self, label: &str) -> (Keypair, Pubkey) {
        let owner = self.funded(label);
        self.create_mirror(&owner, 1, label, Visibility::Public).expect("create_mirror");
        let mirror = mirror_pda(&owner.pubkey(), 1);
        (owner, mirror)
    }

    /// A funded, registered and active trainer (keypair of `label`).
    pub fn active_trainer(&mut self, label: &str) -> Keypair {
        let trainer = self.funded(label);
        self.register_trainer(&trainer.pubkey(), encryption_key(label)).expect("register_trainer");
        trainer
    }

    /// Requests a job of `mirror` (signed by its owner) and drives it to
    /// `status` with `trainer`; returns the job's address.
    pub fn job_in(&mut self, status: JobStatus, owner: &Keypair, mirror: &Pubkey, trainer: &Keypair) -> Pubkey {
        let job = job_pda(mirror, self.mirror(mirror).job_count);
        self.request_training(owner, mirror, None).expect("request_training");
        match status {
            JobStatus::Requested => {}
            JobStatus::Cancelled => {
                self.cancel_training(owner, mirror, &job).expect("cancel_training");
            }
            JobStatus::Running | JobStatus::Completed | JobStatus::Failed => {
                self.start_training(trainer, mirror, &job).expect("start_training");
                match status {
                    JobStatus::Completed => {
                        self.complete_training(trainer, mirror, &job).expect("complete_training");
                    }
                    JobStatus::Failed => {
                        self.fail_training(trainer, &job, mirror::FAIL_TRAINING_ERROR).expect("fail_training");
                    }
                    _ => {}
                }
            }
        }
        assert_eq!(self.job(&job).status, status);
        job
    }
}

/// The `Program data:` payloads of a transaction, in order.
pub fn event_payloads(logs: &[String]) -> Vec<Vec<u8>> {
    logs.iter()
        .filter_map(|line| line.strip_prefix("Program data: "))
        .map(|b64| base64::engine::general_purpose::STANDARD.decode(b64).expect("base64 event"))
        .collect()
}

/// The only event of type `E` in the transaction's logs.
pub fn event<E: AnchorDeserialize + Discriminator>(meta: &TransactionMetadata) -> E {
    let mut found: Vec<E> = event_payloads(&meta.logs)
        .into_iter()
        .filter(|data| data.starts_with(E::DISCRIMINATOR))
        .map(|data| E::try_from_slice(&data[E::DISCRIMINATOR.len()..]).expect("decode event"))
        .collect();
    assert_eq!(found.len(), 1, "expected exactly one such event in {:#?}", meta.logs);
    found.remove(0)
}

/// Asserts the log of a successful single-instruction transaction reads like
/// an SBF run of `instruction` (its Anchor name, e.g. "CreateMirror"): invoked
/// at depth 1, named by Anchor, an event emitted, compute consumed, success last.
#[track_caller]
pub fn assert_sbf_log(meta: &TransactionMetadata, instruction: &str) {
    let id = mirror::ID;
    let logs = &meta.logs;
    assert_eq!(logs.first(), Some(&format!("Program {id} invoke [1]")), "logs: {logs:#?}");
    assert_eq!(logs.get(1), Some(&format!("Program log: Instruction: {instruction}")), "logs: {logs:#?}");
    assert!(logs.iter().any(|l| l.starts_with("Program data: ")), "no event in {logs:#?}");
    let consumed = format!("Program {id} consumed ");
    assert!(
        logs.iter().any(|l| l.starts_with(&consumed) && l.ends_with(" compute units")),
        "no `{consumed}… compute units` in {logs:#?}"
    );
    assert_eq!(logs.last(), Some(&format!("Program {id} success")), "logs: {logs:#?}");
}

/// Asserts the transaction failed with the program's named error, at instruction 0,
/// and that the log says so the way Anchor does.
#[track_caller]
pub fn assert_mirror_error(result: TxResult, expected: MirrorError) {
    let code = u32::from(expected);
    let failed = result.expect_err("transaction should have failed");
    assert_eq!(
        failed.err,
        TransactionError::InstructionError(0, InstructionError::Custom(code)),
        "logs: {:#?}",
        failed.meta.logs
    );
    let name = format!("Error Code: {expected:?}.");
    assert!(failed.meta.logs.iter().any(|l| l.contains(&name)), "no `{name}` in {:#?}", failed.meta.logs);
}

/// Asserts the transaction failed with this instruction error (an Anchor
/// framework error or a runtime error).
#[track_caller]
pub fn assert_instruction_error(result: TxResult, expected: InstructionError) {
    let failed = result.expect_err("transaction should have failed");
    assert_eq!(failed.err, TransactionError::InstructionError(0, expected), "logs: {:#?}", failed.meta.logs);
}

pub fn anchor_error(code: anchor_lang::error::ErrorCode) -> InstructionError {
    InstructionError::Custom(code.into())
}

/// The system program's `AccountAlreadyInUse`, returned when `init` meets an
/// address that already holds an account.
pub const ACCOUNT_ALREADY_IN_USE: InstructionError = InstructionError::Custom(0);
