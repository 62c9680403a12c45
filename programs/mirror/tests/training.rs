//! Training jobs: request_training, cancel_training, start_training,
//! complete_training (with its ModelVersion), fail_training, and every job
//! state transition the program refuses.
mod common;
use common::*;
use mirror::{ModelPublished, TrainRequested, TrainingCancelled, TrainingCompleted, TrainingFailed, TrainingStarted};

/// A fresh chain with Alice's mirror and an active trainer.
fn setup() -> (Env, Keypair, Pubkey, Keypair) {
    let mut env = Env::new();
    let (alice, mirror) = env.owner_with_mirror("alice");
    let trainer = env.active_trainer("trainer");
    (env, alice, mirror, trainer)
}

fn cid_of_len(len: usize) -> String {
    "b".repeat(len)
}

// --- request_training ---------------------------------------------------------------

#[test]
fn request_training_creates_a_requested_job() {
    let (mut env, alice, mirror, _) = setup();
    let now = env.tick();
    let meta = env.request_training(&alice, &mirror, None).expect("request_training");

    let address = job_pda(&mirror, 0);
    let job = env.job(&address);
    assert_eq!(job.mirror, mirror);
    assert_eq!(job.job_id, 0);
    assert_eq!(job.requester, alice.pubkey());
    assert_eq!(job.dataset_cid, DATASET_CID);
    assert_eq!(job.params, params());
    assert_eq!(job.status, JobStatus::Requested);
    assert_eq!(job.trainer, Pubkey::default());
    assert_eq!(job.model_cid, "");
    assert_eq!(job.weights_sha256, [0u8; 32]);
    assert_eq!(job.metrics, TrainingMetrics::default());
    assert_eq!(job.failure_code, 0);
    assert_eq!(job.requested_at, now);
    assert_eq!(job.started_at, 0);
    assert_eq!(job.finished_at, 0);
    assert_eq!(job.bump, bump_of(&[mirror::JOB_SEED, mirror.as_ref(), &0u64.to_le_bytes()]));
    assert_eq!(env.mirror(&mirror).job_count, 1);
    assert_eq!(env.config().job_count, 1);

    let ev: TrainRequested = event(&meta);
    assert_eq!(ev.mirror, mirror);
    assert_eq!(ev.job, address);
    assert_eq!(ev.job_id, 0);
    assert_eq!(ev.requester, alice.pubkey());
    assert_eq!(ev.dataset_cid, DATASET_CID);
    assert_eq!(ev.params, params());
    assert_eq!(ev.timestamp, now);
    assert_sbf_log(&meta, "RequestTraining");
}

#[test]
fn request_training_to_start_fresh_is_stored_and_emitted() {
    let (mut env, alice, mirror, _) = setup();
    let fresh = TrainingParams { start_fresh: true, ..params() };
    let meta = env.request_training_with(&alice, &mirror, None, DATASET_CID, fresh).expect("request_training");
    let job = env.job(&job_pda(&mirror, 0));
    assert!(job.params.start_fresh);
    assert_eq!(job.params, fresh);
    let ev: TrainRequested = event(&meta);
    assert!(ev.params.start_fresh);
    assert_eq!(ev.params, fresh);
    // The default continues: the flag is stored as asked, not forced either way.
    let meta = env.request_training(&alice, &mirror, None).expect("request_training");
    assert!(!env.job(&job_pda(&mirror, 1)).params.start_fresh);
    assert!(!event::<TrainRequested>(&meta).params.start_fresh);
}

#[test]
fn request_training_numbers_jobs_by_the_mirrors_job_count() {
    let (mut env, alice, mirror, _) = setup();
    env.request_training(&alice, &mirror, None).expect("job 0");
    let meta = env.request_training(&alice, &mirror, None).expect("job 1");
    let ev: TrainRequested = event(&meta);
    assert_eq!(ev.job_id, 1);
    assert_eq!(ev.job, job_pda(&mirror, 1));
    assert_eq!(env.job(&job_pda(&mirror, 1)).job_id, 1);
    assert_eq!(env.mirror(&mirror).job_count, 2);
}

#[test]
fn request_training_by_stranger_without_grant_is_refused() {
    let (mut env, _, mirror, _) = setup();
    let mallory = env.funded("mallory");
    assert_mirror_error(env.request_training(&mallory, &mirror, None), MirrorError::NotAuthorized);
    assert!(!env.exists(&job_pda(&mirror, 0)));
}

#[test]
fn request_training_on_frozen_mirror_is_refused() {
    let (mut env, alice, mirror, _) = setup();
    env.freeze_mirror(&alice, &mirror).expect("freeze");
    assert_mirror_error(env.request_training(&alice, &mirror, None), MirrorError::MirrorFrozen);
    assert_eq!(env.mirror(&mirror).job_count, 0);
}

#[test]
fn request_training_accepts_a_96_byte_dataset_cid() {
    let (mut env, alice, mirror, _) = setup();
    let cid = cid_of_len(96);
    env.request_training_with(&alice, &mirror, None, &cid, params()).expect("96-byte CID");
    assert_eq!(env.job(&job_pda(&mirror, 0)).dataset_cid, cid);
}

#[test]
fn request_training_with_97_byte_dataset_cid_is_refused() {
    let (mut env, alice, mirror, _) = setup();
    let result = env.request_training_with(&alice, &mirror, None, &cid_of_len(97), params());
    assert_mirror_error(result, MirrorError::DatasetCidTooLong);
}

#[test]
fn request_training_with_slash_in_dataset_cid_is_refused() {
    let (mut env, alice, mirror, _) = setup();
    let cid = format!("{DATASET_CID}/data.jsonl");
    assert_mirror_error(env.request_training_with(&alice, &mirror, None, &cid, params()), MirrorError::InvalidCid);
}

#[test]
fn request_training_with_empty_dataset_cid_is_refused() {
    let (mut env, alice, mirror, _) = setup();
    assert_mirror_error(env.request_training_with(&alice, &mirror, None, "", params()), MirrorError::InvalidCid);
}

#[test]
fn request_training_with_out_of_range_params_is_refused() {
    let (mut env, alice, mirror, _) = setup();
    let ok = params();
    let refused = [
        TrainingParams { epochs: 0, ..ok },
        TrainingParams { epochs: mirror::MAX_EPOCHS + 1, ..ok },
        TrainingParams { seq_len: 0, ..ok },
        TrainingParams { seq_len: mirror::MAX_SEQ_LEN + 1, ..ok },
        TrainingParams { batch_size: 0, ..ok },
        TrainingParams { batch_size: mirror::MAX_BATCH_SIZE + 1, ..ok },
        TrainingParams { learning_rate_micros: 0, ..ok },
    ];
    for bad in refused {
        let result = env.request_training_with(&alice, &mirror, None, DATASET_CID, bad);
        assert_mirror_error(result, MirrorError::InvalidTrainingParams);
    }
    assert_eq!(env.mirror(&mirror).job_count, 0);
}

#[test]
fn request_training_accepts_params_at_their_bounds() {
    let (mut env, alice, mirror, _) = setup();
    let lowest = TrainingParams { epochs: 1, seq_len: 1, batch_size: 1, learning_rate_micros: 1, start_fresh: false };
    let highest = TrainingParams {
        epochs: mirror::MAX_EPOCHS,
        seq_len: mirror::MAX_SEQ_LEN,
        batch_size: mirror::MAX_BATCH_SIZE,
        learning_rate_micros: u32::MAX,
        start_fresh: true,
    };
    env.request_training_with(&alice, &mirror, None, DATASET_CID, lowest).expect("lowest params");
    env.request_training_with(&alice, &mirror, None, DATASET_CID, highest).expect("highest params");
    assert_eq!(env.job(&job_pda(&mirror, 0)).params, lowest);
    assert_eq!(env.job(&job_pda(&mirror, 1)).params, highest);
}

// --- cancel_training -----------------------------------------------------------------

#[test]
fn cancel_training_of_requested_job_by_owner() {
    let (mut env, alice, mirror, trainer) = setup();
    let job = env.job_in(JobStatus::Requested, &alice, &mirror, &trainer);
    let now = env.tick();
    let meta = env.cancel_training(&alice, &mirror, &job).expect("cancel_training");

    let account = env.job(&job);
    assert_eq!(account.status, JobStatus::Cancelled);
    assert_eq!(account.finished_at, now);
    assert_eq!(account.trainer, Pubkey::default());

    let ev: TrainingCancelled = event(&meta);
    assert_eq!(ev.mirror, mirror);
    assert_eq!(ev.job, job);
    assert_eq!(ev.job_id, 0);
    assert_eq!(ev.cancelled_by, alice.pubkey());
    assert_eq!(ev.previous_status, JobStatus::Requested);
    assert_eq!(ev.timestamp, now);
    assert_sbf_log(&meta, "CancelTraining");
}

#[test]
fn cancel_training_of_running_job_reports_previous_status() {
    let (mut env, alice, mirror, trainer) = setup();
    let job = env.job_in(JobStatus::Running, &alice, &mirror, &trainer);
    let meta = env.cancel_training(&alice, &mirror, &job).expect("cancel running job");
    assert_eq!(env.job(&job).status, JobStatus::Cancelled);
    let ev: TrainingCancelled = event(&meta);
    assert_eq!(ev.previous_status, JobStatus::Running);
}

#[test]
fn cancel_training_by_the_requesting_grantee() {
    let (mut env, alice, mirror, _) = setup();
    let bob = env.funded("bob");
    env.grant(&alice, &mirror, &bob.pubkey(), PERM_TRAIN, 0).expect("grant");
    env.request_training(&bob, &mirror, Some(grant_pda(&mirror, &bob.pubkey()))).expect("request");
    let job = job_pda(&mirror, 0);
    let meta = env.cancel_training(&bob, &mirror, &job).expect("requester cancels");
    assert_eq!(env.job(&job).status, JobStatus::Cancelled);
    assert_eq!(event::<TrainingCancelled>(&meta).cancelled_by, bob.pubkey());
}

#[test]
fn cancel_training_by_stranger_is_refused() {
    let (mut env, alice, mirror, trainer) = setup();
    let job = env.job_in(JobStatus::Requested, &alice, &mirror, &trainer);
    let mallory = env.funded("mallory");
    assert_mirror_error(env.cancel_training(&mallory, &mirror, &job), MirrorError::NotAuthorized);
    assert_eq!(env.job(&job).status, JobStatus::Requested);
}

#[test]
fn cancel_training_with_job_of_another_mirror_is_refused() {
    let (mut env, alice, mirror, trainer) = setup();
    let (bob, bob_mirror) = env.owner_with_mirror("bob");
    let bobs_job = env.job_in(JobStatus::Requested, &bob, &bob_mirror, &trainer);
    assert_mirror_error(env.cancel_training(&alice, &mirror, &bobs_job), MirrorError::JobMirrorMismatch);
    assert_eq!(env.job(&bobs_job).status, JobStatus::Requested);
}

#[test]
fn cancel_training_on_frozen_mirror_is_allowed() {
    let (mut env, alice, mirror, trainer) = setup();
    let job = env.job_in(JobStatus::Requested, &alice, &mirror, &trainer);
    env.freeze_mirror(&alice, &mirror).expect("freeze");
    env.cancel_training(&alice, &mirror, &job).expect("cancel on frozen mirror");
    assert_eq!(env.job(&job).status, JobStatus::Cancelled);
}

#[test]
fn cancel_training_of_finished_jobs_is_refused() {
    for status in [JobStatus::Completed, JobStatus::Failed, JobStatus::Cancelled] {
        let (mut env, alice, mirror, trainer) = setup();
        let job = env.job_in(status, &alice, &mirror, &trainer);
        assert_mirror_error(env.cancel_training(&alice, &mirror, &job), MirrorError::InvalidJobTransition);
        assert_eq!(env.job(&job).status, status);
    }
}

// --- start_training --------------------------------------------------------------------

#[test]
fn start_training_claims_a_requested_job() {
    let (mut env, alice, mirror, trainer) = setup();
    let job = env.job_in(JobStatus::Requested, &alice, &mirror, &trainer);
    let requested_at = env.now();
    let now = env.tick();
    let meta = env.start_training(&trainer, &mirror, &job).expect("start_training");

    let account = env.job(&job);
    assert_eq!(account.status, JobStatus::Running);
    assert_eq!(account.trainer, trainer.pubkey());
    assert_eq!(account.requested_at, requested_at);
    assert_eq!(account.started_at, now);
    assert_eq!(account.finished_at, 0);

    let ev: TrainingStarted = event(&meta);
    assert_eq!(ev.mirror, mirror);
    assert_eq!(ev.job, job);
    assert_eq!(ev.job_id, 0);
    assert_eq!(ev.trainer, trainer.pubkey());
    assert_eq!(ev.timestamp, now);
    assert_sbf_log(&meta, "StartTraining");
}

#[test]
fn start_training_by_inactive_trainer_is_refused() {
    let (mut env, alice, mirror, trainer) = setup();
    let job = env.job_in(JobStatus::Requested, &alice, &mirror, &trainer);
    env.deactivate_trainer(&trainer.pubkey()).expect("deactivate");
    assert_mirror_error(env.start_training(&trainer, &mirror, &job), MirrorError::TrainerInactive);
    assert_eq!(env.job(&job).status, JobStatus::Requested);
}

#[test]
fn start_training_by_unregistered_signer_is_refused_as_not_initialized() {
    let (mut env, alice, mirror, trainer) = setup();
    let job = env.job_in(JobStatus::Requested, &alice, &mirror, &trainer);
    let mallory = env.funded("mallory");
    let result = env.start_training(&mallory, &mirror, &job);
    assert_instruction_error(result, anchor_error(anchor_lang::error::ErrorCode::AccountNotInitialized));
}

#[test]
fn start_training_with_another_trainers_account_is_refused() {
    let (mut env, alice, mirror, trainer) = setup();
    let job = env.job_in(JobStatus::Requested, &alice, &mirror, &trainer);
    let mallory = env.funded("mallory");
    let mut start = start_training_ix(&mallory.pubkey(), &mirror, &job);
    start.accounts[3].pubkey = trainer_pda(&trainer.pubkey());
    let result = env.send(&[start], &[&mallory]);
    assert_instruction_error(result, anchor_error(anchor_lang::error::ErrorCode::ConstraintSeeds));
    assert_eq!(env.job(&job).status, JobStatus::Requested);
}

#[test]
fn start_training_on_frozen_mirror_is_refused() {
    let (mut env, alice, mirror, trainer) = setup();
    let job = env.job_in(JobStatus::Requested, &alice, &mirror, &trainer);
    env.freeze_mirror(&alice, &mirror).expect("freeze");
    assert_mirror_error(env.start_training(&trainer, &mirror, &job), MirrorError::MirrorFrozen);
    assert_eq!(env.job(&job).status, JobStatus::Requested);
}

#[test]
fn start_training_with_job_of_another_mirror_is_refused() {
    let (mut env, alice, mirror, trainer) = setup();
    let (bob, bob_mirror) = env.owner_with_mirror("bob");
    let _alices_job = env.job_in(JobStatus::Requested, &alice, &mirror, &trainer);
    let bobs_job = env.job_in(JobStatus::Requested, &bob, &bob_mirror, &trainer);
    assert_mirror_error(env.start_training(&trainer, &mirror, &bobs_job), MirrorError::JobMirrorMismatch);
    assert_eq!(env.job(&bobs_job).status, JobStatus::Requested);
}

#[test]
fn start_training_of_jobs_not_requested_is_refused() {
    for status in [JobStatus::Running, JobStatus::Completed, JobStatus::Failed, JobStatus::Cancelled] {
        let (mut env, alice, mirror, trainer) = setup();
        let job = env.job_in(status, &alice, &mirror, &trainer);
        let other = env.active_trainer("other-trainer");
        assert_mirror_error(env.start_training(&trainer, &mirror, &job), MirrorError::InvalidJobTransition);
        assert_mirror_error(env.start_training(&other, &mirror, &job), MirrorError::InvalidJobTransition);
        assert_eq!(env.job(&job).status, status);
    }
}

// --- complete_training ------------------------------------------------------------------

#[test]
fn complete_training_publishes_model_version_1() {
    let (mut env, alice, mirror, trainer) = setup();
    let job = env.job_in(JobStatus::Running, &alice, &mirror, &trainer);
    let started_at = env.now();
    let now = env.tick();
    let meta = env.complete_training(&trainer, &mirror, &job).expect("complete_training");

    let account = env.job(&job);
    assert_eq!(account.status, JobStatus::Completed);
    assert_eq!(account.trainer, trainer.pubkey());
    assert_eq!(account.model_cid, MODEL_CID);
    assert_eq!(account.weights_sha256, WEIGHTS_SHA256);
    assert_eq!(account.metrics, metrics());
    assert_eq!(account.failure_code, 0);
    assert_eq!(account.started_at, started_at);
    assert_eq!(account.finished_at, now);

    let model_address = model_pda(&mirror, 1);
    let model = env.account::<ModelVersion>(&model_address);
    assert_eq!(model.mirror, mirror);
    assert_eq!(model.version, 1);
    assert_eq!(model.job, job);
    assert_eq!(model.model_cid, MODEL_CID);
    assert_eq!(model.weights_sha256, WEIGHTS_SHA256);
    assert_eq!(model.metrics, metrics());
    assert_eq!(model.created_at, now);
    assert_eq!(model.bump, bump_of(&[mirror::MODEL_SEED, mirror.as_ref(), &1u32.to_le_bytes()]));

    let mirror_account = env.mirror(&mirror);
    assert_eq!(mirror_account.model_version, 1);
    assert_eq!(mirror_account.updated_at, now);
    assert_eq!(env.config().model_count, 1);

    let completed: TrainingCompleted = event(&meta);
    assert_eq!(completed.mirror, mirror);
    assert_eq!(completed.job, job);
    assert_eq!(completed.job_id, 0);
    assert_eq!(completed.trainer, trainer.pubkey());
    assert_eq!(completed.model, model_address);
    assert_eq!(completed.version, 1);
    assert_eq!(completed.model_cid, MODEL_CID);
    assert_eq!(completed.weights_sha256, WEIGHTS_SHA256);
    assert_eq!(completed.metrics, metrics());
    assert_eq!(completed.timestamp, now);

    let published: ModelPublished = event(&meta);
    assert_eq!(published.mirror, mirror);
    assert_eq!(published.model, model_address);
    assert_eq!(published.version, 1);
    assert_eq!(published.job, job);
    assert_eq!(published.model_cid, MODEL_CID);
    assert_eq!(published.weights_sha256, WEIGHTS_SHA256);
    assert_eq!(published.metrics, metrics());
    assert_eq!(published.timestamp, now);
    assert_sbf_log(&meta, "CompleteTraining");
}

#[test]
fn complete_training_again_publishes_model_version_2() {
    let (mut env, alice, mirror, trainer) = setup();
    let first = env.job_in(JobStatus::Completed, &alice, &mirror, &trainer);
    let second = env.job_in(JobStatus::Running, &alice, &mirror, &trainer);
    let now = env.tick();
    let meta = env.complete_training(&trainer, &mirror, &second).expect("second completion");

    assert_eq!(env.mirror(&mirror).model_version, 2);
    let v1 = env.account::<ModelVersion>(&model_pda(&mirror, 1));
    let v2 = env.account::<ModelVersion>(&model_pda(&mirror, 2));
    assert_eq!((v1.version, v1.job), (1, first));
    assert_eq!((v2.version, v2.job), (2, second));
    assert_eq!(v2.created_at, now);
    assert_eq!(env.config().model_count, 2);
    assert_eq!(event::<TrainingCompleted>(&meta).version, 2);
    let published: ModelPublished = event(&meta);
    assert_eq!(published.version, 2);
    assert_eq!(published.model, model_pda(&mirror, 2));
}

#[test]
fn complete_training_by_a_different_trainer_is_refused() {
    let (mut env, alice, mirror, trainer) = setup();
    let job = env.job_in(JobStatus::Running, &alice, &mirror, &trainer);
    let other = env.active_trainer("other-trainer");
    assert_mirror_error(env.complete_training(&other, &mirror, &job), MirrorError::WrongTrainer);
    assert_eq!(env.job(&job).status, JobStatus::Running);
    assert!(!env.exists(&model_pda(&mirror, 1)));
}

#[test]
fn complete_training_by_inactive_trainer_is_refused() {
    let (mut env, alice, mirror, trainer) = setup();
    let job = env.job_in(JobStatus::Running, &alice, &mirror, &trainer);
    env.deactivate_trainer(&trainer.pubkey()).expect("deactivate");
    assert_mirror_error(env.complete_training(&trainer, &mirror, &job), MirrorError::TrainerInactive);
    assert_eq!(env.job(&job).status, JobStatus::Running);
}

#[test]
fn complete_training_on_frozen_mirror_is_refused() {
    let (mut env, alice, mirror, trainer) = setup();
    let job = env.job_in(JobStatus::Running, &alice, &mirror, &trainer);
    env.freeze_mirror(&alice, &mirror).expect("freeze");
    assert_mirror_error(env.complete_training(&trainer, &mirror, &job), MirrorError::MirrorFrozen);
    assert_eq!(env.job(&job).status, JobStatus::Running);
    assert_eq!(env.mirror(&mirror).model_version, 0);
    assert!(!env.exists(&model_pda(&mirror, 1)));
}

#[test]
fn complete_training_with_job_of_another_mirror_is_refused() {
    let (mut env, _alice, mirror, trainer) = setup();
    let (bob, bob_mirror) = env.owner_with_mirror("bob");
    let bobs_job = env.job_in(JobStatus::Running, &bob, &bob_mirror, &trainer);
    assert_mirror_error(env.complete_training(&trainer, &mirror, &bobs_job), MirrorError::JobMirrorMismatch);
    assert_eq!(env.job(&bobs_job).status, JobStatus::Running);
}

#[test]
fn complete_training_accepts_a_96_byte_model_cid() {
    let (mut env, alice, mirror, trainer) = setup();
    let job = env.job_in(JobStatus::Running, &alice, &mirror, &trainer);
    let cid = cid_of_len(96);
    env.complete_training_with(&trainer, &mirror, &job, &cid).expect("96-byte model CID");
    assert_eq!(env.account::<ModelVersion>(&model_pda(&mirror, 1)).model_cid, cid);
    assert_eq!(env.job(&job).model_cid, cid);
}

#[test]
fn complete_training_with_97_byte_model_cid_is_refused() {
    let (mut env, alice, mirror, trainer) = setup();
    let job = env.job_in(JobStatus::Running, &alice, &mirror, &trainer);
    let result = env.complete_training_with(&trainer, &mirror, &job, &cid_of_len(97));
    assert_mirror_error(result, MirrorError::ModelCidTooLong);
}

#[test]
fn complete_training_with_slash_in_model_cid_is_refused() {
    let (mut env, alice, mirror, trainer) = setup();
    let job = env.job_in(JobStatus::Running, &alice, &mirror, &trainer);
    let cid = format!("{MODEL_CID}/model.safetensors");
    assert_mirror_error(env.complete_training_with(&trainer, &mirror, &job, &cid), MirrorError::InvalidCid);
}

#[test]
fn complete_training_of_jobs_not_running_is_refused() {
    for status in [JobStatus::Requested, JobStatus::Completed, JobStatus::Failed, JobStatus::Cancelled] {
        let (mut env, alice, mirror, trainer) = setup();
        let job = env.job_in(status, &alice, &mirror, &trainer);
        let model_version = env.mirror(&mirror).model_version;
        assert_mirror_error(env.complete_training(&trainer, &mirror, &job), MirrorError::InvalidJobTransition);
        assert_eq!(env.job(&job).status, status);
        assert_eq!(env.mirror(&mirror).model_version, model_version);
    }
}

// --- fail_training ------------------------------------------------------------------------

#[test]
fn fail_training_records_the_reason() {
    let (mut env, alice, mirror, trainer) = setup();
    let job = env.job_in(JobStatus::Running, &alice, &mirror, &trainer);
    let now = env.tick();
    let meta = env.fail_training(&trainer, &job, mirror::FAIL_DATASET_DECRYPT).expect("fail_training");

    let account = env.job(&job);
    assert_eq!(account.status, JobStatus::Failed);
    assert_eq!(account.failure_code, mirror::FAIL_DATASET_DECRYPT);
    assert_eq!(account.trainer, trainer.pubkey());
    assert_eq!(account.finished_at, now);
    assert_eq!(account.model_cid, "");
    assert_eq!(env.mirror(&mirror).model_version, 0);
    assert_eq!(env.config().model_count, 0);

    let ev: TrainingFailed = event(&meta);
    assert_eq!(ev.mirror, mirror);
    assert_eq!(ev.job, job);
    assert_eq!(ev.job_id, 0);
    assert_eq!(ev.trainer, trainer.pubkey());
    assert_eq!(ev.reason_code, mirror::FAIL_DATASET_DECRYPT);
    assert_eq!(ev.timestamp, now);
    assert_sbf_log(&meta, "FailTraining");
}

#[test]
fn fail_training_with_reason_zero_is_refused() {
    let (mut env, alice, mirror, trainer) = setup();
    let job = env.job_in(JobStatus::Running, &alice, &mirror, &trainer);
    assert_mirror_error(env.fail_training(&trainer, &job, 0), MirrorError::InvalidFailureCode);
    assert_eq!(env.job(&job).status, JobStatus::Running);
}

#[test]
fn fail_training_by_a_different_trainer_is_refused() {
    let (mut env, alice, mirror, trainer) = setup();
    let job = env.job_in(JobStatus::Running, &alice, &mirror, &trainer);
    let other = env.active_trainer("other-trainer");
    assert_mirror_error(env.fail_training(&other, &job, mirror::FAIL_OTHER), MirrorError::WrongTrainer);
    assert_eq!(env.job(&job).status, JobStatus::Running);
}

#[test]
fn fail_training_by_inactive_trainer_is_refused() {
    let (mut env, alice, mirror, trainer) = setup();
    let job = env.job_in(JobStatus::Running, &alice, &mirror, &trainer);
    env.deactivate_trainer(&trainer.pubkey()).expect("deactivate");
    assert_mirror_error(env.fail_training(&trainer, &job, mirror::FAIL_OTHER), MirrorError::TrainerInactive);
    assert_eq!(env.job(&job).status, JobStatus::Running);
}

#[test]
fn fail_training_on_frozen_mirror_is_allowed() {
    let (mut env, alice, mirror, trainer) = setup();
    let job = env.job_in(JobStatus::Running, &alice, &mirror, &trainer);
    env.freeze_mirror(&alice, &mirror).expect("freeze");
    env.fail_training(&trainer, &job, mirror::FAIL_MIRROR_FROZEN).expect("fail on frozen mirror");
    let account = env.job(&job);
    assert_eq!(account.status, JobStatus::Failed);
    assert_eq!(account.failure_code, mirror::FAIL_MIRROR_FROZEN);
}

#[test]
fn fail_training_of_jobs_not_running_is_refused() {
    for status in [JobStatus::Requested, JobStatus::Completed, JobStatus::Failed, JobStatus::Cancelled] {
        let (mut env, alice, mirror, trainer) = setup();
        let job = env.job_in(status, &alice, &mirror, &trainer);
        assert_mirror_error(env.fail_training(&trainer, &job, mirror::FAIL_OTHER), MirrorError::InvalidJobTransition);
        assert_eq!(env.job(&job).status, status);
    }
}

#[test]
fn fail_training_by_unregistered_signer_is_refused_as_not_initialized() {
    let (mut env, alice, mirror, trainer) = setup();
    let job = env.job_in(JobStatus::Running, &alice, &mirror, &trainer);
    let mallory = env.funded("mallory");
    let result = env.fail_training(&mallory, &job, mirror::FAIL_OTHER);
    assert_instruction_error(result, anchor_error(anchor_lang::error::ErrorCode::AccountNotInitialized));
    assert_eq!(env.job(&job).status, JobStatus::Running);
}

#[test]
fn running_job_of_a_deactivated_trainer_can_only_be_cancelled() {
    // A deactivated trainer can neither complete nor fail its running job; the
    // owner (or requester) cancelling it is the way out.
    let (mut env, alice, mirror, trainer) = setup();
    let job = env.job_in(JobStatus::Running, &alice, &mirror, &trainer);
    env.deactivate_trainer(&trainer.pubkey()).expect("deactivate");
    assert_mirror_error(env.fail_training(&trainer, &job, mirror::FAIL_OTHER), MirrorError::TrainerInactive);
    let meta = env.cancel_training(&alice, &mirror, &job).expect("owner cancels");
    assert_eq!(event::<TrainingCancelled>(&meta).previous_status, JobStatus::Running);
    assert_eq!(env.job(&job).status, JobStatus::Cancelled);
}

#[test]
fn complete_training_must_publish_exactly_the_next_version() {
    let mut env = Env::new();
    let (owner, mirror) = env.owner_with_mirror("owner");
    let trainer = env.active_trainer("trainer");
    let job = env.job_in(JobStatus::Running, &owner, &mirror, &trainer);
    for wrong in [0u32, 2] {
        let ix = complete_training_ix(&trainer.pubkey(), &mirror, &job, wrong, MODEL_CID, [1; 32], metrics());
        assert_mirror_error(env.send(&[ix], &[&trainer]), MirrorError::ModelVersionMismatch);
    }
    assert_eq!(env.job(&job).status, JobStatus::Running);
    assert_eq!(env.mirror(&mirror).model_version, 0);
    env.complete_training(&trainer, &mirror, &job).expect("version 1");
}
