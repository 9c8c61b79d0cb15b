#!/usr/bin/env bash
# Build the original OpenMMLab 1.x stack as an independent oracle, idempotently.
#
#   bash tools/oracle/build_env.sh            # prints the oracle's python on stdout
#
# The environment holds what the released HorNet detectors and segmentors were
# made with: mmcv-full 1.7.2 (compiled from its sdist with the C++ ops), mmdet
# 2.28.2, mmsegmentation 0.30.0 and mmcls 0.25.0 (whose HorNet backbone the 2.x
# configs use), on torch 2.1.2 / Python 3.10, all from the package registry.
# It is used only to write the fixtures in tests/data/oracle (see
# tools/oracle/make_fixtures.py); the test suite reads the fixtures and does not
# need this environment.
#
# The compiled mmcv-full wheel is cached outside the repository, keyed by what it
# was built against, and so is the virtual environment:
#   $HORNET_MM_CACHE/wheels/mmcv-full-1.7.2/torch2.1.2-cpuops-cp310/
#   $HORNET_MM_CACHE/oracle/mmcv-full-1.7.2_torch2.1.2_cp310/
# (HORNET_MM_CACHE defaults to ~/.cache/hornet_mm). A cold build takes about 25
# minutes on 2 cores, almost all of it compiling mmcv-full; a cached one seconds.
#
# Environment variables:
#   ORACLE_PYTHON  Python 3.10 interpreter (default: pyenv's 3.10.13, then python3.10)
#   MAX_JOBS       parallel compile jobs (default: number of cores)
set -euo pipefail

CACHE="${HORNET_MM_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/hornet_mm}"
TORCH=2.1.2
TORCHVISION=0.16.2
MMCV=1.7.2
KEY="mmcv-full-${MMCV}_torch${TORCH}_cp310"
VENV="$CACHE/oracle/$KEY"
WHEEL_DIR="$CACHE/wheels/mmcv-full-$MMCV/torch$TORCH-cpuops-cp310"
PINS=('numpy<2' 'opencv-python<4.10' 'setuptools<70')

log() { printf '[oracle] %s\n' "$*" >&2; }
die() { printf '[oracle] ERROR: %s\n' "$*" >&2; exit 1; }

check() {
    "$VENV/bin/python" - <<'EOF' >/dev/null 2>&1
import torch, mmcv, mmdet, mmseg, mmcls
from mmcv.ops import nms, roi_align
assert mmcv.__version__ == '1.7.2' and mmdet.__version__ == '2.28.2'
assert mmseg.__version__ == '0.30.0' and mmcls.__version__ == '0.25.0'
nms(torch.rand(3, 4), torch.rand(3), 0.5)
EOF
}

if [[ -x "$VENV/bin/python" ]] && check; then
    log "oracle environment at $VENV is ready"
    echo "$VENV/bin/python"
    exit 0
fi

if [[ -z "${ORACLE_PYTHON:-}" ]]; then
    if [[ -x "$HOME/.pyenv/versions/3.10.13/bin/python" ]]; then
        ORACLE_PYTHON="$HOME/.pyenv/versions/3.10.13/bin/python"
    else
        ORACLE_PYTHON="$(command -v python3.10 || true)"
    fi
fi
[[ -n "$ORACLE_PYTHON" ]] || die "no Python 3.10 found; set ORACLE_PYTHON"
"$ORACLE_PYTHON" -c 'import sys; assert sys.version_info[:2] == (3, 10)' \
    || die "$ORACLE_PYTHON is not Python 3.10"

rm -rf "$VENV"
"$ORACLE_PYTHON" -m venv "$VENV"
PIP=("$VENV/bin/python" -m pip --disable-pip-version-check)
log "torch $TORCH, torchvision $TORCHVISION and build tools"
"${PIP[@]}" install -q "torch==$TORCH" "torchvision==$TORCHVISION" "${PINS[@]}" \
    wheel ninja addict yapf packaging pyyaml Pillow

if ! compgen -G "$WHEEL_DIR/mmcv_full-*.whl" >/dev/null; then
    log "compiling mmcv-full $MMCV with C++ ops (about 23 minutes on 2 cores)"
    BUILD="$(mktemp -d)"
    "${PIP[@]}" download -q --no-deps --no-binary :all: --no-build-isolation \
        "mmcv-full==$MMCV" -d "$BUILD"
    tar -xzf "$BUILD/mmcv-full-$MMCV.tar.gz" -C "$BUILD"
    mkdir -p "$WHEEL_DIR.partial"
    (
        cd "$BUILD/mmcv-full-$MMCV"
        export MMCV_WITH_OPS=1 FORCE_CUDA=0 MAX_JOBS="${MAX_JOBS:-$(nproc)}"
        "${PIP[@]}" wheel --no-deps --no-build-isolation --no-cache-dir \
            -w "$WHEEL_DIR.partial" . > "$BUILD/build.log" 2>&1
    ) || die "mmcv-full build failed; log: $BUILD/build.log"
    rm -rf "$WHEEL_DIR" && mv "$WHEEL_DIR.partial" "$WHEEL_DIR"
    rm -rf "$BUILD"
fi
log "mmcv-full, mmdet, mmsegmentation, mmcls"
"${PIP[@]}" install -q --no-deps "$WHEEL_DIR"/mmcv_full-*.whl
"${PIP[@]}" install -q "mmdet==2.28.2" "mmsegmentation==0.30.0" "mmcls==0.25.0" \
    "torch==$TORCH" "torchvision==$TORCHVISION" "${PINS[@]}" \
    pycocotools terminaltables matplotlib scipy prettytable
check || die "the oracle environment was built but mmcv.ops does not run"
log "ready: $VENV"
echo "$VENV/bin/python"
