//! The committed IDL (idl/mirror.json) must be what the code generates.
//! Regenerate with `UPDATE_IDL=1 cargo test -p mirror --test idl`.

use std::path::PathBuf;

#[test]
fn committed_idl_matches_the_code() {
    let program_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let committed_path = program_dir.join("../../idl/mirror.json");
    // The IDL build runs `cargo test --features idl-build` on the program; give it
    // its own target directory so it never waits on the lock of the cargo running us.
    let target_dir = std::env::var("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| program_dir.join("../../target"))
        .join("idl-build");
    // rustup exports RUSTUP_TOOLCHAIN to cargo's children; anchor-lang-idl would
    // then pass a broken `+toolchain` argument to cargo.
    std::env::remove_var("RUSTUP_TOOLCHAIN");
    let idl = anchor_lang_idl::build::IdlBuilder::new()
        .program_path(program_dir)
        .resolution(true)
        .skip_lint(false)
        .no_docs(false)
        .cargo_args(vec!["--target-dir".into(), target_dir.display().to_string()])
        .build()
        .expect("generate the IDL (cargo test --features idl-build)");
    let generated = serde_json::to_string_pretty(&idl).expect("serialize IDL") + "\n";

    if std::env::var_os("UPDATE_IDL").is_some() {
        std::fs::write(&committed_path, &generated).expect("write idl/mirror.json");
        return;
    }
    let committed = std::fs::read_to_string(&committed_path).unwrap_or_default();
    assert!(
        committed == generated,
        "idl/mirror.json differs from the code; regenerate with `UPDATE_IDL=1 cargo test -p mirror --test idl`"
    );
}
