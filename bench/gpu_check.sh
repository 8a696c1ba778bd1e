#!/usr/bin/env bash
# Issue 29's GPU checks in one prepared go, for a lent H100/H200 (about 6 minutes): the paper's ResNet-17 on 49,000
# CIFAR-shaped images (bench/gpu.py: FF and backprop images/s, one real epoch with the whole step captured as a CUDA
# graph, goal <= 3 s), then the app's CUDA browser test. Everything it measures goes under $OUT (bench/out here).
#
#     OUT=/some/dir bash bench/gpu_check.sh          # then: python bench/gpu.py --report $OUT/gpu.json
set -uo pipefail
cd "$(dirname "$0")/.."
OUT="${OUT:-bench/out}"
mkdir -p "$OUT"
{ nvidia-smi; lscpu | grep -E "Model name|^CPU\(s\)"; python -c "import torch; print('torch', torch.__version__)"; } \
    > "$OUT/machine.txt" 2>&1
if ! python -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)"; then
    echo "no CUDA device here: nothing measured" | tee "$OUT/no_cuda.txt"
    exit 2
fi
timeout 420 python bench/gpu.py --out "$OUT/gpu.json" > "$OUT/gpu.log" 2>&1
echo "bench/gpu.py exit $?" >> "$OUT/gpu.log"
if command -v chromium >/dev/null 2>&1; then
    timeout 150 python -m pytest -q tests/test_browser_gpu.py > "$OUT/browser_gpu.log" 2>&1
    echo "browser test exit $?" >> "$OUT/browser_gpu.log"
else
    echo "no chromium on this machine: the CUDA browser test did not run" > "$OUT/browser_gpu.log"
fi
tail -n 30 "$OUT/gpu.log" "$OUT/browser_gpu.log"
