#!/usr/bin/env bash
# Builds pipelog with cargo and installs the binary.
#
#   ./install.sh                 build and install to $PREFIX/bin (PREFIX defaults to /usr/local)
#   ./install.sh --uninstall     remove what install.sh installed (never the data)
#
# Needs a Rust toolchain (cargo). Installing one is out of scope: see https://rustup.rs.
set -euo pipefail

PREFIX="${PREFIX:-/usr/local}"
BIN_DIR="$PREFIX/bin"
cd "$(dirname "$0")"

usage() {
    sed -n "2,7p" "$0" | sed "s/^# \{0,1\}//"
}

case "${1:-}" in
    -h|--help)
        usage
        exit 0
        ;;
    --uninstall)
        if [ -e "$BIN_DIR/pipelog" ]; then
            rm -f "$BIN_DIR/pipelog"
            echo "removed $BIN_DIR/pipelog (data files are left where they are)"
        else
            echo "nothing to remove at $BIN_DIR/pipelog"
        fi
        exit 0
        ;;
    "")
        ;;
    *)
        echo "unknown option: $1" >&2
        usage >&2
        exit 2
        ;;
esac

if ! command -v cargo >/dev/null 2>&1; then
    echo "cargo is not installed: install a Rust toolchain first (https://rustup.rs), then run ./install.sh again" >&2
    exit 1
fi

cargo build --release --locked
mkdir -p "$BIN_DIR"
install -m 0755 target/release/pipelog "$BIN_DIR/pipelog"
echo "installed $BIN_DIR/pipelog"
