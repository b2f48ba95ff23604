#!/usr/bin/env bash
# Samplers CI step: the statistical tests already run in `cargo test`; this smoke-runs the
# throughput example in release (0.2 s per case, prints samples/s and RNG words/sample) so
# it cannot rot. It asserts nothing about speed (the CI machine is shared and noisy), only
# that every case ran and reported a positive rate.
set -euo pipefail
cd "$(dirname "$0")/.."
out=$(cargo run --quiet --release --example sampler_speed 0.2)
printf '%s\n' "$out"
lines=$(printf '%s\n' "$out" | grep -c ' samples/s ')
if [ "$lines" -ne 8 ]; then
  echo "sampler_speed: expected 8 result lines, got $lines" >&2
  exit 1
fi
