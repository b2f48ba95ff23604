#!/usr/bin/env bash
# Short, bounded fuzzing of dpxattn (issue 7). Installs a nightly toolchain and cargo-fuzz if
# missing, then runs every target of fuzz/ for FUZZ_SECONDS (default 60) each, with
# AddressSanitizer and overflow checks (cargo-fuzz defaults). Exits non-zero on any crash,
# panic, sanitizer report or timeout. Total: ~3 min of builds + FUZZ_SECONDS per target.
#
# Longer local run (as reported in docs/notes/harden.md):
#   FUZZ_SECONDS=600 .ci/fuzz.sh
set -euo pipefail
cd "$(dirname "$0")/.."
SECS="${FUZZ_SECONDS:-60}"
NIGHTLY="${DPX_NIGHTLY:-nightly}"

if ! rustup run "$NIGHTLY" rustc --version >/dev/null 2>&1; then
  rustup toolchain install "$NIGHTLY" --profile minimal
fi
if ! cargo "+$NIGHTLY" fuzz --version >/dev/null 2>&1; then
  cargo install cargo-fuzz --locked
fi

cd fuzz
cargo "+$NIGHTLY" fuzz build
for t in $(cargo "+$NIGHTLY" fuzz list); do
  printf '\n== fuzz %s for %ss ==\n' "$t" "$SECS"
  mkdir -p "corpus/$t"
  # -timeout: one input taking > 10 s is reported as a failure (hangs are bugs too).
  log="$(mktemp)"
  if ! cargo "+$NIGHTLY" fuzz run "$t" "corpus/$t" -- \
      -max_total_time="$SECS" -max_len=8192 -timeout=10 -print_final_stats=1 >"$log" 2>&1; then
    tail -n 80 "$log"
    echo "fuzz target $t FAILED (reproducer under fuzz/artifacts/$t/)" >&2
    exit 1
  fi
  grep -E "^(stat::number_of_executed_units|stat::peak_rss_mb|Done)" "$log" || true
  rm -f "$log"
done
echo "fuzzing: no crash"
