#!/usr/bin/env bash
# Set up everything (idempotent, seconds when nothing changed) and run the
# test suite. Extra arguments go to pytest, e.g. `bash tools/run_tests.sh -k gnconv`.
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$REPO/tools/install.sh"
source "$REPO/tools/env.sh"
cd "$REPO"
exec "$HORNET_MM_PYTHON" -m pytest "$@"
