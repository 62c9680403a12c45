# Sourced by the scripts: the defaults every command shares.
# Cargo's target directory lives outside the checkout so later builds and CI reuse it.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/mirror-reality/target}"
export MIRROR_DATA_DIR="${MIRROR_DATA_DIR:-$PWD/.data}"
export PATH="$HOME/.cargo/bin:$PATH"
# Kubo (the IPFS node) is built once by scripts/build-kubo, outside the checkout like the Cargo target.
export MIRROR_KUBO_VERSION="${MIRROR_KUBO_VERSION:-v0.42.0}"
export MIRROR_KUBO_BIN="${MIRROR_KUBO_BIN:-$HOME/.cache/mirror-reality/kubo/$MIRROR_KUBO_VERSION/ipfs}"
