#!/usr/bin/env bash
# One prepared pass over the GPU measurements the README and the chapters quote (the `paper` profile's
# cost on one GPU), for a machine lent for a few minutes: every step has its own time limit and writes
# its log to $OUT (default: _build/gpu), so a step that runs out of time leaves the others intact.
#   OUT=_build/gpu bash benchmarks/gpu_check.sh
# Needs only torch, numpy, scipy, mpmath and tqdm (kdlib's core); runs from the repository root.
set -u
OUT=${OUT:-_build/gpu}
mkdir -p "$OUT"
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1
PY=${PYTHON:-python3}
step() {  # step NAME SECONDS COMMAND...: run COMMAND with a time limit, log to $OUT/NAME.txt
    local name=$1 limit=$2; shift 2
    echo "=== $name (limit ${limit} s): $*"
    local start=$SECONDS
    timeout "$limit" "$@" 2>&1 | tee "$OUT/$name.txt"
    echo "=== $name: exit ${PIPESTATUS[0]} after $((SECONDS - start)) s" | tee -a "$OUT/$name.txt"
}
nvidia-smi --query-gpu=name,memory.total,clocks.max.sm,driver_version --format=csv | tee "$OUT/gpu.txt"
$PY -c "import torch; print('torch', torch.__version__, torch.cuda.get_device_name())" | tee -a "$OUT/gpu.txt"
step teachers-step 100 $PY benchmarks/bench_teachers.py --device cuda --profiles paper --steps 40
step teachers-paper 200 $PY benchmarks/train_paper_teachers.py --device cuda --profile paper
step resnet 170 $PY benchmarks/bench_resnet.py --device cuda --models resnet18 resnet50 --widths 64 --batch 512 \
    --teacher resnet50 --compile
step risk 60 $PY benchmarks/bench_risk.py --device cuda --samples 16384 --tests 32768 --stride 2048 --repeats 1
step student 30 $PY benchmarks/bench_student.py --device cuda --samples 16384 --repeats 1
