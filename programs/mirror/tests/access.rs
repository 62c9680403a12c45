//! Access grants: grant_access, revoke_access, and the rules by which a grant
//! lets a non-owner update a mirror (MANAGE) or request training (TRAIN).
mod common;
use common::*;
use mirror::{AccessGranted, AccessRevoked, MirrorUpdated, TrainRequested};

const ANCHOR_NOT_INITIALIZED: anchor_lang::error::ErrorCode = anchor_lang::error::ErrorCode::AccountNotInitialized;

/// Alice's mirror and a funded Bob who holds `permissions` on it until `expires_at`.
fn mirror_with_grantee(env: &mut Env, permissions: u8, expires_at: i64) -> (Keypair, Pubkey, Keypair, Pubkey) {
    let (alice, mirror) = env.owner_with_mirror("alice");
    let bob = env.funded("bob");
    env.grant(&alice, &mirror, &bob.pubkey(), permissions, expires_at).expect("grant_access");
    let grant = grant_pda(&mirror, &bob.pubkey());
    (alice, mirror, bob, grant)
}

// --- grant_access --------------------------------------------------------------------

#[test]
fn grant_access_creates_the_grant() {
    let mut env = Env::new();
    let (alice, mirror) = env.owner_with_mirror("alice");
    let bob = keypair("bob");
    let now = env.tick();
    let expires_at = now + 3_600;
    let meta = env.grant(&alice, &mirror, &bob.pubkey(), PERM_VIEW | PERM_INFER, expires_at).expect("grant_access");

    let address = grant_pda(&mirror, &bob.pubkey());
    let grant = env.account::<AccessGrant>(&address);
    assert_eq!(grant.mirror, mirror);
    assert_eq!(grant.grantee, bob.pubkey());
    assert_eq!(grant.permissions, PERM_VIEW | PERM_INFER);
    assert_eq!(grant.expires_at, expires_at);
    assert_eq!(grant.granted_at, now);
    assert_eq!(grant.updated_at, now);
    assert_eq!(grant.bump, bump_of(&[mirror::GRANT_SEED, mirror.as_ref(), bob.pubkey().as_ref()]));

    let ev: AccessGranted = event(&meta);
    assert_eq!(ev.mirror, mirror);
    assert_eq!(ev.grant, address);
    assert_eq!(ev.grantee, bob.pubkey());
    assert_eq!(ev.permissions, PERM_VIEW | PERM_INFER);
    assert_eq!(ev.expires_at, expires_at);
    assert_eq!(ev.granted_by, alice.pubkey());
    assert_eq!(ev.timestamp, now);
    assert_sbf_log(&meta, "GrantAccess");
}

#[test]
fn grant_access_again_replaces_permissions_and_expiry() {
    let mut env = Env::new();
    let granted_at = env.now();
    let (alice, mirror, bob, address) = mirror_with_grantee(&mut env, PERM_VIEW, granted_at + 100);
    let now = env.tick();
    let meta = env.grant(&alice, &mirror, &bob.pubkey(), PERM_TRAIN | PERM_MANAGE, 0).expect("grant again");

    let grant = env.account::<AccessGrant>(&address);
    assert_eq!(grant.mirror, mirror);
    assert_eq!(grant.grantee, bob.pubkey());
    assert_eq!(grant.permissions, PERM_TRAIN | PERM_MANAGE);
    assert_eq!(grant.expires_at, 0);
    assert_eq!(grant.granted_at, granted_at, "first grant time is kept");
    assert_eq!(grant.updated_at, now);

    let ev: AccessGranted = event(&meta);
    assert_eq!(ev.grant, address);
    assert_eq!(ev.permissions, PERM_TRAIN | PERM_MANAGE);
    assert_eq!(ev.expires_at, 0);
    assert_eq!(ev.timestamp, now);
}

#[test]
fn grant_access_upgraded_from_view_to_manage_lets_grantee_update() {
    let mut env = Env::new();
    let (alice, mirror, bob, grant) = mirror_with_grantee(&mut env, PERM_VIEW, 0);
    assert_mirror_error(
        env.update_mirror(&bob, &mirror, Some(grant), Changes::name("bob's edit")),
        MirrorError::MissingPermission,
    );
    env.grant(&alice, &mirror, &bob.pubkey(), PERM_VIEW | PERM_MANAGE, 0).expect("upgrade grant");
    env.update_mirror(&bob, &mirror, Some(grant), Changes::name("bob's edit")).expect("update as MANAGE grantee");
    assert_eq!(env.mirror(&mirror).name, "bob's edit");
}

#[test]
fn grant_access_accepts_all_permission_bits() {
    let mut env = Env::new();
    let (_, _, _, grant) = mirror_with_grantee(&mut env, PERM_ALL, 0);
    assert_eq!(env.account::<AccessGrant>(&grant).permissions, 15);
}

#[test]
fn grant_access_with_zero_permissions_is_refused() {
    let mut env = Env::new();
    let (alice, mirror) = env.owner_with_mirror("alice");
    let bob = keypair("bob");
    assert_mirror_error(env.grant(&alice, &mirror, &bob.pubkey(), 0, 0), MirrorError::InvalidPermissions);
    assert!(!env.exists(&grant_pda(&mirror, &bob.pubkey())));
}

#[test]
fn grant_access_with_unknown_permission_bit_is_refused() {
    let mut env = Env::new();
    let (alice, mirror) = env.owner_with_mirror("alice");
    let bob = keypair("bob");
    assert_mirror_error(env.grant(&alice, &mirror, &bob.pubkey(), 16, 0), MirrorError::InvalidPermissions);
    assert!(!env.exists(&grant_pda(&mirror, &bob.pubkey())));
}

#[test]
fn grant_access_with_expiry_in_the_past_is_refused() {
    let mut env = Env::new();
    let (alice, mirror) = env.owner_with_mirror("alice");
    let bob = keypair("bob");
    let past = env.now() - 1;
    assert_mirror_error(env.grant(&alice, &mirror, &bob.pubkey(), PERM_VIEW, past), MirrorError::InvalidExpiry);
    assert!(!env.exists(&grant_pda(&mirror, &bob.pubkey())));
}

#[test]
fn grant_access_expiring_now_is_refused() {
    let mut env = Env::new();
    let (alice, mirror) = env.owner_with_mirror("alice");
    let bob = keypair("bob");
    let now = env.now();
    assert_mirror_error(env.grant(&alice, &mirror, &bob.pubkey(), PERM_VIEW, now), MirrorError::InvalidExpiry);
}

#[test]
fn grant_access_to_the_owner_is_refused() {
    let mut env = Env::new();
    let (alice, mirror) = env.owner_with_mirror("alice");
    assert_mirror_error(env.grant(&alice, &mirror, &alice.pubkey(), PERM_VIEW, 0), MirrorError::CannotGrantToOwner);
    assert!(!env.exists(&grant_pda(&mirror, &alice.pubkey())));
}

#[test]
fn grant_access_by_non_owner_is_refused() {
    let mut env = Env::new();
    let (_, mirror) = env.owner_with_mirror("alice");
    let mallory = env.funded("mallory");
    let bob = keypair("bob");
    assert_mirror_error(env.grant(&mallory, &mirror, &bob.pubkey(), PERM_ALL, 0), MirrorError::NotOwner);
    assert!(!env.exists(&grant_pda(&mirror, &bob.pubkey())));
}

// --- revoke_access -------------------------------------------------------------------

#[test]
fn revoke_access_closes_the_grant_and_returns_rent_to_the_owner() {
    let mut env = Env::new();
    let (alice, mirror, bob, grant) = mirror_with_grantee(&mut env, PERM_VIEW, 0);
    let rent = env.balance(&grant);
    assert!(rent > 0);
    assert_eq!(rent, env.chain.minimum_balance_for_rent_exemption(8 + AccessGrant::INIT_SPACE));
    // A separate fee payer, so the owner's balance moves by the rent alone.
    let fee_payer = env.funded("fee-payer");
    let owner_before = env.balance(&alice.pubkey());
    let now = env.tick();
    let meta = env.send(&[revoke_access_ix(&alice.pubkey(), &mirror, &grant)], &[&fee_payer, &alice]).expect("revoke");

    assert!(!env.exists(&grant));
    assert_eq!(env.balance(&grant), 0);
    assert_eq!(env.balance(&alice.pubkey()), owner_before + rent);

    let ev: AccessRevoked = event(&meta);
    assert_eq!(ev.mirror, mirror);
    assert_eq!(ev.grant, grant);
    assert_eq!(ev.grantee, bob.pubkey());
    assert_eq!(ev.revoked_by, alice.pubkey());
    assert_eq!(ev.timestamp, now);
    assert_sbf_log(&meta, "RevokeAccess");
}

#[test]
fn revoke_access_by_non_owner_is_refused() {
    let mut env = Env::new();
    let (_, mirror, bob, grant) = mirror_with_grantee(&mut env, PERM_VIEW, 0);
    assert_mirror_error(env.revoke(&bob, &mirror, &grant), MirrorError::NotOwner);
    assert!(env.exists(&grant));
}

#[test]
fn revoke_access_with_grant_of_another_mirror_is_refused() {
    let mut env = Env::new();
    let (alice, alice_mirror) = env.owner_with_mirror("alice");
    env.create_mirror(&alice, 2, "second", Visibility::Public).expect("second mirror");
    let second = mirror_pda(&alice.pubkey(), 2);
    let bob = keypair("bob");
    env.grant(&alice, &second, &bob.pubkey(), PERM_VIEW, 0).expect("grant on second");
    let grant = grant_pda(&second, &bob.pubkey());
    assert_mirror_error(env.revoke(&alice, &alice_mirror, &grant), MirrorError::GrantMismatch);
    assert!(env.exists(&grant));
}

#[test]
fn revoked_grant_passed_again_is_refused_as_not_initialized() {
    let mut env = Env::new();
    let (alice, mirror, bob, grant) = mirror_with_grantee(&mut env, PERM_ALL, 0);
    env.revoke(&alice, &mirror, &grant).expect("revoke");

    let result = env.update_mirror(&bob, &mirror, Some(grant), Changes::name("bob's edit"));
    assert_instruction_error(result, anchor_error(ANCHOR_NOT_INITIALIZED));
    let result = env.request_training(&bob, &mirror, Some(grant));
    assert_instruction_error(result, anchor_error(ANCHOR_NOT_INITIALIZED));
    assert_instruction_error(env.revoke(&alice, &mirror, &grant), anchor_error(ANCHOR_NOT_INITIALIZED));
}

#[test]
fn revoked_grantee_without_grant_is_not_authorized() {
    let mut env = Env::new();
    let (alice, mirror, bob, grant) = mirror_with_grantee(&mut env, PERM_ALL, 0);
    env.revoke(&alice, &mirror, &grant).expect("revoke");

    let result = env.update_mirror(&bob, &mirror, None, Changes::name("bob's edit"));
    assert_mirror_error(result, MirrorError::NotAuthorized);
    assert_mirror_error(env.request_training(&bob, &mirror, None), MirrorError::NotAuthorized);
}

#[test]
fn grant_access_after_revoke_creates_a_fresh_grant() {
    let mut env = Env::new();
    let (alice, mirror, bob, grant) = mirror_with_grantee(&mut env, PERM_VIEW, 0);
    env.revoke(&alice, &mirror, &grant).expect("revoke");
    let now = env.tick();
    env.grant(&alice, &mirror, &bob.pubkey(), PERM_MANAGE, 0).expect("grant again");
    let account = env.account::<AccessGrant>(&grant);
    assert_eq!(account.permissions, PERM_MANAGE);
    assert_eq!(account.granted_at, now);
    env.update_mirror(&bob, &mirror, Some(grant), Changes::name("bob's edit")).expect("update");
}

// --- what grants allow ------------------------------------------------------------------

#[test]
fn manage_grantee_can_update_mirror() {
    let mut env = Env::new();
    let (alice, mirror, bob, grant) = mirror_with_grantee(&mut env, PERM_MANAGE, 0);
    let now = env.tick();
    let meta = env
        .update_mirror(&bob, &mirror, Some(grant), Changes::metadata_uri("ipfs://by-bob"))
        .expect("update as grantee");
    let account = env.mirror(&mirror);
    assert_eq!(account.metadata_uri, "ipfs://by-bob");
    assert_eq!(account.owner, alice.pubkey(), "a grantee does not become owner");
    assert_eq!(account.updated_at, now);
    let ev: MirrorUpdated = event(&meta);
    assert_eq!(ev.authority, bob.pubkey());
    assert_eq!(ev.metadata_uri, "ipfs://by-bob");
    assert_eq!(ev.timestamp, now);
}

#[test]
fn train_grantee_can_request_training() {
    let mut env = Env::new();
    let (_, mirror, bob, grant) = mirror_with_grantee(&mut env, PERM_TRAIN, 0);
    let now = env.tick();
    let meta = env.request_training(&bob, &mirror, Some(grant)).expect("request as grantee");
    let job = env.job(&job_pda(&mirror, 0));
    assert_eq!(job.requester, bob.pubkey());
    assert_eq!(job.status, JobStatus::Requested);
    assert_eq!(env.mirror(&mirror).job_count, 1);
    let ev: TrainRequested = event(&meta);
    assert_eq!(ev.requester, bob.pubkey());
    assert_eq!(ev.timestamp, now);
}

#[test]
fn unexpired_grant_works_until_its_expiry_second() {
    let mut env = Env::new();
    let expires_at = env.now() + 100;
    let (_, mirror, bob, grant) = mirror_with_grantee(&mut env, PERM_MANAGE | PERM_TRAIN, expires_at);
    env.chain.advance_clock(99, 250);
    assert_eq!(env.now(), expires_at - 1);
    env.update_mirror(&bob, &mirror, Some(grant), Changes::name("just in time")).expect("update before expiry");
    env.request_training(&bob, &mirror, Some(grant)).expect("request before expiry");
}

#[test]
fn expired_grant_cannot_update_mirror() {
    let mut env = Env::new();
    let expires_at = env.now() + 100;
    let (_, mirror, bob, grant) = mirror_with_grantee(&mut env, PERM_MANAGE, expires_at);
    env.chain.advance_clock(100, 250);
    assert_eq!(env.now(), expires_at);
    let result = env.update_mirror(&bob, &mirror, Some(grant), Changes::name("too late"));
    assert_mirror_error(result, MirrorError::GrantExpired);
    assert_eq!(env.mirror(&mirror).name, "alice");
}

#[test]
fn expired_grant_cannot_request_training() {
    let mut env = Env::new();
    let expires_at = env.now() + 100;
    let (_, mirror, bob, grant) = mirror_with_grantee(&mut env, PERM_TRAIN, expires_at);
    env.chain.advance_clock(3_600, 9_000);
    assert_mirror_error(env.request_training(&bob, &mirror, Some(grant)), MirrorError::GrantExpired);
    assert_eq!(env.mirror(&mirror).job_count, 0);
}

#[test]
fn grant_without_expiry_never_expires() {
    let mut env = Env::new();
    let (_, mirror, bob, grant) = mirror_with_grantee(&mut env, PERM_MANAGE, 0);
    env.chain.advance_clock(10 * 365 * 86_400, 1_000_000);
    env.update_mirror(&bob, &mirror, Some(grant), Changes::name("a decade on")).expect("update");
}

#[test]
fn view_only_grantee_cannot_update_mirror() {
    let mut env = Env::new();
    let (_, mirror, bob, grant) = mirror_with_grantee(&mut env, PERM_VIEW, 0);
    let result = env.update_mirror(&bob, &mirror, Some(grant), Changes::name("bob's edit"));
    assert_mirror_error(result, MirrorError::MissingPermission);
}

#[test]
fn view_only_grantee_cannot_request_training() {
    let mut env = Env::new();
    let (_, mirror, bob, grant) = mirror_with_grantee(&mut env, PERM_VIEW, 0);
    assert_mirror_error(env.request_training(&bob, &mirror, Some(grant)), MirrorError::MissingPermission);
}

#[test]
fn train_grantee_cannot_update_mirror() {
    let mut env = Env::new();
    let (_, mirror, bob, grant) = mirror_with_grantee(&mut env, PERM_VIEW | PERM_INFER | PERM_TRAIN, 0);
    let result = env.update_mirror(&bob, &mirror, Some(grant), Changes::name("bob's edit"));
    assert_mirror_error(result, MirrorError::MissingPermission);
}

#[test]
fn manage_grantee_cannot_request_training() {
    let mut env = Env::new();
    let (_, mirror, bob, grant) = mirror_with_grantee(&mut env, PERM_VIEW | PERM_INFER | PERM_MANAGE, 0);
    assert_mirror_error(env.request_training(&bob, &mirror, Some(grant)), MirrorError::MissingPermission);
}

#[test]
fn grant_of_another_mirror_is_a_mismatch() {
    let mut env = Env::new();
    let (alice, mirror) = env.owner_with_mirror("alice");
    env.create_mirror(&alice, 2, "second", Visibility::Public).expect("second mirror");
    let second = mirror_pda(&alice.pubkey(), 2);
    let bob = env.funded("bob");
    env.grant(&alice, &second, &bob.pubkey(), PERM_ALL, 0).expect("grant on second");
    let grant_on_second = grant_pda(&second, &bob.pubkey());

    let result = env.update_mirror(&bob, &mirror, Some(grant_on_second), Changes::name("bob's edit"));
    assert_mirror_error(result, MirrorError::GrantMismatch);
    assert_mirror_error(env.request_training(&bob, &mirror, Some(grant_on_second)), MirrorError::GrantMismatch);
}

#[test]
fn grant_of_another_grantee_is_a_mismatch() {
    let mut env = Env::new();
    let (_, mirror, _bob, bobs_grant) = mirror_with_grantee(&mut env, PERM_ALL, 0);
    let mallory = env.funded("mallory");
    let result = env.update_mirror(&mallory, &mirror, Some(bobs_grant), Changes::name("mallory's edit"));
    assert_mirror_error(result, MirrorError::GrantMismatch);
    assert_mirror_error(env.request_training(&mallory, &mirror, Some(bobs_grant)), MirrorError::GrantMismatch);
}

#[test]
fn grantee_cannot_transfer_freeze_grant_or_revoke() {
    let mut env = Env::new();
    let (_, mirror, bob, grant) = mirror_with_grantee(&mut env, PERM_ALL, 0);
    let carol = keypair("carol");
    assert_mirror_error(env.transfer_mirror(&bob, &mirror, &bob.pubkey()), MirrorError::NotOwner);
    assert_mirror_error(env.freeze_mirror(&bob, &mirror), MirrorError::NotOwner);
    assert_mirror_error(env.grant(&bob, &mirror, &carol.pubkey(), PERM_VIEW, 0), MirrorError::NotOwner);
    assert_mirror_error(env.revoke(&bob, &mirror, &grant), MirrorError::NotOwner);
}

#[test]
fn grants_of_a_previous_owner_stop_counting_after_a_transfer() {
    // A sale does not carry the seller's grants: a grant counts only while its
    // `granted_by` is the mirror's owner. The new owner can revoke the stale grant
    // (the rent then goes to them) or re-grant, which makes it theirs.
    let mut env = Env::new();
    let (alice, mirror, bob, grant) = mirror_with_grantee(&mut env, PERM_MANAGE, 0);
    let carol = env.funded("carol");
    env.transfer_mirror(&alice, &mirror, &carol.pubkey()).expect("transfer");
    let result = env.update_mirror(&bob, &mirror, Some(grant), Changes::name("still bob?"));
    assert_mirror_error(result, MirrorError::StaleGrant);

    assert_mirror_error(env.revoke(&alice, &mirror, &grant), MirrorError::NotOwner);
    let rent = env.balance(&grant);
    let fee_payer = env.funded("fee-payer");
    let carol_before = env.balance(&carol.pubkey());
    env.send(&[revoke_access_ix(&carol.pubkey(), &mirror, &grant)], &[&fee_payer, &carol]).expect("new owner revokes");
    assert_eq!(env.balance(&carol.pubkey()), carol_before + rent);
    let result = env.update_mirror(&bob, &mirror, None, Changes::name("bob again"));
    assert_mirror_error(result, MirrorError::NotAuthorized);
}

#[test]
fn a_new_owner_re_granting_makes_the_grant_theirs() {
    let mut env = Env::new();
    let (alice, mirror, bob, grant) = mirror_with_grantee(&mut env, PERM_MANAGE, 0);
    let carol = env.funded("carol");
    env.transfer_mirror(&alice, &mirror, &carol.pubkey()).expect("transfer");
    assert_mirror_error(env.update_mirror(&bob, &mirror, Some(grant), Changes::name("x")), MirrorError::StaleGrant);
    env.grant(&carol, &mirror, &bob.pubkey(), PERM_MANAGE, 0).expect("carol re-grants");
    assert_eq!(env.account::<AccessGrant>(&grant).granted_by, carol.pubkey());
    env.update_mirror(&bob, &mirror, Some(grant), Changes::name("bob for carol")).expect("grant counts again");
    assert_eq!(env.mirror(&mirror).name, "bob for carol");
}
