#!/usr/bin/env bash
# Installs everything the test suite needs on a fresh Debian machine that has
# only rustup/cargo: system packages, the Rust targets and the Python peers.
# Safe to run again; it skips what is already there.
set -euo pipefail

need_apt=()
# wrk: the load generator of the writer and ingest benchmarks; faketime: the
# wrong-clock test (libfaketime); postgresql: the regional hub's tests start
# their own cluster (initdb, pg_ctl).
for pkg in mosquitto openssl socat qemu-system-arm chromium chromium-driver sqlite3 wrk faketime postgresql \
    curl systemd gcc-aarch64-linux-gnu libc6-dev-arm64-cross; do
    dpkg -s "$pkg" >/dev/null 2>&1 || need_apt+=("$pkg")
done
# The broker tests' network partition (regional-hub/tests/broker): ip netns, veth.
dpkg -s iproute2 >/dev/null 2>&1 || need_apt+=(iproute2)
if [ ${#need_apt[@]} -gt 0 ]; then
    echo "install-deps: apt packages: ${need_apt[*]}"
    sudo_cmd=""
    [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
    $sudo_cmd apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends "${need_apt[@]}"
fi

# The broker is started by the tests on their own ports; stop the distro's
# service so that it holds no port and writes no files.
if command -v systemctl >/dev/null 2>&1; then
    systemctl disable --now mosquitto >/dev/null 2>&1 || true
    # Likewise the distro's PostgreSQL cluster: the hub's tests run their own.
    systemctl disable --now postgresql >/dev/null 2>&1 || true
fi

# Python peers of the gateway's QEMU tests (hil-tests): an independent
# Modbus master; and schemathesis, which tests the server against its own
# OpenAPI document (depot-server/tests/api/contract.rs).
python3 -m pip install --quiet --root-user-action=ignore pymodbus==3.16.1 pyserial==3.5 \
    schemathesis==4.32.5

# The gateway firmware's defmt log is decoded by the tests' own Rust code
# (the defmt-decoder crate), so no decoding tool is installed. Reading a real
# board's log needs a debug probe and probe-rs (gateway-firmware/README.md).
rustup component add rustfmt clippy >/dev/null
rustup target add thumbv7em-none-eabihf >/dev/null
# The depot box (Raspberry Pi, arm64): the cross target for the arm64 package
# (linked by gcc-aarch64-linux-gnu, .cargo/config.toml), and cargo-deb for the
# Debian packages (`cargo xtask package`). cargo-deb compiles for minutes:
# only when missing.
rustup target add aarch64-unknown-linux-gnu >/dev/null
if ! cargo deb --version >/dev/null 2>&1; then
    cargo install cargo-deb --version 3.8.0 --locked
fi
# Supply chain: cargo-deny checks the dependencies' licences and sources
# against deny.toml (offline), cargo-cyclonedx writes each binary's SBOM
# beside its package. Both compile for minutes: only when missing.
if ! cargo deny --version 2>/dev/null | grep -q '0.20.2'; then
    cargo install cargo-deny --version 0.20.2 --locked
fi
if ! cargo cyclonedx --version 2>/dev/null | grep -q '0.5.9'; then
    cargo install cargo-cyclonedx --version 0.5.9 --locked
fi

echo "install-deps: done"
