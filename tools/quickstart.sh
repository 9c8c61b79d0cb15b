#!/usr/bin/env bash
# Set up everything (idempotent) and run the main job end to end.
#   bash tools/quickstart.sh [--epochs N]
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$REPO/tools/install.sh"
source "$REPO/tools/env.sh"
cd "$REPO"
exec "$HORNET_MM_PYTHON" tools/demo/detection_pipeline.py --work-dir work_dirs/quickstart "$@"
