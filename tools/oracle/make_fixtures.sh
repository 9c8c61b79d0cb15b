#!/usr/bin/env bash
# (Re)write the parity fixtures in tests/data/oracle with the original stack.
#
#   bash tools/oracle/make_fixtures.sh [CASE ...]     # all cases, or some
#
# 1. builds (or reuses) the oracle environment: tools/oracle/build_env.sh;
# 2. generates the seeded COCO- and ADE20K-format images with hornet_mm's
#    generators (the test suite regenerates them and checks their SHA-256);
# 3. runs tools/oracle/make_fixtures.py in the oracle environment.
# The test suite needs only the fixtures, not the oracle environment.
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
source "$REPO/tools/env.sh"
OUT="$REPO/tests/data/oracle"

start=$(date +%s)
ORACLE_PY="$(bash "$REPO/tools/oracle/build_env.sh")"
build_seconds=$(( $(date +%s) - start ))

DATA="$(mktemp -d)"
trap 'rm -rf "$DATA"' EXIT
# the image counts are those of tests/test_oracle/test_parity.py
"$HORNET_MM_PYTHON" - "$DATA" <<'EOF'
import sys
from hornet_mm.datasets.synthetic import make_ade_style, make_coco_style
make_coco_style(sys.argv[1] + '/coco', num_train=0, num_val=4, progress=False)
make_ade_style(sys.argv[1] + '/ade', num_train=0, num_val=3)
EOF

args=()
if [[ $# -gt 0 ]]; then args=(--only "$@"); fi
# a cold build is recorded; a cached environment (seconds) keeps the old figure
if (( build_seconds > 60 )); then args+=(--build-seconds "$build_seconds"); fi
OMP_NUM_THREADS=2 "$ORACLE_PY" "$REPO/tools/oracle/make_fixtures.py" \
    --coco "$DATA/coco" --ade "$DATA/ade" --out "$OUT" "${args[@]}"
