#!/usr/bin/env bash
# Fill the wheel folder that travels to the GPU machine (run where PyPI is
# reachable), then check it:
#   bash tools/gpu/prepare.sh [DIR]          # DIR defaults to .gpu_wheels
# Wheels for CPython 3.12, manylinux x86_64, at the project's pinned versions,
# each downloaded with --no-deps from the explicit list in tools/gpu/wheels.py,
# plus the mmcv 2.1.0 sdist (built on the GPU machine by tools/gpu/run.sh).
# The check fails when a wheel is missing, is there twice or at another version,
# when a requirement of a wheel is neither carried nor preinstalled there
# (tools/gpu/preinstalled.txt), or when the folder is over BUDGET_MIB (48).
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
DIR="${1:-$REPO/.gpu_wheels}"
BUDGET_MIB="${BUDGET_MIB:-48}"
source "$REPO/tools/env.sh"

"$HORNET_MM_PYTHON" "$REPO/tools/gpu/wheels.py" download "$DIR"
"$HORNET_MM_PYTHON" "$REPO/tools/gpu/wheels.py" check "$DIR" --budget-mib "$BUDGET_MIB"
du -sh "$DIR"
