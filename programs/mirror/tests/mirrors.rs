//! Mirrors: create_mirror, update_mirror (by the owner), transfer_mirror,
//! freeze_mirror, and the string bounds they check.
mod common;
use common::*;
use mirror::{MirrorCreated, MirrorFrozen, MirrorTransferred, MirrorUpdated};

// --- create_mirror -----------------------------------------------------------------

#[test]
fn create_mirror_stores_the_mirror_with_the_creator_as_owner() {
    let mut env = Env::new();
    let alice = env.funded("alice");
    let now = env.tick();
    let meta = env
        .create_mirror_with(&alice, 42, "Alice's mirror", "ipfs://bafymeta/alice.json", Visibility::Private)
        .expect("create_mirror");

    let address = mirror_pda(&alice.pubkey(), 42);
    let mirror = env.mirror(&address);
    assert_eq!(mirror.creator, alice.pubkey());
    assert_eq!(mirror.owner, alice.pubkey());
    assert_eq!(mirror.mirror_id, 42);
    assert_eq!(mirror.name, "Alice's mirror");
    assert_eq!(mirror.metadata_uri, "ipfs://bafymeta/alice.json");
    assert_eq!(mirror.visibility, Visibility::Private);
    assert_eq!(mirror.status, MirrorStatus::Active);
    assert_eq!(mirror.model_version, 0);
    assert_eq!(mirror.job_count, 0);
    assert_eq!(mirror.created_at, now);
    assert_eq!(mirror.updated_at, now);
    assert_eq!(mirror.bump, bump_of(&[mirror::MIRROR_SEED, alice.pubkey().as_ref(), &42u64.to_le_bytes()]));
    assert_eq!(env.config().mirror_count, 1);

    let ev: MirrorCreated = event(&meta);
    assert_eq!(ev.mirror, address);
    assert_eq!(ev.creator, alice.pubkey());
    assert_eq!(ev.owner, alice.pubkey());
    assert_eq!(ev.mirror_id, 42);
    assert_eq!(ev.name, "Alice's mirror");
    assert_eq!(ev.metadata_uri, "ipfs://bafymeta/alice.json");
    assert_eq!(ev.visibility, Visibility::Private);
    assert_eq!(ev.timestamp, now);
    assert_sbf_log(&meta, "CreateMirror");
}

#[test]
fn create_mirror_with_an_id_already_used_by_the_creator_is_refused_as_account_in_use() {
    let mut env = Env::new();
    let (alice, mirror) = env.owner_with_mirror("alice");
    let result = env.create_mirror(&alice, 1, "second", Visibility::Public);
    assert_instruction_error(result, ACCOUNT_ALREADY_IN_USE);
    assert_eq!(env.mirror(&mirror).name, "alice");
    assert_eq!(env.config().mirror_count, 1);
}

#[test]
fn create_mirror_ids_are_per_creator() {
    let mut env = Env::new();
    let (alice, _) = env.owner_with_mirror("alice");
    let bob = env.funded("bob");
    env.create_mirror(&bob, 1, "bob", Visibility::Public).expect("bob's mirror 1");
    env.create_mirror(&alice, 2, "alice two", Visibility::Public).expect("alice's mirror 2");
    assert_eq!(env.mirror(&mirror_pda(&bob.pubkey(), 1)).owner, bob.pubkey());
    assert_eq!(env.mirror(&mirror_pda(&alice.pubkey(), 2)).mirror_id, 2);
    assert_eq!(env.config().mirror_count, 3);
}

#[test]
fn create_mirror_with_empty_name_is_refused() {
    let mut env = Env::new();
    let alice = env.funded("alice");
    assert_mirror_error(env.create_mirror(&alice, 1, "", Visibility::Public), MirrorError::NameEmpty);
    assert!(!env.exists(&mirror_pda(&alice.pubkey(), 1)));
}

#[test]
fn create_mirror_with_33_byte_name_is_refused() {
    let mut env = Env::new();
    let alice = env.funded("alice");
    let name = "n".repeat(33);
    assert_mirror_error(env.create_mirror(&alice, 1, &name, Visibility::Public), MirrorError::NameTooLong);
    assert!(!env.exists(&mirror_pda(&alice.pubkey(), 1)));
}

#[test]
fn create_mirror_counts_name_bounds_in_bytes_not_characters() {
    let mut env = Env::new();
    let alice = env.funded("alice");
    // 17 characters, 33 bytes.
    let too_long = format!("{}a", "é".repeat(16));
    assert_eq!((too_long.chars().count(), too_long.len()), (17, 33));
    assert_mirror_error(env.create_mirror(&alice, 1, &too_long, Visibility::Public), MirrorError::NameTooLong);
    // 16 characters, 32 bytes.
    let at_bound = "é".repeat(16);
    env.create_mirror(&alice, 1, &at_bound, Visibility::Public).expect("32-byte name");
    assert_eq!(env.mirror(&mirror_pda(&alice.pubkey(), 1)).name, at_bound);
}

#[test]
fn create_mirror_accepts_name_and_metadata_uri_exactly_at_their_bounds() {
    let mut env = Env::new();
    let alice = env.funded("alice");
    let name = "n".repeat(32);
    let uri = format!("ipfs://{}", "u".repeat(121));
    assert_eq!(uri.len(), 128);
    env.create_mirror_with(&alice, 1, &name, &uri, Visibility::Public).expect("at-bound strings");
    let mirror = env.mirror(&mirror_pda(&alice.pubkey(), 1));
    assert_eq!(mirror.name, name);
    assert_eq!(mirror.metadata_uri, uri);
}

#[test]
fn create_mirror_with_129_byte_metadata_uri_is_refused() {
    let mut env = Env::new();
    let alice = env.funded("alice");
    let uri = format!("ipfs://{}", "u".repeat(122));
    assert_eq!(uri.len(), 129);
    let result = env.create_mirror_with(&alice, 1, "alice", &uri, Visibility::Public);
    assert_mirror_error(result, MirrorError::MetadataUriTooLong);
    assert!(!env.exists(&mirror_pda(&alice.pubkey(), 1)));
}

// --- update_mirror (owner) ------------------------------------------------------------

#[test]
fn update_mirror_by_owner_changes_every_field_given() {
    let mut env = Env::new();
    let (alice, address) = env.owner_with_mirror("alice");
    let created_at = env.now();
    let now = env.tick();
    let changes = Changes {
        name: Some("renamed".into()),
        metadata_uri: Some("ar://new-metadata".into()),
        visibility: Some(Visibility::Private),
    };
    let meta = env.update_mirror(&alice, &address, None, changes).expect("update_mirror");

    let mirror = env.mirror(&address);
    assert_eq!(mirror.name, "renamed");
    assert_eq!(mirror.metadata_uri, "ar://new-metadata");
    assert_eq!(mirror.visibility, Visibility::Private);
    assert_eq!(mirror.owner, alice.pubkey());
    assert_eq!(mirror.creator, alice.pubkey());
    assert_eq!(mirror.status, MirrorStatus::Active);
    assert_eq!(mirror.created_at, created_at);
    assert_eq!(mirror.updated_at, now);

    let ev: MirrorUpdated = event(&meta);
    assert_eq!(ev.mirror, address);
    assert_eq!(ev.authority, alice.pubkey());
    assert_eq!(ev.name, "renamed");
    assert_eq!(ev.metadata_uri, "ar://new-metadata");
    assert_eq!(ev.visibility, Visibility::Private);
    assert_eq!(ev.timestamp, now);
    assert_sbf_log(&meta, "UpdateMirror");
}

#[test]
fn update_mirror_leaves_fields_not_given_unchanged_and_reports_the_full_state() {
    let mut env = Env::new();
    let (alice, address) = env.owner_with_mirror("alice");
    let meta = env
        .update_mirror(&alice, &address, None, Changes::visibility(Visibility::Private))
        .expect("update visibility only");
    let mirror = env.mirror(&address);
    assert_eq!(mirror.name, "alice");
    assert_eq!(mirror.metadata_uri, metadata_uri(1));
    assert_eq!(mirror.visibility, Visibility::Private);
    let ev: MirrorUpdated = event(&meta);
    assert_eq!((ev.name.as_str(), ev.metadata_uri.as_str()), ("alice", metadata_uri(1).as_str()));
    assert_eq!(ev.visibility, Visibility::Private);
}

#[test]
fn update_mirror_with_nothing_to_change_is_refused() {
    let mut env = Env::new();
    let (alice, address) = env.owner_with_mirror("alice");
    let result = env.update_mirror(&alice, &address, None, Changes::default());
    assert_mirror_error(result, MirrorError::NothingToUpdate);
}

#[test]
fn update_mirror_by_stranger_without_grant_is_refused() {
    let mut env = Env::new();
    let (_, address) = env.owner_with_mirror("alice");
    let mallory = env.funded("mallory");
    let result = env.update_mirror(&mallory, &address, None, Changes::name("mallory's now"));
    assert_mirror_error(result, MirrorError::NotAuthorized);
    assert_eq!(env.mirror(&address).name, "alice");
}

#[test]
fn update_mirror_refuses_empty_and_33_byte_names() {
    let mut env = Env::new();
    let (alice, address) = env.owner_with_mirror("alice");
    assert_mirror_error(env.update_mirror(&alice, &address, None, Changes::name("")), MirrorError::NameEmpty);
    let long = "n".repeat(33);
    assert_mirror_error(env.update_mirror(&alice, &address, None, Changes::name(&long)), MirrorError::NameTooLong);
    assert_eq!(env.mirror(&address).name, "alice");
}

#[test]
fn update_mirror_refuses_129_byte_metadata_uri() {
    let mut env = Env::new();
    let (alice, address) = env.owner_with_mirror("alice");
    let uri = "u".repeat(129);
    let result = env.update_mirror(&alice, &address, None, Changes::metadata_uri(&uri));
    assert_mirror_error(result, MirrorError::MetadataUriTooLong);
    assert_eq!(env.mirror(&address).metadata_uri, metadata_uri(1));
}

#[test]
fn update_mirror_accepts_strings_exactly_at_their_bounds() {
    let mut env = Env::new();
    let (alice, address) = env.owner_with_mirror("alice");
    let name = "n".repeat(32);
    let uri = "u".repeat(128);
    let changes = Changes { name: Some(name.clone()), metadata_uri: Some(uri.clone()), visibility: None };
    env.update_mirror(&alice, &address, None, changes).expect("at-bound update");
    let mirror = env.mirror(&address);
    assert_eq!(mirror.name, name);
    assert_eq!(mirror.metadata_uri, uri);
}

#[test]
fn update_mirror_of_frozen_mirror_is_refused() {
    let mut env = Env::new();
    let (alice, address) = env.owner_with_mirror("alice");
    env.freeze_mirror(&alice, &address).expect("freeze");
    let result = env.update_mirror(&alice, &address, None, Changes::name("renamed"));
    assert_mirror_error(result, MirrorError::MirrorFrozen);
    assert_eq!(env.mirror(&address).name, "alice");
}

// --- transfer_mirror ---------------------------------------------------------------

#[test]
fn transfer_mirror_moves_ownership() {
    let mut env = Env::new();
    let (alice, address) = env.owner_with_mirror("alice");
    let bob = keypair("bob");
    let created_at = env.now();
    let now = env.tick();
    let meta = env.transfer_mirror(&alice, &address, &bob.pubkey()).expect("transfer_mirror");

    let mirror = env.mirror(&address);
    assert_eq!(mirror.owner, bob.pubkey());
    assert_eq!(mirror.creator, alice.pubkey(), "the creator (and so the address) stays");
    assert_eq!(mirror.mirror_id, 1);
    assert_eq!(mirror.name, "alice");
    assert_eq!(mirror.status, MirrorStatus::Active);
    assert_eq!(mirror.created_at, created_at);
    assert_eq!(mirror.updated_at, now);

    let ev: MirrorTransferred = event(&meta);
    assert_eq!(ev.mirror, address);
    assert_eq!(ev.previous_owner, alice.pubkey());
    assert_eq!(ev.new_owner, bob.pubkey());
    assert_eq!(ev.timestamp, now);
    assert_sbf_log(&meta, "TransferMirror");
}

#[test]
fn transferred_mirror_answers_to_the_new_owner_only() {
    let mut env = Env::new();
    let (alice, address) = env.owner_with_mirror("alice");
    let bob = env.funded("bob");
    env.transfer_mirror(&alice, &address, &bob.pubkey()).expect("transfer");

    assert_mirror_error(
        env.update_mirror(&alice, &address, None, Changes::name("alice again")),
        MirrorError::NotAuthorized,
    );
    assert_mirror_error(env.transfer_mirror(&alice, &address, &alice.pubkey()), MirrorError::NotOwner);
    env.update_mirror(&bob, &address, None, Changes::name("bob's")).expect("new owner updates");
    assert_eq!(env.mirror(&address).name, "bob's");
}

#[test]
fn transfer_mirror_by_non_owner_is_refused() {
    let mut env = Env::new();
    let (alice, address) = env.owner_with_mirror("alice");
    let mallory = env.funded("mallory");
    let result = env.transfer_mirror(&mallory, &address, &mallory.pubkey());
    assert_mirror_error(result, MirrorError::NotOwner);
    assert_eq!(env.mirror(&address).owner, alice.pubkey());
}

#[test]
fn transfer_mirror_to_its_owner_is_refused() {
    let mut env = Env::new();
    let (alice, address) = env.owner_with_mirror("alice");
    assert_mirror_error(env.transfer_mirror(&alice, &address, &alice.pubkey()), MirrorError::InvalidNewOwner);
}

#[test]
fn transfer_mirror_to_default_address_is_refused() {
    let mut env = Env::new();
    let (alice, address) = env.owner_with_mirror("alice");
    assert_mirror_error(env.transfer_mirror(&alice, &address, &Pubkey::default()), MirrorError::InvalidNewOwner);
    assert_eq!(env.mirror(&address).owner, alice.pubkey());
}

#[test]
fn transfer_mirror_is_allowed_for_frozen_mirrors() {
    let mut env = Env::new();
    let (alice, address) = env.owner_with_mirror("alice");
    let bob = keypair("bob");
    env.freeze_mirror(&alice, &address).expect("freeze");
    env.transfer_mirror(&alice, &address, &bob.pubkey()).expect("transfer frozen mirror");
    let mirror = env.mirror(&address);
    assert_eq!(mirror.owner, bob.pubkey());
    assert_eq!(mirror.status, MirrorStatus::Frozen);
}

// --- freeze_mirror ------------------------------------------------------------------

#[test]
fn freeze_mirror_sets_status_frozen() {
    let mut env = Env::new();
    let (alice, address) = env.owner_with_mirror("alice");
    let now = env.tick();
    let meta = env.freeze_mirror(&alice, &address).expect("freeze_mirror");

    let mirror = env.mirror(&address);
    assert_eq!(mirror.status, MirrorStatus::Frozen);
    assert_eq!(mirror.owner, alice.pubkey());
    assert_eq!(mirror.name, "alice");
    assert_eq!(mirror.updated_at, now);

    let ev: MirrorFrozen = event(&meta);
    assert_eq!(ev.mirror, address);
    assert_eq!(ev.owner, alice.pubkey());
    assert_eq!(ev.timestamp, now);
    assert_sbf_log(&meta, "FreezeMirror");
}

#[test]
fn freeze_mirror_by_non_owner_is_refused() {
    let mut env = Env::new();
    let (_, address) = env.owner_with_mirror("alice");
    let mallory = env.funded("mallory");
    assert_mirror_error(env.freeze_mirror(&mallory, &address), MirrorError::NotOwner);
    assert_eq!(env.mirror(&address).status, MirrorStatus::Active);
}

#[test]
fn freeze_mirror_twice_is_refused() {
    let mut env = Env::new();
    let (alice, address) = env.owner_with_mirror("alice");
    env.freeze_mirror(&alice, &address).expect("freeze");
    assert_mirror_error(env.freeze_mirror(&alice, &address), MirrorError::MirrorFrozen);
}

#[test]
fn control_characters_in_names_and_uris_are_refused() {
    let mut env = Env::new();
    let alice = env.funded("alice");
    for name in ["nul\0byte", "new\nline", "bell\u{7}"] {
        assert_mirror_error(env.create_mirror(&alice, 1, name, Visibility::Public), MirrorError::ControlCharacters);
    }
    assert!(!env.exists(&mirror_pda(&alice.pubkey(), 1)));
    let (owner, address) = env.owner_with_mirror("owner");
    assert_mirror_error(
        env.update_mirror(&owner, &address, None, Changes::metadata_uri("ipfs://x\r\n")),
        MirrorError::ControlCharacters,
    );
    assert_mirror_error(
        env.update_mirror(&owner, &address, None, Changes::name("tab\there")),
        MirrorError::ControlCharacters,
    );
    // Non-ASCII printable text is fine.
    env.update_mirror(&owner, &address, None, Changes::name("Zoë 鏡")).expect("printable unicode");
}
