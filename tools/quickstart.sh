#!/usr/bin/env bash
# Set up everything (idempotent) and run the main job end to end.
#   bash tools/quickstart.sh [--official RELEASED_HORNET_TINY_GF.pth]
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$REPO/tools/install.sh"
source "$REPO/tools/env.sh"
cd "$REPO"
exec "$HORNET_MM_PYTHON" tools/demo/quickstart.py --work-dir work_dirs/quickstart "$@"
