#!/usr/bin/env bash
# compare.sh: lethe against PyTorch on this machine, same model, same step, same run.
#
#   bench/compare.sh                 the six rows of ../shared/targets.md (small rows take minutes) and the
#                                    text-to-image UNet's two (canvas-tiny: UNet2DConditionModel, 16 x 64 context)
#   bench/compare.sh tiny            only the tiny rows (or small, canvas-tiny)
#   STEPS=10 WARMUP=3 THREADS=2 bench/compare.sh
#
# Needs build/bench/bench_unet (make) and Debian's python3-torch for the PyTorch side.
# Prints one line per row: both images/s and the ratio (goal: >= 1.5x).
set -eu
cd "$(dirname "$0")/.."
which_config=${1:-all}
STEPS=${STEPS:-10} WARMUP=${WARMUP:-3} THREADS=${THREADS:-2}
PY=/usr/bin/python3
[ -x build/bench/bench_unet ] || make -s build/bench/bench_unet
$PY -c 'import torch' 2>/dev/null || { echo "compare.sh: python3-torch is not installed (apt-get install python3-torch)"; exit 1; }
export OMP_NUM_THREADS=$THREADS OPENBLAS_NUM_THREADS=$THREADS
rows="tiny:train:64 tiny:train:128 tiny:sample:256 small:train:64 small:train:128 small:sample:256
      canvas-tiny:train:64 canvas-tiny:sample:128"
field() { sed -E "s/.*\"$1\": ([0-9.]+).*/\1/"; }
printf "%-6s %-7s %6s %14s %14s %8s\n" config what batch "lethe img/s" "torch img/s" ratio
for r in $rows; do
    IFS=: read -r c w b <<<"$r"
    [ "$which_config" = all ] || [ "$which_config" = "$c" ] || continue
    l=$(build/bench/bench_unet --config "$c" --what "$w" --batch "$b" --steps "$STEPS" --warmup "$WARMUP" --json | field images_per_s)
    t=$($PY bench/torch_bench.py --config "$c" --what "$w" --batch "$b" --steps "$STEPS" --warmup "$WARMUP" --threads "$THREADS" --json 2>/dev/null | field images_per_s)
    printf "%-6s %-7s %6d %14.1f %14.1f %7.2fx\n" "$c" "$w" "$b" "$l" "$t" "$(awk -v l="$l" -v t="$t" 'BEGIN { print l / t }')"
done
