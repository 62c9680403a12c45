use anchor_lang::prelude::*;

#[error_code]
pub enum MirrorError {
    #[msg("The program is paused")]
    ProgramPaused,
    #[msg("Only the config admin may do this")]
    NotAdmin,
    #[msg("Name must not be empty")]
    NameEmpty,
    #[msg("Name is longer than 32 bytes")]
    NameTooLong,
    #[msg("Metadata URI is longer than 128 bytes")]
    MetadataUriTooLong,
    #[msg("Dataset CID is longer than 96 bytes")]
    DatasetCidTooLong,
    #[msg("Model CID is longer than 96 bytes")]
    ModelCidTooLong,
    #[msg("CID is empty or has characters outside base58/base32")]
    InvalidCid,
    #[msg("Only the mirror's owner may do this")]
    NotOwner,
    #[msg("Signer is neither the owner nor a grantee with the required permission")]
    NotAuthorized,
    #[msg("The access grant belongs to another mirror or grantee")]
    GrantMismatch,
    #[msg("The access grant has expired")]
    GrantExpired,
    #[msg("The access grant lacks the required permission bit")]
    MissingPermission,
    #[msg("Permissions must be a non-empty subset of VIEW|INFER|TRAIN|MANAGE")]
    InvalidPermissions,
    #[msg("Expiry must be 0 (never) or in the future")]
    InvalidExpiry,
    #[msg("The owner already holds every permission")]
    CannotGrantToOwner,
    #[msg("The mirror is frozen")]
    MirrorFrozen,
    #[msg("New owner must be a different, non-default address")]
    InvalidNewOwner,
    #[msg("Nothing to update")]
    NothingToUpdate,
    #[msg("Training parameters are out of range")]
    InvalidTrainingParams,
    #[msg("The trainer is not active")]
    TrainerInactive,
    #[msg("The trainer's encryption key must not be all zeros")]
    InvalidEncryptionKey,
    #[msg("Only the trainer that started this job may finish it")]
    WrongTrainer,
    #[msg("The job's status does not allow this transition")]
    InvalidJobTransition,
    #[msg("The training job belongs to another mirror")]
    JobMirrorMismatch,
    #[msg("Failure reason code must be non-zero")]
    InvalidFailureCode,
    #[msg("Arithmetic overflow")]
    Overflow,
    #[msg("A trainer's authority must not be the default address")]
    InvalidTrainerAuthority,
    #[msg("The access grant was made by a previous owner of the mirror")]
    StaleGrant,
    #[msg("The model version must be the mirror's next version")]
    ModelVersionMismatch,
    #[msg("Names and URIs must not contain control characters")]
    ControlCharacters,
    #[msg("Only the program's upgrade authority may initialize the config")]
    NotUpgradeAuthority,
    #[msg("The program_data account is not this program's ProgramData")]
    ProgramDataMismatch,
    #[msg("No admin handover is pending")]
    NoPendingAdmin,
    #[msg("Only the proposed admin may accept the admin role")]
    NotPendingAdmin,
}
