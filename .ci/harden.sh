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
# The mechanism's entry points must reach no panic at all (hard failure). The DPTree family's
# C ABI (dpx_tree_/distance_/highdim_/softmax_, src/tree/) still reaches a few (listed in
# docs/notes/harden.md); they are reported, and fail the step only with DPX_PANIC_STRICT=1.
panics() { arm-none-eabi-nm -C "$1" | grep -iE 'panic|_fail|unwrap_failed|expect_failed' || true; }
for t in thumbv6m-none-eabi thumbv7em-none-eabihf; do
  lib="$(ffi-tests/build-lib.sh "$t" 2>/dev/null | tail -n 1)"
  all="$(arm-none-eabi-nm "$lib" 2>/dev/null | awk '$2 == "T" && $3 ~ /^dpx_/ { print $3 }' | sort -u)"
  mech="$(printf '%s\n' "$all" | grep -vE '^dpx_(tree|distance|highdim|softmax)_')"
  for set in mech all; do
    roots=()
    for s in ${!set}; do roots+=(-u "$s"); done
    [ "${#roots[@]}" -ge 40 ] || { echo "$t: only $((${#roots[@]} / 2)) dpx_ entry points found"; exit 1; }
    # Every root is kept; --gc-sections drops everything they do not reach.
    arm-none-eabi-ld --gc-sections --entry=0 "${roots[@]}" -o "$work/$t-$set.elf" "$lib"
    found="$(panics "$work/$t-$set.elf")"
    if [ -z "$found" ]; then
      echo "$t ($set): $((${#roots[@]} / 2)) entry points, no panic symbol reachable"
    elif [ "$set" = mech ] || [ "${DPX_PANIC_STRICT:-0}" = 1 ]; then
      printf '%s\n' "$found"
      echo "$t ($set): a panic path is reachable from the C ABI (symbols above)" >&2
      exit 1
    else
      echo "$t ($set): $((${#roots[@]} / 2)) entry points; known panic paths of the DPTree ABI:"
      printf '%s\n' "$found" | sed 's/^/  /'
    fi
  done
done

step "Miri"
.ci/miri.sh

step "fuzzing"
.ci/fuzz.sh

step "done"
