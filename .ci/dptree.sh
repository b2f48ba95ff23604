#!/usr/bin/env bash
# DPTree-family CI step: the unit/statistical tests run in `cargo test`; this runs the
# measurement example in release (fixed seeds, so deterministic) and checks that every
# empirical coverage it prints is at least 1 − β = 95%, so the README numbers cannot rot.
set -euo pipefail
cd "$(dirname "$0")/.."
out=$(cargo run --quiet --release --example dptree)
printf '%s\n' "$out"
n=0
while read -r ok total; do
  n=$((n + 1))
  if [ $((ok * 100)) -lt $((total * 95)) ]; then
    echo "dptree: coverage $ok/$total below 95%" >&2
    exit 1
  fi
done < <(printf '%s\n' "$out" | grep -o 'coverage [0-9]*/[0-9]*' | sed 's/coverage //; s#/# #')
if [ "$n" -ne 4 ]; then
  echo "dptree: expected 4 coverage lines, got $n" >&2
  exit 1
fi
