#!/usr/bin/env bash
# Benchmark smoke test for CI: unit tests of the bench program (exact attention vs an f64
# softmax, harness, sanity checks), then a --quick --json run whose rows are validated.
# The numbers themselves are not asserted (shared machines are noisy), but every row must
# be present, well-formed and positive, and the program itself fails if a sampler's output
# fails its mean/sd sanity check. Takes ~30 s after the build (opendp and the test profile
# take ~2 min to build on 2 cores).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR=never

command -v python3 >/dev/null || { apt-get update -qq && apt-get install -y -qq python3 >/dev/null; }

echo "==== bench: unit tests ===="
cargo test --release -p dpxattn-bench

echo "==== bench: quick run (JSON) ===="
out=$(cargo run --release -q -p dpxattn-bench -- --json --quick)
printf '%s\n' "$out"

# Rows that must be present (all of them: the mechanism is wired).
REQUIRED="sampler_vs_opendp,query_vs_exact,build"

printf '%s\n' "$out" | REQUIRED="$REQUIRED" python3 -c '
import json, os, sys
required = set(os.environ["REQUIRED"].split(","))
keys = {
    "sampler_vs_opendp": ["name", "sampler", "sigma", "ours_per_s", "opendp_per_s", "speedup"],
    "query_vs_exact": ["name", "n", "d", "dv", "degree", "ours_ns", "exact_ns", "speedup"],
    "build": ["name", "n", "d", "dv", "degree", "ns_per_token"],
}
rows = {}
for i, line in enumerate(sys.stdin, 1):
    row = json.loads(line)  # raises on anything that is not JSON
    assert isinstance(row, dict), f"line {i}: not an object"
    name = row.get("name")
    assert name in keys, f"line {i}: unknown row {name!r}"
    for k in keys[name]:
        assert k in row, f"line {i}: {name} lacks {k!r}"
    if name == "query_vs_exact" or name == "build":
        # The contract keys, exactly.
        assert sorted(row) == sorted(keys[name]), f"line {i}: keys {sorted(row)}"
    for k, v in row.items():
        if k in ("name", "sampler", "rng"):
            continue
        assert isinstance(v, (int, float)) and v > 0, f"line {i}: {k}={v!r}"
    rows.setdefault(name, []).append(row)
missing = required - set(rows)
assert not missing, f"missing rows: {sorted(missing)}"
assert sorted(r["sampler"] for r in rows["sampler_vs_opendp"]) == ["discrete_gaussian", "discrete_laplace"]
for name in ("query_vs_exact", "build"):
    if name in rows:
        assert [r["n"] for r in rows[name]] == [256, 1024, 4096, 16384, 65536], name
print("bench rows OK:", {k: len(v) for k, v in rows.items()})
'
