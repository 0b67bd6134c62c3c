#!/usr/bin/env bash
# GPU check: the speed benchmark's GPU preset on one GPU, ViT-B/16-shaped random CLIP (12 layers per
# tower). Times the library's DEFAULT training step (cocoop_lib.fast.make_step: the captured CUDA-graph
# step) and its cached-feature evaluation against the faithful port at C in {5, 19, 100, 500}; the
# text side's fraction of bf16 peak per C; a C = 1000 (ImageNet) memory check against 16 GB; a 20-step
# replayed-vs-eager trajectory check. Designed for under 5 minutes on one GPU (timeout 290 s).
#
#   bash benchmarks/gpu_check.sh              # on the GPU machine; JSON to $OUT or benchmarks/results
#   bash benchmarks/gpu_check.sh --dry-run    # anywhere: the same code, 1 layer, on the CPU
#                                             # (captured step as CapturedStep(capture=False))
#
# Prints the benchmark's table; the JSON holds the device name, torch / CUDA versions, every timing.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
[ -x "$PY" ] || PY=python
if [ "${1:-}" = "--dry-run" ]; then
    exec "$PY" -m benchmarks.bench --preset gpu --device cpu --dry-run
fi
nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv || true
"$PY" -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda, torch.cuda.get_device_name())"
RESULTS=${OUT:-benchmarks/results}
mkdir -p "$RESULTS"
timeout 290 "$PY" -m benchmarks.bench --device cuda --preset gpu --out "$RESULTS/gpu.json" "$@"
