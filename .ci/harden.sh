#!/usr/bin/env bash
# Hardening checks of issue 7 that `cargo test` does not already run:
#   1. the empirical privacy audit with many more builds, in release (src/mechanism/audit.rs);
#   2. no panic path reachable from the C ABI in the bare-metal static libraries;
#   3. Miri over the image/query/build and C-ABI tests (.ci/miri.sh);
#   4. short fuzzing of every cargo-fuzz target (.ci/fuzz.sh, FUZZ_SECONDS each, default 60).
# (The complete fault-injection sweeps and the robustness tests run in `cargo test`.)
# Self-contained: installs what it needs. Exits non-zero on any failure. About 12-15 min on
# 2 shared cores (fuzzing 3 × 60 s, Miri ~5 min, builds).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
export CARGO_TERM_COLOR=never
step() { printf '\n==== harden: %s ====\n' "$*"; }

step "privacy audit (release, ${DPX_AUDIT_TRIALS:=200000} builds per dataset and run)"
DPX_AUDIT_TRIALS="$DPX_AUDIT_TRIALS" cargo test --release --lib mechanism::audit -- --nocapture 2>&1 |
  grep -E "^audit |^test |test result"
test "${PIPESTATUS[0]}" -eq 0

step "no panic path reachable from the C ABI (bare-metal archives)"
if ! command -v arm-none-eabi-nm >/dev/null || ! command -v arm-none-eabi-ld >/dev/null; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends binutils-arm-none-eabi >/dev/null
fi
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
# Every exported `dpx_*` entry point (the mechanism's and the DPTree family's) must reach no
# panic at all: any panic symbol left after --gc-sections fails the step.
panics() { arm-none-eabi-nm -C "$1" | grep -iE 'panic|_fail|unwrap_failed|expect_failed' || true; }
for t in thumbv6m-none-eabi thumbv7em-none-eabihf; do
  lib="$(ffi-tests/build-lib.sh "$t" 2>/dev/null | tail -n 1)"
  roots=()
  for s in $(arm-none-eabi-nm "$lib" 2>/dev/null | awk '$2 == "T" && $3 ~ /^dpx_/ { print $3 }' | sort -u); do
    roots+=(-u "$s")
  done
  # 21 mechanism + 33 DPTree entry points today; fewer means the symbol scan broke.
  [ "${#roots[@]}" -ge 100 ] || { echo "$t: only $((${#roots[@]} / 2)) dpx_ entry points found"; exit 1; }
  # Every root is kept; --gc-sections drops everything they do not reach.
  arm-none-eabi-ld --gc-sections --entry=0 "${roots[@]}" -o "$work/$t.elf" "$lib"
  found="$(panics "$work/$t.elf")"
  if [ -n "$found" ]; then
    printf '%s\n' "$found"
    echo "$t: a panic path is reachable from the C ABI (symbols above)" >&2
    exit 1
  fi
  echo "$t: $((${#roots[@]} / 2)) entry points, no panic symbol reachable"
done

step "Miri"
.ci/miri.sh

step "fuzzing"
.ci/fuzz.sh

step "done"
