#!/usr/bin/env bash
# compare.sh: lethe against PyTorch on this machine, same model, same step, same run.
#
#   bench/compare.sh                 the six rows of ../shared/targets.md (small rows take minutes) and the
#                                    text-to-image UNet's two (canvas-tiny: UNet2DConditionModel, 16 x 64 context)
#   bench/compare.sh tiny            only the tiny rows (or small, canvas-tiny)
#   ROUNDS=3 STEPS=10 WARMUP=3 THREADS=2 bench/compare.sh
#
# Needs build/bench/bench_unet (make) and Debian's python3-torch for the PyTorch side.
# PyTorch runs in two forms: its default, and with glibc malloc told to keep freed memory
# (torch_bench.py --tuned-malloc, what an informed user gets); the ratio is against the
# faster of the two. Each row runs ROUNDS alternating rounds (lethe, torch, torch tuned; each
# a fresh process: 3 warm-up steps, the median of STEPS), and reports the median round of
# each, with each side's peak RSS. Prints the CPU model and its vector ISA first.
set -eu
cd "$(dirname "$0")/.."
which_config=${1:-all}
ROUNDS=${ROUNDS:-3} STEPS=${STEPS:-10} WARMUP=${WARMUP:-3} THREADS=${THREADS:-2}
PY=/usr/bin/python3
[ -x build/bench/bench_unet ] || make -s build/bench/bench_unet
$PY -c 'import torch' 2>/dev/null || { echo "compare.sh: python3-torch is not installed (apt-get install python3-torch)"; exit 1; }
export OMP_NUM_THREADS=$THREADS OPENBLAS_NUM_THREADS=$THREADS
rows="tiny:train:64 tiny:train:128 tiny:sample:256 small:train:64 small:train:128 small:sample:256
      canvas-tiny:train:64 canvas-tiny:sample:128"
field() { sed -E "s/.*\"$1\": ([0-9.]+).*/\1/"; }
median() { tr ' ' '\n' | grep . | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
echo "CPU: $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1), $(nproc --all) cores; $THREADS threads"
echo "ISA: $(grep -m1 -o -w -E 'avx2|fma|avx512f|avx512bw|avx512_vnni|avx512_bf16|amx_tile|amx_bf16|amx_int8' /proc/cpuinfo | sort -u | tr '\n' ' ')"
echo "lethe GEMM: $(build/bench/bench_unet --gemm) (LETHE_GEMM=openblas|onednn)"
echo "pytorch $($PY -c 'import torch; print(torch.__version__)'); $ROUNDS rounds per row, each $WARMUP warm-up + median of $STEPS steps"
printf "%-11s %-6s %5s %11s %11s %11s %7s %9s %9s\n" config what batch "lethe img/s" "torch" "torch tuned" ratio "lethe MB" "torch MB"
for r in $rows; do
    IFS=: read -r c w b <<<"$r"
    [ "$which_config" = all ] || [ "$which_config" = "$c" ] || continue
    L="" T="" U="" LM="" TM=""
    for _ in $(seq "$ROUNDS"); do
        j=$(build/bench/bench_unet --config "$c" --what "$w" --batch "$b" --steps "$STEPS" --warmup "$WARMUP" --json)
        L="$L $(echo "$j" | field images_per_s)" LM="$LM $(echo "$j" | field peak_rss_mb)"
        j=$($PY bench/torch_bench.py --config "$c" --what "$w" --batch "$b" --steps "$STEPS" --warmup "$WARMUP" --threads "$THREADS" --json 2>/dev/null)
        T="$T $(echo "$j" | field images_per_s)" TM="$TM $(echo "$j" | field peak_rss_mb)"
        j=$($PY bench/torch_bench.py --tuned-malloc --config "$c" --what "$w" --batch "$b" --steps "$STEPS" --warmup "$WARMUP" --threads "$THREADS" --json 2>/dev/null)
        U="$U $(echo "$j" | field images_per_s)"
    done
    l=$(echo "$L" | median) t=$(echo "$T" | median) u=$(echo "$U" | median)
    printf "%-11s %-6s %5d %11.1f %11.1f %11.1f %6.2fx %9.0f %9.0f\n" "$c" "$w" "$b" "$l" "$t" "$u" \
        "$(awk -v l="$l" -v t="$t" -v u="$u" 'BEGIN { print l / (t > u ? t : u) }')" "$(echo "$LM" | median)" "$(echo "$TM" | median)"
done
