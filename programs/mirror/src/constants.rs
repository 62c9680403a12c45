//! Seeds, bounds and codes shared by every instruction (and mirrored in the IDL).
use anchor_lang::prelude::*;

#[constant]
pub const CONFIG_SEED: &[u8] = b"config";
#[constant]
pub const TRAINER_SEED: &[u8] = b"trainer";
#[constant]
pub const MIRROR_SEED: &[u8] = b"mirror";
#[constant]
pub const GRANT_SEED: &[u8] = b"grant";
#[constant]
pub const JOB_SEED: &[u8] = b"job";
#[constant]
pub const MODEL_SEED: &[u8] = b"model";

/// Byte bounds of the stored strings (checked with a named error before any
/// write). Exported to the IDL as u16; the usize forms size the accounts.
#[constant]
pub const NAME_MAX_BYTES: u16 = 32;
#[constant]
pub const METADATA_URI_MAX_BYTES: u16 = 128;
/// Room for CIDv0 (46 chars) and base32/base36 CIDv1 of 256-bit digests (~59-62).
#[constant]
pub const CID_MAX_BYTES: u16 = 96;
pub const MAX_NAME_LEN: usize = NAME_MAX_BYTES as usize;
pub const MAX_METADATA_URI_LEN: usize = METADATA_URI_MAX_BYTES as usize;
pub const MAX_CID_LEN: usize = CID_MAX_BYTES as usize;

/// AccessGrant permission bits.
#[constant]
pub const PERM_VIEW: u8 = 1;
#[constant]
pub const PERM_INFER: u8 = 2;
#[constant]
pub const PERM_TRAIN: u8 = 4;
#[constant]
pub const PERM_MANAGE: u8 = 8;
#[constant]
pub const PERM_ALL: u8 = PERM_VIEW | PERM_INFER | PERM_TRAIN | PERM_MANAGE;

/// Fixed-point scale of learning rates and losses stored on chain (millionths).
#[constant]
pub const FIXED_POINT_SCALE: u64 = 1_000_000;

/// Accepted training parameter ranges.
pub const MAX_EPOCHS: u16 = 1_000;
pub const MAX_SEQ_LEN: u16 = 8_192;
pub const MAX_BATCH_SIZE: u16 = 4_096;

/// fail_training reason codes (0 is reserved as "no reason" and refused).
#[constant]
pub const FAIL_DATASET_UNAVAILABLE: u16 = 1;
#[constant]
pub const FAIL_DATASET_DECRYPT: u16 = 2;
#[constant]
pub const FAIL_DATASET_INVALID: u16 = 3;
#[constant]
pub const FAIL_TRAINING_ERROR: u16 = 4;
#[constant]
pub const FAIL_ARTIFACT_UPLOAD: u16 = 5;
#[constant]
pub const FAIL_MIRROR_FROZEN: u16 = 6;
#[constant]
pub const FAIL_OTHER: u16 = 255;
