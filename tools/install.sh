#!/usr/bin/env bash
# Set up everything hornet_mm needs, idempotently.
#
#   bash tools/install.sh            # venv in ./.venv (or $HORNET_MM_VENV)
#
# What it does, in order:
#   1. a virtual environment (reusing an active venv/conda env when there is one);
#   2. PyTorch with a matching torchvision (a pair that already works is kept);
#   3. mmcv 2.1.0 with its C++ ops, built once from the sdist and cached outside the
#      repository, keyed by the torch version and CUDA flavour it was built against;
#   4. mmengine, mmdet, mmsegmentation, mmpretrain and their runtime needs (pinned);
#   5. hornet_mm itself in editable mode, plus the test requirements.
# A stamp (hash of the requirement files and this script) makes a second run with
# nothing to do return in seconds.
#
# Environment variables:
#   HORNET_MM_VENV    where to create the virtual environment (default: <repo>/.venv)
#   HORNET_MM_CACHE   where built wheels are cached (default: ~/.cache/hornet_mm)
#   PYTHON            interpreter used to create the venv (default: python3)
#   MAX_JOBS          parallel compile jobs for mmcv (default: number of cores)
#   HORNET_MM_PCH     0 compiles mmcv without the precompiled header
#   CXX               the C++ compiler for mmcv (default: c++)
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="${HORNET_MM_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/hornet_mm}"
MMCV_VERSION="2.1.0"

log() { printf '[install] %s\n' "$*" >&2; }
die() { printf '[install] ERROR: %s\n' "$*" >&2; exit 1; }

# ---------------------------------------------------------------- environment
if [[ -n "${HORNET_MM_VENV:-}" ]]; then
    VENV="$HORNET_MM_VENV"
elif [[ -n "${VIRTUAL_ENV:-}" ]]; then
    VENV="$VIRTUAL_ENV"
elif [[ -n "${CONDA_PREFIX:-}" && "${CONDA_DEFAULT_ENV:-base}" != "base" ]]; then
    VENV="$CONDA_PREFIX"
else
    VENV="$REPO/.venv"
fi
PY="$VENV/bin/python"

stamp_value() {
    cat "$REPO"/requirements/*.txt "$REPO/setup.py" "$REPO/tools/install.sh" \
        | sha256sum | cut -c1-16
}
STAMP="$VENV/.hornet_mm_install_stamp"

if [[ -x "$PY" && -f "$STAMP" && "$(cat "$STAMP")" == "$(stamp_value)" ]]; then
    if "$PY" - <<'EOF' 2>/dev/null
import importlib.util, sys
import torch, torchvision, mmcv.ops, mmengine, hornet_mm  # noqa: F401
sys.exit(0 if importlib.util.find_spec('pytest') else 1)
EOF
    then
        log "environment at $VENV is up to date (nothing to do)"
        exit 0
    fi
    log "stamp matches but the environment is broken; repairing"
fi

if [[ ! -x "$PY" ]]; then
    BASE_PY="${PYTHON:-python3}"
    "$BASE_PY" -c 'import sys; assert sys.version_info >= (3, 10), sys.version' \
        || die "hornet_mm needs Python >= 3.10 ($BASE_PY is older); set PYTHON=..."
    # Reuse a working torch/torchvision pair of the base interpreter (a GPU build,
    # say) by letting the venv see its site-packages.
    if "$BASE_PY" -c 'import torch, torchvision; torchvision.ops.nms(torch.zeros(1, 4), torch.zeros(1), 0.5)' \
        >/dev/null 2>&1; then
        log "base interpreter has a working torch/torchvision: venv will use them"
        "$BASE_PY" -m venv --system-site-packages "$VENV"
    else
        "$BASE_PY" -m venv "$VENV"
    fi
fi

PIP=("$PY" -m pip --disable-pip-version-check)
CONSTRAINTS="$(mktemp)"
trap 'rm -f "$CONSTRAINTS"' EXIT
# setuptools must stay below 81 through every later install (torch depends on
# setuptools and would otherwise upgrade it).
grep -E '^setuptools' "$REPO/requirements/build.txt" > "$CONSTRAINTS"

log "build tools"
"${PIP[@]}" install -q -r "$REPO/requirements/build.txt"

# ---------------------------------------------------------------- torch
torch_ok() {
    "$PY" - <<'EOF' >/dev/null 2>&1
import torch, torchvision
torchvision.ops.nms(torch.rand(3, 4), torch.rand(3), 0.5)
EOF
}
if torch_ok; then
    log "keeping torch $("$PY" -c 'import torch; print(torch.__version__)') with its torchvision"
else
    log "installing torch and torchvision"
    "${PIP[@]}" install -q -c "$CONSTRAINTS" -r "$REPO/requirements/torch.txt"
    torch_ok || die "torch and torchvision were installed but torchvision.ops.nms does not run"
fi
# Pin whatever torch we ended up with so that nothing below replaces it. The
# local label (+cu130, +cpu) is left out: pip cannot resolve a package that
# depends on torch (timm) against a pin with one, and the installed build
# satisfies the public version anyway.
"$PY" - >> "$CONSTRAINTS" <<'EOF'
import torch, torchvision
for name, module in (('torch', torch), ('torchvision', torchvision)):
    print(f'{name}=={module.__version__.split("+")[0]}')
EOF

# ---------------------------------------------------------------- mmcv
# The key names everything the compiled ops depend on: torch version (which
# includes its CUDA flavour, e.g. 2.13.0+cu130), whether CUDA ops are compiled,
# and the Python ABI. pip's own wheel cache ignores the torch version, so it is
# bypassed with --no-cache-dir.
read -r MMCV_KEY WITH_CUDA < <("$PY" - <<'EOF'
import sys, torch
cuda = torch.cuda.is_available() and torch.version.cuda is not None
flavour = f'cuda{torch.version.cuda}' if cuda else 'cpuops'
abi = f'cp{sys.version_info.major}{sys.version_info.minor}'
print(f'torch{torch.__version__}-{flavour}-{abi}', int(cuda))
EOF
)
mmcv_ok() {
    "$PY" - <<EOF >/dev/null 2>&1
import mmcv, torch
from mmcv.ops import nms, roi_align
assert mmcv.__version__ == '$MMCV_VERSION', mmcv.__version__
nms(torch.rand(3, 4), torch.rand(3), 0.5)
EOF
}
WHEEL_DIR="$CACHE/wheels/mmcv-$MMCV_VERSION/$MMCV_KEY"
INSTALLED_KEY_FILE="$VENV/.hornet_mm_mmcv_key"
# mmcv's runtime needs come first: its setup.py records an opencv requirement
# only when no cv2 is importable at build time (and then the GUI build, which
# needs libGL), and importing mmcv needs mmengine.
"${PIP[@]}" install -q -c "$CONSTRAINTS" -r "$REPO/requirements/mmcv.txt"
if mmcv_ok && [[ -f "$INSTALLED_KEY_FILE" && "$(cat "$INSTALLED_KEY_FILE")" == "$MMCV_KEY" ]]; then
    log "mmcv $MMCV_VERSION with ops already installed ($MMCV_KEY)"
else
    if ! compgen -G "$WHEEL_DIR/mmcv-*.whl" >/dev/null; then
        log "building mmcv $MMCV_VERSION with C++ ops for $MMCV_KEY (about 2 minutes on 2 cores)"
        BUILD="$(mktemp -d)"
        "${PIP[@]}" download -q --no-deps --no-binary :all: --no-build-isolation \
            "mmcv==$MMCV_VERSION" -d "$BUILD"
        tar -xzf "$BUILD/mmcv-$MMCV_VERSION.tar.gz" -C "$BUILD"
        SRC="$BUILD/mmcv-$MMCV_VERSION"
        # torch >= 2.14 headers need C++20; mmcv 2.1.0 hard-codes -std=c++17.
        if "$PY" -c 'import sys, torch; v = tuple(int(x) for x in torch.__version__.split("+")[0].split(".")[:2]); sys.exit(0 if v >= (2, 14) else 1)'; then
            log "torch >= 2.14: compiling mmcv with -std=c++20"
            sed -i 's/-std=c++17/-std=c++20/g' "$SRC/setup.py"
        fi
        mkdir -p "$WHEEL_DIR.partial"
        (
            cd "$SRC"
            export MMCV_WITH_OPS=1 MAX_JOBS="${MAX_JOBS:-$(nproc)}"
            # A precompiled torch/types.h and no debug information: the C++
            # compiles take a fifth of the time (tools/misc/pch_cxx.sh).
            if [[ "${HORNET_MM_PCH:-1}" != 0 ]]; then
                export HORNET_MM_REAL_CXX="${CXX:-c++}" HORNET_MM_PCH_DIR="$BUILD/pch"
                export CXX="$REPO/tools/misc/pch_cxx.sh"
            fi
            if [[ "$WITH_CUDA" == 1 ]]; then export FORCE_CUDA=1; fi
            "${PIP[@]}" wheel -q --no-deps --no-build-isolation --no-cache-dir \
                -w "$WHEEL_DIR.partial" .
        ) || die "mmcv build failed (sources kept in $BUILD)"
        rm -rf "$WHEEL_DIR" && mv "$WHEEL_DIR.partial" "$WHEEL_DIR"
        rm -rf "$BUILD"
    else
        log "using cached mmcv wheel from $WHEEL_DIR"
    fi
    "${PIP[@]}" install -q --no-deps --force-reinstall "$WHEEL_DIR"/mmcv-*.whl
    mmcv_ok || die "mmcv was installed from $WHEEL_DIR but its ops do not run"
    echo "$MMCV_KEY" > "$INSTALLED_KEY_FILE"
fi
echo "mmcv==$MMCV_VERSION" >> "$CONSTRAINTS"

# ---------------------------------------------------------------- OpenMMLab + hornet_mm
log "OpenMMLab libraries, hornet_mm and test requirements"
"${PIP[@]}" install -q -c "$CONSTRAINTS" -r "$REPO/requirements/openmmlab.txt" \
    -r "$REPO/requirements/tests.txt" -r "$REPO/requirements/deploy.txt"
"${PIP[@]}" install -q -c "$CONSTRAINTS" --no-build-isolation --no-deps -e "$REPO"

"$PY" - <<'EOF' || die "installed, but the final import check failed"
import mmcv, mmdet, mmengine, mmpretrain, mmseg, torch, torchvision
import hornet_mm
print(f'[install] torch {torch.__version__}, torchvision {torchvision.__version__}, '
      f'mmcv {mmcv.__version__}, mmengine {mmengine.__version__}, mmdet {mmdet.__version__}, '
      f'mmseg {mmseg.__version__}, mmpretrain {mmpretrain.__version__}, hornet_mm {hornet_mm.__version__}')
EOF
stamp_value > "$STAMP"
log "done: activate with 'source $VENV/bin/activate'"
