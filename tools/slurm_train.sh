#!/usr/bin/env bash
# Training on Slurm, as in mmdet/mmseg/mmpretrain:
#   GPUS=16 bash tools/slurm_train.sh PARTITION JOB_NAME CONFIG WORK_DIR [train.py options...]
# GPUS (default 8), GPUS_PER_NODE (8), CPUS_PER_TASK (5), SRUN_ARGS; GRES as below.
#
# Preemption and time limits (opt-in; training always saves an iteration-exact
# checkpoint and stops on SIGTERM and SIGUSR1, see README "Preemption"):
#   SIGNAL=USR1@120  srun --signal: Slurm sends SIGUSR1 120 s before the time
#                    limit, so the run stops with a checkpoint in time.
#   REQUEUE=1        submit with `sbatch --requeue` (returns at once; output in
#                    WORK_DIR/slurm-<jobid>.out, appended to by every run of the
#                    job) and train with --resume, so the job continues where it
#                    stopped whenever it comes back: after a preemption Slurm
#                    requeues it, and after $SIGNAL's signal the job requeues
#                    itself (scontrol requeue). SBATCH_ARGS go to sbatch.
set -euo pipefail
PARTITION=$1
JOB_NAME=$2
CONFIG=$3
WORK_DIR=$4
GPUS=${GPUS:-8}
GPUS_PER_NODE=${GPUS_PER_NODE:-8}
CPUS_PER_TASK=${CPUS_PER_TASK:-5}
SRUN_ARGS=${SRUN_ARGS:-""}
SIGNAL=${SIGNAL:-""}
REQUEUE=${REQUEUE:-""}
# GRES (default gpu:$GPUS_PER_NODE): set it empty for CPU-only partitions
GRES=${GRES-gpu:$GPUS_PER_NODE}
PY_ARGS=("${@:5}")
# inside a batch job this script runs from Slurm's copy: find tools/ by path
TOOLS=${HORNET_MM_SLURM_TOOLS:-$(cd "$(dirname "$0")" && pwd)}
source "$TOOLS/env.sh"

if [[ -n "$REQUEUE" && -z "${SLURM_JOB_ID:-}" ]]; then
    mkdir -p "$WORK_DIR"
    export HORNET_MM_SLURM_TOOLS="$TOOLS"
    # shellcheck disable=SC2086
    exec sbatch --requeue --open-mode=append \
        --partition="$PARTITION" \
        --job-name="$JOB_NAME" \
        ${GRES:+--gres="$GRES"} \
        --ntasks="$GPUS" \
        --ntasks-per-node="$GPUS_PER_NODE" \
        --cpus-per-task="$CPUS_PER_TASK" \
        --output="$WORK_DIR/slurm-%j.out" \
        ${SBATCH_ARGS:-} \
        "$TOOLS/slurm_train.sh" "$@"
fi

EXTRA_ARGS=()
if [[ -n "$REQUEUE" ]]; then
    EXTRA_ARGS+=(--resume)
    if [[ -n "$SIGNAL" ]]; then
        name=${SIGNAL#B:}
        name=${name%%@*}
        [[ "$name" =~ ^[0-9]+$ ]] || name=SIG${name#SIG}
        EXTRA_ARGS+=(--cfg-options "default_hooks.preemption.requeue_signals=[$name]")
    fi
fi

# shellcheck disable=SC2086
srun -p "$PARTITION" \
    --job-name="$JOB_NAME" \
    ${GRES:+--gres="$GRES"} \
    --ntasks="$GPUS" \
    --ntasks-per-node="$GPUS_PER_NODE" \
    --cpus-per-task="$CPUS_PER_TASK" \
    --kill-on-bad-exit=1 \
    ${SIGNAL:+--signal="$SIGNAL"} \
    $SRUN_ARGS \
    "$HORNET_MM_PYTHON" -u "$TOOLS/train.py" "$CONFIG" \
    --work-dir="$WORK_DIR" --launcher="slurm" "${EXTRA_ARGS[@]}" "${PY_ARGS[@]}"
