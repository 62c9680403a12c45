//! Cross-language fixture: runs a scenario on the native host that emits every
//! event type and creates every account type, and records the raw bytes next to
//! what the Rust types decode them to. The Python codec (mirror_common/codec.py)
//! is tested against this file (tests/test_codec.py).
//!
//! Regenerate with `UPDATE_FIXTURES=1 cargo test -p mirror --test capture`;
//! without it, the test fails when the committed fixture differs.
mod common;
use common::*;

use std::collections::BTreeSet;
use std::path::PathBuf;

use anchor_lang::prelude::Pubkey;
use anchor_lang::{AccountDeserialize, AnchorDeserialize, Discriminator};
use base64::Engine;
use serde_json::{json, Value};
use solana_instruction::Instruction;
use solana_keypair::Keypair;
use solana_signer::Signer;

use mirror::{accounts, instruction, JobStatus, TrainingMetrics, TrainingParams, Visibility};

const EVENT_NAMES: [&str; 18] = [
    "ConfigInitialized",
    "TrainerRegistered",
    "TrainerDeactivated",
    "PauseChanged",
    "AdminProposed",
    "AdminChanged",
    "MirrorCreated",
    "MirrorUpdated",
    "MirrorTransferred",
    "MirrorFrozen",
    "AccessGranted",
    "AccessRevoked",
    "TrainRequested",
    "TrainingCancelled",
    "TrainingStarted",
    "TrainingCompleted",
    "ModelPublished",
    "TrainingFailed",
];
// The values written into the fixture are defined here rather than taken from
// the shared harness, so that the fixture changes only when this file or the
// program does.
const CAPTURE_DATASET_CID: &str = "bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy";
const CAPTURE_MODEL_CID: &str = "bafkreidvbhs33ighmljlvr7zbv2ywwzcmp5adtf4kqvlly67cy56bdtmve";
const CAPTURE_PARAMS: TrainingParams =
    TrainingParams { epochs: 2, seq_len: 64, batch_size: 8, learning_rate_micros: 3_000, start_fresh: false };

const ACCOUNT_NAMES: [&str; 6] = ["Config", "Trainer", "Mirror", "AccessGrant", "TrainingJob", "ModelVersion"];

fn b64(data: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(data)
}
fn pk(key: &Pubkey) -> Value {
    Value::String(key.to_string())
}
fn hex32(bytes: &[u8; 32]) -> Value {
    Value::String(bytes.iter().map(|b| format!("{b:02x}")).collect())
}
/// Unit enum variants are written as their names, as the Python codec does.
fn variant(v: impl std::fmt::Debug) -> Value {
    Value::String(format!("{v:?}"))
}
fn params_json(p: &TrainingParams) -> Value {
    let TrainingParams { epochs, seq_len, batch_size, learning_rate_micros, start_fresh } = *p;
    json!({
        "epochs": epochs,
        "seq_len": seq_len,
        "batch_size": batch_size,
        "learning_rate_micros": learning_rate_micros,
        "start_fresh": start_fresh,
    })
}
fn metrics_json(m: &TrainingMetrics) -> Value {
    let TrainingMetrics { final_loss_micros, tokens_trained } = *m;
    json!({ "final_loss_micros": final_loss_micros, "tokens_trained": tokens_trained })
}

fn decode<E: AnchorDeserialize + Discriminator>(data: &[u8]) -> Option<E> {
    data.strip_prefix(E::DISCRIMINATOR)
        .map(|body| E::try_from_slice(body).expect("event decodes as the type its discriminator names"))
}

/// An emitted event's name and fields, decoded with the program's own types.
/// Structs are destructured exhaustively: a field added to an event breaks the build here.
fn event_expected(data: &[u8]) -> (&'static str, Value) {
    use ::mirror::{
        AccessGranted, AccessRevoked, AdminChanged, AdminProposed, ConfigInitialized, MirrorCreated, MirrorFrozen,
        MirrorTransferred, MirrorUpdated, ModelPublished, PauseChanged, TrainRequested, TrainerDeactivated,
        TrainerRegistered, TrainingCancelled, TrainingCompleted, TrainingFailed, TrainingStarted,
    };
    if let Some(ConfigInitialized { config, admin, timestamp }) = decode(data) {
        return ("ConfigInitialized", json!({ "config": pk(&config), "admin": pk(&admin), "timestamp": timestamp }));
    }
    if let Some(AdminProposed { config, admin, proposed_admin, timestamp }) = decode(data) {
        return (
            "AdminProposed",
            json!({ "config": pk(&config), "admin": pk(&admin), "proposed_admin": pk(&proposed_admin), "timestamp": timestamp }),
        );
    }
    if let Some(AdminChanged { config, previous_admin, new_admin, timestamp }) = decode(data) {
        return (
            "AdminChanged",
            json!({
                "config": pk(&config), "previous_admin": pk(&previous_admin), "new_admin": pk(&new_admin),
                "timestamp": timestamp,
            }),
        );
    }
    if let Some(TrainerRegistered { trainer, authority, encryption_key, timestamp }) = decode(data) {
        return (
            "TrainerRegistered",
            json!({ "trainer": pk(&trainer), "authority": pk(&authority), "encryption_key": hex32(&encryption_key), "timestamp": timestamp }),
        );
    }
    if let Some(TrainerDeactivated { trainer, authority, timestamp }) = decode(data) {
        return (
            "TrainerDeactivated",
            json!({ "trainer": pk(&trainer), "authority": pk(&authority), "timestamp": timestamp }),
        );
    }
    if let Some(PauseChanged { config, admin, paused, timestamp }) = decode(data) {
        return (
            "PauseChanged",
            json!({ "config": pk(&config), "admin": pk(&admin), "paused": paused, "timestamp": timestamp }),
        );
    }
    if let Some(MirrorCreated { mirror, creator, owner, mirror_id, name, metadata_uri, visibility, timestamp }) =
        decode(data)
    {
        return (
            "MirrorCreated",
            json!({
                "mirror": pk(&mirror), "creator": pk(&creator), "owner": pk(&owner), "mirror_id": mirror_id,
                "name": name, "metadata_uri": metadata_uri, "visibility": variant(visibility), "timestamp": timestamp,
            }),
        );
    }
    if let Some(MirrorUpdated { mirror, authority, name, metadata_uri, visibility, timestamp }) = decode(data) {
        return (
            "MirrorUpdated",
            json!({
                "mirror": pk(&mirror), "authority": pk(&authority), "name": name, "metadata_uri": metadata_uri,
                "visibility": variant(visibility), "timestamp": timestamp,
            }),
        );
    }
    if let Some(MirrorTransferred { mirror, previous_owner, new_owner, timestamp }) = decode(data) {
        return (
            "MirrorTransferred",
            json!({ "mirror": pk(&mirror), "previous_owner": pk(&previous_owner), "new_owner": pk(&new_owner), "timestamp": timestamp }),
        );
    }
    if let Some(MirrorFrozen { mirror, owner, timestamp }) = decode(data) {
        return ("MirrorFrozen", json!({ "mirror": pk(&mirror), "owner": pk(&owner), "timestamp": timestamp }));
    }
    if let Some(AccessGranted { mirror, grant, grantee, permissions, expires_at, granted_by, timestamp }) = decode(data)
    {
        return (
            "AccessGranted",
            json!({
                "mirror": pk(&mirror), "grant": pk(&grant), "grantee": pk(&grantee), "permissions": permissions,
                "expires_at": expires_at, "granted_by": pk(&granted_by), "timestamp": timestamp,
            }),
        );
    }
    if let Some(AccessRevoked { mirror, grant, grantee, revoked_by, timestamp }) = decode(data) {
        return (
            "AccessRevoked",
            json!({
                "mirror": pk(&mirror), "grant": pk(&grant), "grantee": pk(&grantee), "revoked_by": pk(&revoked_by),
                "timestamp": timestamp,
            }),
        );
    }
    if let Some(TrainRequested { mirror, job, job_id, requester, dataset_cid, params, timestamp }) = decode(data) {
        return (
            "TrainRequested",
            json!({
                "mirror": pk(&mirror), "job": pk(&job), "job_id": job_id, "requester": pk(&requester),
                "dataset_cid": dataset_cid, "params": params_json(&params), "timestamp": timestamp,
            }),
        );
    }
    if let Some(TrainingCancelled { mirror, job, job_id, cancelled_by, previous_status, timestamp }) = decode(data) {
        return (
            "TrainingCancelled",
            json!({
                "mirror": pk(&mirror), "job": pk(&job), "job_id": job_id, "cancelled_by": pk(&cancelled_by),
                "previous_status": variant(previous_status), "timestamp": timestamp,
            }),
        );
    }
    if let Some(TrainingStarted { mirror, job, job_id, trainer, timestamp }) = decode(data) {
        return (
            "TrainingStarted",
            json!({ "mirror": pk(&mirror), "job": pk(&job), "job_id": job_id, "trainer": pk(&trainer), "timestamp": timestamp }),
        );
    }
    if let Some(TrainingCompleted {
        mirror,
        job,
        job_id,
        trainer,
        model,
        version,
        model_cid,
        weights_sha256,
        metrics,
        timestamp,
    }) = decode(data)
    {
        return (
            "TrainingCompleted",
            json!({
                "mirror": pk(&mirror), "job": pk(&job), "job_id": job_id, "trainer": pk(&trainer), "model": pk(&model),
                "version": version, "model_cid": model_cid, "weights_sha256": hex32(&weights_sha256),
                "metrics": metrics_json(&metrics), "timestamp": timestamp,
            }),
        );
    }
    if let Some(ModelPublished { mirror, model, version, job, model_cid, weights_sha256, metrics, timestamp }) =
        decode(data)
    {
        return (
            "ModelPublished",
            json!({
                "mirror": pk(&mirror), "model": pk(&model), "version": version, "job": pk(&job), "model_cid": model_cid,
                "weights_sha256": hex32(&weights_sha256), "metrics": metrics_json(&metrics), "timestamp": timestamp,
            }),
        );
    }
    if let Some(TrainingFailed { mirror, job, job_id, trainer, reason_code, timestamp }) = decode(data) {
        return (
            "TrainingFailed",
            json!({
                "mirror": pk(&mirror), "job": pk(&job), "job_id": job_id, "trainer": pk(&trainer),
                "reason_code": reason_code, "timestamp": timestamp,
            }),
        );
    }
    panic!("unknown event discriminator {:?}", &data[..8.min(data.len())]);
}

/// An account's type name and fields, decoded with the program's own types.
fn account_expected(data: &[u8]) -> (&'static str, Value) {
    use ::mirror::{AccessGrant, Config, Mirror, ModelVersion, Trainer, TrainingJob};
    fn load<T: AccountDeserialize + Discriminator>(data: &[u8]) -> Option<T> {
        data.starts_with(T::DISCRIMINATOR)
            .then(|| T::try_deserialize(&mut &data[..]).expect("account decodes as the type its discriminator names"))
    }
    if let Some(Config { admin, pending_admin, paused, mirror_count, trainer_count, job_count, model_count, bump }) =
        load(data)
    {
        return (
            "Config",
            json!({
                "admin": pk(&admin), "pending_admin": pk(&pending_admin), "paused": paused, "mirror_count": mirror_count, "trainer_count": trainer_count,
                "job_count": job_count, "model_count": model_count, "bump": bump,
            }),
        );
    }
    if let Some(Trainer { authority, encryption_key, active, registered_at, updated_at, bump }) = load(data) {
        return (
            "Trainer",
            json!({
                "authority": pk(&authority), "encryption_key": hex32(&encryption_key), "active": active,
                "registered_at": registered_at, "updated_at": updated_at, "bump": bump,
            }),
        );
    }
    if let Some(Mirror {
        creator,
        owner,
        mirror_id,
        name,
        metadata_uri,
        visibility,
        status,
        model_version,
        job_count,
        created_at,
        updated_at,
        bump,
    }) = load(data)
    {
        return (
            "Mirror",
            json!({
                "creator": pk(&creator), "owner": pk(&owner), "mirror_id": mirror_id, "name": name,
                "metadata_uri": metadata_uri, "visibility": variant(visibility), "status": variant(status),
                "model_version": model_version, "job_count": job_count, "created_at": created_at,
                "updated_at": updated_at, "bump": bump,
            }),
        );
    }
    if let Some(AccessGrant { mirror, grantee, granted_by, permissions, expires_at, granted_at, updated_at, bump }) =
        load(data)
    {
        return (
            "AccessGrant",
            json!({
                "mirror": pk(&mirror), "grantee": pk(&grantee), "granted_by": pk(&granted_by),
                "permissions": permissions, "expires_at": expires_at,
                "granted_at": granted_at, "updated_at": updated_at, "bump": bump,
            }),
        );
    }
    if let Some(TrainingJob {
        mirror,
        job_id,
        requester,
        dataset_cid,
        params,
        status,
        trainer,
        model_cid,
        weights_sha256,
        metrics,
        failure_code,
        requested_at,
        started_at,
        finished_at,
        bump,
    }) = load(data)
    {
        return (
            "TrainingJob",
            json!({
                "mirror": pk(&mirror), "job_id": job_id, "requester": pk(&requester), "dataset_cid": dataset_cid,
                "params": params_json(&params), "status": variant(status), "trainer": pk(&trainer),
                "model_cid": model_cid, "weights_sha256": hex32(&weights_sha256), "metrics": metrics_json(&metrics),
                "failure_code": failure_code, "requested_at": requested_at, "started_at": started_at,
                "finished_at": finished_at, "bump": bump,
            }),
        );
    }
    if let Some(ModelVersion { mirror, version, job, model_cid, weights_sha256, metrics, created_at, bump }) =
        load(data)
    {
        return (
            "ModelVersion",
            json!({
                "mirror": pk(&mirror), "version": version, "job": pk(&job), "model_cid": model_cid,
                "weights_sha256": hex32(&weights_sha256), "metrics": metrics_json(&metrics), "created_at": created_at,
                "bump": bump,
            }),
        );
    }
    panic!("unknown account discriminator {:?}", &data[..8.min(data.len())]);
}

/// Sends instructions and records everything the fixture holds.
struct Capture {
    env: Env,
    items: Vec<Value>,
    instructions_seen: BTreeSet<&'static str>,
}

impl Capture {
    /// Sends one instruction (signers[0] pays), records its data once per
    /// instruction name, and records every event it emitted. Each transaction
    /// lands 60 seconds after the previous one so timestamps differ.
    fn send(&mut self, name: &'static str, ix: Instruction, args: Value, signers: &[&Keypair]) {
        self.env.chain.advance_clock(60, 10);
        if self.instructions_seen.insert(name) {
            let metas: Vec<Value> = ix
                .accounts
                .iter()
                .map(|m| json!({ "pubkey": pk(&m.pubkey), "signer": m.is_signer, "writable": m.is_writable }))
                .collect();
            self.items.push(json!({
                "kind": "instruction",
                "name": name,
                "data_b64": b64(&ix.data),
                "expected": args,
                "accounts": metas,
            }));
        }
        let meta =
            self.env.send(&[ix], signers).unwrap_or_else(|e| panic!("{name} failed: {:?}\n{:#?}", e.err, e.meta.logs));
        for data in event_payloads(&meta.logs) {
            let (event, expected) = event_expected(&data);
            self.items.push(json!({ "kind": "event", "name": event, "data_b64": b64(&data), "expected": expected }));
        }
    }

    fn record_account(&mut self, address: &Pubkey) {
        let account = self.env.chain.get_account(address).unwrap_or_else(|| panic!("no account at {address}"));
        assert_eq!(account.owner, mirror::ID);
        let (name, expected) = account_expected(&account.data);
        self.items.push(json!({
            "kind": "account",
            "name": name,
            "address": pk(address),
            "data_b64": b64(&account.data),
            "expected": expected,
        }));
    }

    fn mirror(&self, address: &Pubkey) -> mirror::Mirror {
        self.env.account(address)
    }
}

fn system() -> Pubkey {
    anchor_lang::system_program::ID
}

fn run_scenario() -> Vec<Value> {
    let mut cap = Capture { env: Env::bare(), items: Vec::new(), instructions_seen: BTreeSet::new() };
    let admin = cap.env.admin.insecure_clone();
    let alice = cap.env.funded("alice");
    let bob = cap.env.funded("bob");
    let carol = cap.env.funded("carol");
    let dave = cap.env.funded("dave");
    let trainer = cap.env.funded("trainer");
    let trainer2 = cap.env.funded("trainer-2");

    cap.send(
        "initialize_config",
        ix(
            accounts::InitializeConfig {
                config: config_pda(),
                admin: admin.pubkey(),
                program: mirror::ID,
                program_data: program_data_pda(),
                system_program: system(),
            },
            instruction::InitializeConfig {},
        ),
        json!({}),
        &[&admin],
    );

    // Two trainers; the second is deactivated at the end.
    for (kp, key) in [(&trainer, [0xa5u8; 32]), (&trainer2, core::array::from_fn::<u8, 32, _>(|i| i as u8))] {
        let authority = kp.pubkey();
        cap.send(
            "register_trainer",
            ix(
                accounts::RegisterTrainer {
                    config: config_pda(),
                    trainer: trainer_pda(&authority),
                    admin: admin.pubkey(),
                    system_program: system(),
                },
                instruction::RegisterTrainer { authority, encryption_key: key },
            ),
            json!({ "authority": pk(&authority), "encryption_key": hex32(&key) }),
            &[&admin],
        );
    }

    for paused in [true, false] {
        cap.send(
            "set_paused",
            ix(accounts::SetPaused { config: config_pda(), admin: admin.pubkey() }, instruction::SetPaused { paused }),
            json!({ "paused": paused }),
            &[&admin],
        );
    }

    // Alice's mirror (a non-ASCII name) and a second one with a high-bit id.
    let mirror = mirror_pda(&alice.pubkey(), 1);
    let big_id: u64 = (1 << 63) + 5;
    for (id, name, uri, visibility) in
        [(1u64, "Ada ✨ mirror", "ipfs://meta/ada", Visibility::Public), (big_id, "second", "", Visibility::Private)]
    {
        let instruction::CreateMirror { mirror_id, name, metadata_uri, visibility } = instruction::CreateMirror {
            mirror_id: id,
            name: name.to_string(),
            metadata_uri: uri.to_string(),
            visibility,
        };
        cap.send(
            "create_mirror",
            ix(
                accounts::CreateMirror {
                    config: config_pda(),
                    mirror: mirror_pda(&alice.pubkey(), mirror_id),
                    creator: alice.pubkey(),
                    system_program: system(),
                },
                instruction::CreateMirror { mirror_id, name: name.clone(), metadata_uri: metadata_uri.clone(), visibility },
            ),
            json!({ "mirror_id": mirror_id, "name": name, "metadata_uri": metadata_uri, "visibility": variant(visibility) }),
            &[&alice],
        );
    }

    // Update with one option left out (None) and no grant (optional account absent).
    cap.send(
        "update_mirror",
        ix(
            accounts::UpdateMirror { config: config_pda(), mirror, grant: None, authority: alice.pubkey() },
            instruction::UpdateMirror {
                name: Some("Ada, renamed".to_string()),
                metadata_uri: None,
                visibility: Some(Visibility::Private),
            },
        ),
        json!({ "name": "Ada, renamed", "metadata_uri": null, "visibility": "Private" }),
        &[&alice],
    );

    // Bob may view and train until a fixed time; carol's grant is revoked later.
    let expires_at = GENESIS_UNIX_TIME + 365 * 86_400;
    for (grantee, permissions, expires_at) in [(bob.pubkey(), 1u8 | 4, expires_at), (carol.pubkey(), 15u8, 0i64)] {
        cap.send(
            "grant_access",
            ix(
                accounts::GrantAccess {
                    config: config_pda(),
                    mirror,
                    grant: grant_pda(&mirror, &grantee),
                    owner: alice.pubkey(),
                    system_program: system(),
                },
                instruction::GrantAccess { grantee, permissions, expires_at },
            ),
            json!({ "grantee": pk(&grantee), "permissions": permissions, "expires_at": expires_at }),
            &[&alice],
        );
    }

    // Three jobs: bob's (through his grant) completes, alice's first fails, her second (from scratch) is cancelled.
    let request = |cap: &mut Capture, requester: &Keypair, grant: Option<Pubkey>, p: TrainingParams| -> Pubkey {
        let job = job_pda(&mirror, cap.mirror(&mirror).job_count);
        cap.send(
            "request_training",
            ix(
                accounts::RequestTraining {
                    config: config_pda(),
                    mirror,
                    grant,
                    job,
                    requester: requester.pubkey(),
                    system_program: system(),
                },
                instruction::RequestTraining { dataset_cid: CAPTURE_DATASET_CID.to_string(), params: p },
            ),
            json!({ "dataset_cid": CAPTURE_DATASET_CID, "params": params_json(&p) }),
            &[requester],
        );
        job
    };
    let start = |cap: &mut Capture, job: Pubkey| {
        cap.send(
            "start_training",
            ix(
                accounts::StartTraining {
                    config: config_pda(),
                    mirror,
                    job,
                    trainer: trainer_pda(&trainer.pubkey()),
                    authority: trainer.pubkey(),
                },
                instruction::StartTraining {},
            ),
            json!({}),
            &[&trainer],
        );
    };

    let job0 = request(&mut cap, &bob, Some(grant_pda(&mirror, &bob.pubkey())), CAPTURE_PARAMS);
    start(&mut cap, job0);
    let version = cap.mirror(&mirror).model_version + 1;
    let model = model_pda(&mirror, version);
    let weights: [u8; 32] = core::array::from_fn(|i| (i as u8).wrapping_mul(37).wrapping_add(0xf0));
    let m = TrainingMetrics { final_loss_micros: u64::MAX - 1, tokens_trained: 65_536 };
    cap.send(
        "complete_training",
        ix(
            accounts::CompleteTraining {
                config: config_pda(),
                mirror,
                job: job0,
                model,
                trainer: trainer_pda(&trainer.pubkey()),
                authority: trainer.pubkey(),
                system_program: system(),
            },
            instruction::CompleteTraining { version, model_cid: CAPTURE_MODEL_CID.to_string(), weights_sha256: weights, metrics: m },
        ),
        json!({ "version": version, "model_cid": CAPTURE_MODEL_CID, "weights_sha256": hex32(&weights), "metrics": metrics_json(&m) }),
        &[&trainer],
    );

    let job1 = request(&mut cap, &alice, None, CAPTURE_PARAMS);
    start(&mut cap, job1);
    cap.send(
        "fail_training",
        ix(
            accounts::FailTraining { job: job1, trainer: trainer_pda(&trainer.pubkey()), authority: trainer.pubkey() },
            instruction::FailTraining { reason_code: mirror::FAIL_DATASET_DECRYPT },
        ),
        json!({ "reason_code": mirror::FAIL_DATASET_DECRYPT }),
        &[&trainer],
    );

    let job2 = request(&mut cap, &alice, None, TrainingParams { start_fresh: true, ..CAPTURE_PARAMS });
    cap.send(
        "cancel_training",
        ix(accounts::CancelTraining { mirror, job: job2, authority: alice.pubkey() }, instruction::CancelTraining {}),
        json!({}),
        &[&alice],
    );
    assert_eq!(cap.env.account::<mirror::TrainingJob>(&job2).status, JobStatus::Cancelled);

    cap.send(
        "revoke_access",
        ix(
            accounts::RevokeAccess { mirror, grant: grant_pda(&mirror, &carol.pubkey()), owner: alice.pubkey() },
            instruction::RevokeAccess {},
        ),
        json!({}),
        &[&alice],
    );

    cap.send(
        "transfer_mirror",
        ix(
            accounts::TransferMirror { config: config_pda(), mirror, owner: alice.pubkey() },
            instruction::TransferMirror { new_owner: dave.pubkey() },
        ),
        json!({ "new_owner": pk(&dave.pubkey()) }),
        &[&alice],
    );
    cap.send(
        "freeze_mirror",
        ix(accounts::FreezeMirror { mirror, owner: dave.pubkey() }, instruction::FreezeMirror {}),
        json!({}),
        &[&dave],
    );

    cap.send(
        "deactivate_trainer",
        ix(
            accounts::DeactivateTrainer {
                config: config_pda(),
                trainer: trainer_pda(&trainer2.pubkey()),
                admin: admin.pubkey(),
            },
            instruction::DeactivateTrainer {},
        ),
        json!({}),
        &[&admin],
    );

    // The admin role goes to dave, who then proposes bob: the final Config
    // holds a pending admin.
    for (current, next) in [(&admin, &dave), (&dave, &bob)] {
        cap.send(
            "propose_admin",
            ix(
                accounts::ProposeAdmin { config: config_pda(), admin: current.pubkey() },
                instruction::ProposeAdmin { new_admin: next.pubkey() },
            ),
            json!({ "new_admin": pk(&next.pubkey()) }),
            &[current],
        );
        if current.pubkey() == admin.pubkey() {
            cap.send(
                "accept_admin",
                ix(
                    accounts::AcceptAdmin { config: config_pda(), new_admin: next.pubkey() },
                    instruction::AcceptAdmin {},
                ),
                json!({}),
                &[next],
            );
        }
    }
    assert_eq!(cap.env.config().admin, dave.pubkey());
    assert_eq!(cap.env.config().pending_admin, bob.pubkey());

    // Final state of every account type.
    for address in [
        config_pda(),
        trainer_pda(&trainer.pubkey()),
        trainer_pda(&trainer2.pubkey()),
        mirror,
        mirror_pda(&alice.pubkey(), big_id),
        grant_pda(&mirror, &bob.pubkey()),
        job0,
        job1,
        job2,
        model,
    ] {
        cap.record_account(&address);
    }
    assert!(!cap.env.exists(&grant_pda(&mirror, &carol.pubkey())), "revoked grant is closed");
    cap.items
}

#[test]
fn program_capture_fixture() {
    let items = run_scenario();

    // The scenario covers every event, account and instruction of the program.
    let names = |kind: &str| -> BTreeSet<String> {
        items.iter().filter(|i| i["kind"] == kind).map(|i| i["name"].as_str().unwrap().to_string()).collect()
    };
    let want = |names: &[&str]| names.iter().map(|s| s.to_string()).collect::<BTreeSet<_>>();
    assert_eq!(names("event"), want(&EVENT_NAMES));
    assert_eq!(names("account"), want(&ACCOUNT_NAMES));
    assert_eq!(names("instruction").len(), 17, "one capture per instruction");

    let generated = Value::Array(items);
    let text = serde_json::to_string_pretty(&generated).expect("serialize fixture") + "\n";
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/program_capture.json");

    if std::env::var_os("UPDATE_FIXTURES").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).expect("create tests/fixtures");
        std::fs::write(&path, text).expect("write tests/fixtures/program_capture.json");
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    // Compare values, not text: serde_json's key order depends on crate features.
    let committed: Value = serde_json::from_str(&committed).unwrap_or(Value::Null);
    assert!(
        committed == generated,
        "tests/fixtures/program_capture.json differs from what the program produces; \
         regenerate with `UPDATE_FIXTURES=1 cargo test -p mirror --test capture`"
    );
}
