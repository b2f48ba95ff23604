#!/usr/bin/env bash
# CI step for the QEMU firmware (issue 5): install QEMU, the Arm GCC toolchain and the
# Rust bare-metal targets, then build and run everything with ffi-tests/qemu/run.sh.
# Runs as root on Debian bookworm; exits non-zero on any failure.
set -euo pipefail
cd "$(dirname "$0")/.."
export DEBIAN_FRONTEND=noninteractive

need_apt=0
for p in qemu-system-arm gcc-arm-none-eabi libnewlib-arm-none-eabi; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || need_apt=1
done
if [ "$need_apt" = 1 ]; then
  apt-get update
  # The image ships qemu-utils 10 (backports), which Breaks the qemu-system-common 7.2 that
  # qemu-system-arm pulls in; asking for the distribution's qemu-utils in the same command
  # keeps a qemu-img instead of removing it (a downgrade, hence --allow-downgrades).
  # See /work/shared/howto/EMBEDDED.md §1. --no-install-recommends: 75 MB instead of 855 MB.
  keep=()
  if dpkg-query -W -f='${Status}' qemu-utils 2>/dev/null | grep -q 'install ok installed'; then
    codename=$(. /etc/os-release && echo "${VERSION_CODENAME:-bookworm}")
    keep=("qemu-utils/$codename")
  fi
  apt-get install -y --allow-downgrades --no-install-recommends \
    qemu-system-arm gcc-arm-none-eabi libnewlib-arm-none-eabi "${keep[@]}"
fi
rustup target add thumbv6m-none-eabi thumbv7m-none-eabi thumbv7em-none-eabihf

qemu-system-arm --version | head -n 1
arm-none-eabi-gcc --version | head -n 1

# The firmware crates are outside the root workspace, so the root fmt/clippy steps miss them.
export CARGO_TARGET_DIR=${QEMU_TARGET_DIR:-$PWD/target/qemu}/clippy
for c in workload rust-fw; do
  (cd "ffi-tests/qemu/$c" && cargo fmt --check)
done
(cd ffi-tests/qemu/workload && cargo clippy -q --all-targets --features std -- -D warnings)
(cd ffi-tests/qemu/rust-fw && cargo clippy -q --target thumbv7m-none-eabi --lib --bins -- -D warnings)
(cd ffi-tests/qemu/rust-fw && cargo clippy -q --target thumbv6m-none-eabi --no-default-features --bins -- -D warnings)
unset CARGO_TARGET_DIR

exec ffi-tests/qemu/run.sh
