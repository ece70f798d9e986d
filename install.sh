#!/usr/bin/env bash
# Installs pipelog: builds the release binary with cargo (or takes --binary PATH) and installs it.
#
#   ./install.sh                 build and install to $PREFIX/bin (PREFIX defaults to /usr/local)
#   ./install.sh --systemd       also: a "pipelog" system user, the data directory, an example
#                                config, and a hardened systemd unit (then: systemctl enable --now pipelog)
#   ./install.sh --binary PATH   install this binary instead of building one
#   ./install.sh --uninstall     remove the binary and the unit; never the data, the config or the user
#
# Settings (environment): PREFIX=/usr/local DATA_DIR=/var/lib/pipelog CONFIG_DIR=/etc/pipelog
# SYSTEMD_DIR=/etc/systemd/system SERVICE_USER=pipelog. Running it again is safe.
# Needs a Rust toolchain (cargo) unless --binary is given; installing one is out of scope
# (see https://rustup.rs).
set -euo pipefail

PREFIX="${PREFIX:-/usr/local}"
BIN_DIR="$PREFIX/bin"
DATA_DIR="${DATA_DIR:-/var/lib/pipelog}"
CONFIG_DIR="${CONFIG_DIR:-/etc/pipelog}"
SYSTEMD_DIR="${SYSTEMD_DIR:-/etc/systemd/system}"
SERVICE_USER="${SERVICE_USER:-pipelog}"
cd "$(dirname "$0")"

usage() {
    sed -n "2,14p" "$0" | sed "s/^# \{0,1\}//"
}

systemd_running() {
    [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1
}

systemd=false
binary=""
action=install
while [ $# -gt 0 ]; do
    case "$1" in
        -h|--help) usage; exit 0 ;;
        --systemd) systemd=true ;;
        --uninstall) action=uninstall ;;
        --binary)
            [ $# -ge 2 ] || { echo "--binary needs a path" >&2; exit 2; }
            binary="$2"
            shift
            ;;
        *) echo "unknown option: $1" >&2; usage >&2; exit 2 ;;
    esac
    shift
done

unit="$SYSTEMD_DIR/pipelog.service"

if [ "$action" = uninstall ]; then
    if [ -e "$unit" ]; then
        if systemd_running; then
            systemctl disable --now pipelog.service >/dev/null 2>&1 || true
        fi
        rm -f "$unit"
        systemd_running && systemctl daemon-reload || true
        echo "removed $unit"
    fi
    if [ -e "$BIN_DIR/pipelog" ]; then
        rm -f "$BIN_DIR/pipelog"
        echo "removed $BIN_DIR/pipelog"
    fi
    echo "kept the data ($DATA_DIR), the configuration ($CONFIG_DIR) and the user $SERVICE_USER"
    exit 0
fi

if [ -z "$binary" ]; then
    if ! command -v cargo >/dev/null 2>&1; then
        echo "cargo is not installed: install a Rust toolchain first (https://rustup.rs), or pass --binary PATH" >&2
        exit 1
    fi
    cargo build --release --locked
    binary=target/release/pipelog
fi
[ -x "$binary" ] || { echo "$binary is not an executable" >&2; exit 1; }
mkdir -p "$BIN_DIR"
install -m 0755 "$binary" "$BIN_DIR/pipelog"
echo "installed $BIN_DIR/pipelog"

if [ "$systemd" = true ]; then
    if ! id "$SERVICE_USER" >/dev/null 2>&1; then
        useradd --system --home-dir "$DATA_DIR" --no-create-home --shell /usr/sbin/nologin "$SERVICE_USER"
        echo "created the system user $SERVICE_USER"
    fi
    install -d -m 0700 -o "$SERVICE_USER" -g "$(id -gn "$SERVICE_USER")" "$DATA_DIR"
    install -d -m 0750 -o root -g "$(id -gn "$SERVICE_USER")" "$CONFIG_DIR"
    if [ ! -e "$CONFIG_DIR/pipelog.toml" ]; then
        "$BIN_DIR/pipelog" config example > "$CONFIG_DIR/pipelog.toml"
        chmod 0640 "$CONFIG_DIR/pipelog.toml"
        chgrp "$(id -gn "$SERVICE_USER")" "$CONFIG_DIR/pipelog.toml"
        echo "wrote an example configuration to $CONFIG_DIR/pipelog.toml: set odoo.url and the secret file"
    fi
    mkdir -p "$SYSTEMD_DIR"
    cat > "$unit" <<UNIT
[Unit]
Description=pipelog: Odoo sales pipeline
After=network-online.target
Wants=network-online.target

[Service]
User=$SERVICE_USER
Group=$(id -gn "$SERVICE_USER")
Environment=PIPELOG_DATA=$DATA_DIR/pipelog.redb
Environment=PIPELOG_CONFIG=$CONFIG_DIR/pipelog.toml
ExecStart=$BIN_DIR/pipelog serve
Restart=on-failure
RestartSec=5
TimeoutStopSec=60
# Hardening: the data directory is the only place it may write.
ProtectSystem=strict
ReadWritePaths=$DATA_DIR
ProtectHome=true
PrivateTmp=true
PrivateDevices=true
NoNewPrivileges=true
ProtectKernelTunables=true
ProtectKernelModules=true
ProtectControlGroups=true
RestrictSUIDSGID=true
RestrictNamespaces=true
LockPersonality=true
MemoryDenyWriteExecute=true
RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX
CapabilityBoundingSet=
UMask=0077

[Install]
WantedBy=multi-user.target
UNIT
    echo "installed $unit"
    if systemd_running; then
        systemctl daemon-reload
        echo "start it with: systemctl enable --now pipelog"
    fi
fi
