#!/usr/bin/env bash
# Training on Slurm, as in mmdet/mmseg/mmpretrain:
#   GPUS=16 bash tools/slurm_train.sh PARTITION JOB_NAME CONFIG WORK_DIR [train.py options...]
# GPUS (default 8), GPUS_PER_NODE (8), CPUS_PER_TASK (5), SRUN_ARGS; GRES as below.
set -euo pipefail
PARTITION=$1
JOB_NAME=$2
CONFIG=$3
WORK_DIR=$4
GPUS=${GPUS:-8}
GPUS_PER_NODE=${GPUS_PER_NODE:-8}
CPUS_PER_TASK=${CPUS_PER_TASK:-5}
SRUN_ARGS=${SRUN_ARGS:-""}
# GRES (default gpu:$GPUS_PER_NODE): set it empty for CPU-only partitions
GRES=${GRES-gpu:$GPUS_PER_NODE}
PY_ARGS=("${@:5}")
source "$(dirname "$0")/env.sh"

# shellcheck disable=SC2086
srun -p "$PARTITION" \
    --job-name="$JOB_NAME" \
    ${GRES:+--gres="$GRES"} \
    --ntasks="$GPUS" \
    --ntasks-per-node="$GPUS_PER_NODE" \
    --cpus-per-task="$CPUS_PER_TASK" \
    --kill-on-bad-exit=1 \
    $SRUN_ARGS \
    "$HORNET_MM_PYTHON" -u "$(dirname "$0")/train.py" "$CONFIG" \
    --work-dir="$WORK_DIR" --launcher="slurm" "${PY_ARGS[@]}"
