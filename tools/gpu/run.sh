#!/usr/bin/env bash
# The prepared GPU run, in one call, from the repository's root:
#   bash tools/gpu/run.sh               # on the GPU machine: results in $OUT
#   bash tools/gpu/run.sh --dry-run     # anywhere, on the CPU
# Extra arguments go to tools/gpu/gpu_run.py (--out, --wheels, --site, ...).
# The interpreter: $PYTHON, else python3 (on the GPU machine the one with its
# PyTorch); a dry run without $PYTHON uses the one tools/env.sh finds.
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
if [[ -z "${PYTHON:-}" && " $* " == *" --dry-run "* ]]; then
    source "$REPO/tools/env.sh"
    PYTHON="$HORNET_MM_PYTHON"
fi
cd "$REPO"
exec "${PYTHON:-python3}" "$REPO/tools/gpu/gpu_run.py" "$@"
