# Sourced by the scripts: the defaults every command shares.
# Cargo's target directory lives outside the checkout so later builds and CI reuse it.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/mirror-reality/target}"
export MIRROR_DATA_DIR="${MIRROR_DATA_DIR:-$PWD/.data}"
export PATH="$HOME/.cargo/bin:$PATH"
