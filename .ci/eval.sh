#!/usr/bin/env bash
# CI step for the evaluation harness (issue 6): the eval JSON contract on real bundled data,
# and the planner example. Self-contained; exits non-zero on any failure.
# Debug profile on the smallest set keeps it to seconds after the build.
set -euo pipefail
cd "$(dirname "$0")/.."

out=$(cargo run --quiet --example eval -- --data examples/data/minilm/n128_layer2 --epsilon 2 --json)
last=$(printf '%s\n' "$out" | tail -n 1)
num='-?[0-9]+(\.[0-9]+)?(e-?[0-9]+)?'
re="^\{\"kind\":\"summary\",\"n\":128,\"heads\":4,\"epsilon\":2\.0,\"delta\":1e-5,\"dp_err\":${num},\"uniform_err\":${num},\"paper_err\":${num},\"kernel_err\":${num},\"clip_err\":${num}\}$"
if ! printf '%s\n' "$last" | grep -Eq "$re"; then
    echo "eval --json: last line breaks the summary contract:" >&2
    echo "$last" >&2
    exit 1
fi
# One {"kind":"head",...} line per head before the summary.
heads=$(printf '%s\n' "$out" | grep -c '^{"kind":"head",' || true)
if [ "$heads" != 4 ]; then
    echo "eval --json: expected 4 head lines, got $heads" >&2
    exit 1
fi
echo "eval contract ok: $last"

cargo run --quiet --example plan -- --d 32 --dv 32 --n 4096 --epsilon 1 >/dev/null
echo "plan example ok"
