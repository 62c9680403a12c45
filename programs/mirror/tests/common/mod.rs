//! Test harness: a native-host chain with the Mirror program, funded keypairs,
//! signed transactions, event decoding from log lines and error assertions.
#![allow(dead_code)]

use anchor_lang::prelude::Pubkey;
use anchor_lang::{AccountDeserialize, AnchorDeserialize, Discriminator, InstructionData, ToAccountMetas};
use base64::Engine;
use native_host::litesvm::types::{FailedTransactionMetadata, TransactionMetadata};
use native_host::Chain;
use solana_instruction::error::InstructionError;
use solana_instruction::Instruction;
use solana_keypair::Keypair;
use solana_message::Message;
use solana_signer::Signer;
use solana_transaction::Transaction;
use solana_transaction_error::TransactionError;

use mirror::{accounts, instruction, MirrorError, TrainingMetrics, TrainingParams, Visibility};

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

pub fn ix(accounts: impl ToAccountMetas, data: impl InstructionData) -> Instruction {
    Instruction { program_id: mirror::ID, accounts: accounts.to_account_metas(None), data: data.data() }
}

pub fn params() -> TrainingParams {
    TrainingParams { epochs: 2, seq_len: 64, batch_size: 8, learning_rate_micros: 3_000 }
}

pub fn metrics() -> TrainingMetrics {
    TrainingMetrics { final_loss_micros: 1_234_567, tokens_trained: 65_536 }
}

pub const DATASET_CID: &str = "bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy";
pub const MODEL_CID: &str = "bafkreidvbhs33ighmljlvr7zbv2ywwzcmp5adtf4kqvlly67cy56bdtmve";

impl Env {
    /// A chain hosting the Mirror program natively, with an initialized config.
    pub fn new() -> Self {
        let mut env = Self::bare();
        let admin = env.admin.insecure_clone();
        env.send(&[ix(
            accounts::InitializeConfig {
                config: config_pda(),
                admin: admin.pubkey(),
                system_program: anchor_lang::system_program::ID,
            },
            instruction::InitializeConfig {},
        )], &[&admin])
        .expect("initialize_config");
        env
    }

    /// A chain hosting the program, with nothing initialized.
    pub fn bare() -> Self {
        let mut chain = Chain::new();
        chain
            .add_native_program(mirror::ID, "mirror", mirror::entry)
            .expect("host the mirror program");
        chain.set_unix_timestamp(GENESIS_UNIX_TIME);
        let admin = keypair("admin");
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

    pub fn now(&self) -> i64 {
        self.chain.clock().unix_timestamp
    }

    // --- instruction shortcuts used across tests -------------------------

    pub fn register_trainer(&mut self, authority: &Pubkey, key: [u8; 32]) -> TxResult {
        let admin = self.admin.insecure_clone();
        self.send(&[ix(
            accounts::RegisterTrainer {
                config: config_pda(),
                trainer: trainer_pda(authority),
                admin: admin.pubkey(),
                system_program: anchor_lang::system_program::ID,
            },
            instruction::RegisterTrainer { authority: *authority, encryption_key: key },
        )], &[&admin])
    }

    pub fn create_mirror(&mut self, creator: &Keypair, mirror_id: u64, name: &str, visibility: Visibility) -> TxResult {
        self.send(&[ix(
            accounts::CreateMirror {
                config: config_pda(),
                mirror: mirror_pda(&creator.pubkey(), mirror_id),
                creator: creator.pubkey(),
                system_program: anchor_lang::system_program::ID,
            },
            instruction::CreateMirror {
                mirror_id,
                name: name.to_string(),
                metadata_uri: format!("ipfs://meta/{mirror_id}"),
                visibility,
            },
        )], &[creator])
    }

    pub fn grant(&mut self, owner: &Keypair, mirror: &Pubkey, grantee: &Pubkey, permissions: u8, expires_at: i64) -> TxResult {
        self.send(&[ix(
            accounts::GrantAccess {
                config: config_pda(),
                mirror: *mirror,
                grant: grant_pda(mirror, grantee),
                owner: owner.pubkey(),
                system_program: anchor_lang::system_program::ID,
            },
            instruction::GrantAccess { grantee: *grantee, permissions, expires_at },
        )], &[owner])
    }

    pub fn request_training(&mut self, requester: &Keypair, mirror: &Pubkey, grant: Option<Pubkey>) -> TxResult {
        let job_id = self.account::<mirror::Mirror>(mirror).job_count;
        self.send(&[ix(
            accounts::RequestTraining {
                config: config_pda(),
                mirror: *mirror,
                grant,
                job: job_pda(mirror, job_id),
                requester: requester.pubkey(),
                system_program: anchor_lang::system_program::ID,
            },
            instruction::RequestTraining { dataset_cid: DATASET_CID.to_string(), params: params() },
        )], &[requester])
    }

    pub fn start_training(&mut self, trainer: &Keypair, mirror: &Pubkey, job: &Pubkey) -> TxResult {
        self.send(&[ix(
            accounts::StartTraining {
                config: config_pda(),
                mirror: *mirror,
                job: *job,
                trainer: trainer_pda(&trainer.pubkey()),
                authority: trainer.pubkey(),
            },
            instruction::StartTraining {},
        )], &[trainer])
    }

    pub fn complete_training(&mut self, trainer: &Keypair, mirror: &Pubkey, job: &Pubkey) -> TxResult {
        let version = self.account::<mirror::Mirror>(mirror).model_version + 1;
        self.send(&[ix(
            accounts::CompleteTraining {
                config: config_pda(),
                mirror: *mirror,
                job: *job,
                model: model_pda(mirror, version),
                trainer: trainer_pda(&trainer.pubkey()),
                authority: trainer.pubkey(),
                system_program: anchor_lang::system_program::ID,
            },
            instruction::CompleteTraining {
                model_cid: MODEL_CID.to_string(),
                weights_sha256: [7u8; 32],
                metrics: metrics(),
            },
        )], &[trainer])
    }

    pub fn fail_training(&mut self, trainer: &Keypair, job: &Pubkey, reason_code: u16) -> TxResult {
        self.send(&[ix(
            accounts::FailTraining { job: *job, trainer: trainer_pda(&trainer.pubkey()), authority: trainer.pubkey() },
            instruction::FailTraining { reason_code },
        )], &[trainer])
    }

    pub fn cancel_training(&mut self, authority: &Keypair, mirror: &Pubkey, job: &Pubkey) -> TxResult {
        self.send(&[ix(
            accounts::CancelTraining { mirror: *mirror, job: *job, authority: authority.pubkey() },
            instruction::CancelTraining {},
        )], &[authority])
    }

    pub fn set_paused(&mut self, paused: bool) -> TxResult {
        let admin = self.admin.insecure_clone();
        self.send(&[ix(
            accounts::SetPaused { config: config_pda(), admin: admin.pubkey() },
            instruction::SetPaused { paused },
        )], &[&admin])
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

/// Asserts the transaction failed with the program's named error, at instruction 0,
/// and that the log says so the way Anchor does.
#[track_caller]
pub fn assert_mirror_error(result: TxResult, expected: MirrorError) {
    let code = u32::from(expected.clone());
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
