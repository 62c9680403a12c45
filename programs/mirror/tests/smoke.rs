mod common;
use common::*;
use mirror::{MirrorCreated, Visibility};
use solana_signer::Signer;

#[test]
fn create_mirror_logs_like_sbf() {
    let mut env = Env::new();
    let alice = env.funded("alice");
    let meta = env.create_mirror(&alice, 1, "alice", Visibility::Public).expect("create");
    println!("{:#?}", meta.logs);
    let ev: MirrorCreated = event(&meta);
    assert_eq!(ev.owner, alice.pubkey());
}
