#!/usr/bin/env bash
# Provenance check for src/privacy: every reference row hard-coded in the tests must be
# reproduced, digit for digit, by docs/notes/privacy_ref.py (mpmath, 60 digits).
# Self-contained: installs mpmath if missing. Exits non-zero on any mismatch. ~20 s.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! python3 -c "import mpmath" 2>/dev/null; then
  pip install --quiet mpmath 2>/dev/null || pip install --quiet --break-system-packages mpmath
fi
python3 docs/notes/privacy_ref.py all | python3 -c '
import glob, re, sys
# Compare with all whitespace removed: rustfmt may wrap long rows.
src = re.sub(r"\s+", "", "".join(open(p).read() for p in sorted(glob.glob("src/privacy/*"))))
src = src.replace(",)", ")")
rows = [re.sub(r"\s+", "", l) for l in sys.stdin if l.startswith("    (")]
missing = [r for r in rows if r not in src]
for r in missing:
    print("reference row not found in src/privacy:", r)
print("privacy reference rows checked:", len(rows), "missing:", len(missing))
sys.exit(1 if missing or len(rows) < 300 else 0)
'
