# Sourced by the tool scripts: find the interpreter tools/install.sh set up.
_hornet_repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [[ -n "${HORNET_MM_VENV:-}" ]]; then
    HORNET_MM_PYTHON="$HORNET_MM_VENV/bin/python"
elif [[ -n "${VIRTUAL_ENV:-}" ]]; then
    HORNET_MM_PYTHON="$VIRTUAL_ENV/bin/python"
elif [[ -n "${CONDA_PREFIX:-}" && "${CONDA_DEFAULT_ENV:-base}" != "base" ]]; then
    HORNET_MM_PYTHON="$CONDA_PREFIX/bin/python"
else
    HORNET_MM_PYTHON="$_hornet_repo/.venv/bin/python"
fi
export HORNET_MM_PYTHON
unset _hornet_repo
