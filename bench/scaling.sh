#!/usr/bin/env bash
# scaling.sh: lethe's images/s and peak memory against the batch and the thread count, as a
# markdown table (issue 19: "images/s vs batch (16..512) and vs threads (1, 2)").
#
#   bench/scaling.sh                      tiny, train and sample, batches 16..512, 1 and 2 threads
#   CONFIG=canvas-tiny PRECISION=bf16 BATCHES="16 64 256" THREADS_LIST="2" bench/scaling.sh
#
# Each cell is one bench_unet process (fresh, so its peak RSS is the row's own): WARMUP warm-up
# steps, then the median of STEPS. Needs build/bench/bench_unet (make).
set -eu
cd "$(dirname "$0")/.."
CONFIG=${CONFIG:-tiny} PRECISION=${PRECISION:-fp32}
BATCHES=${BATCHES:-"16 32 64 128 256 512"} THREADS_LIST=${THREADS_LIST:-"1 2"}
STEPS=${STEPS:-5} WARMUP=${WARMUP:-2}
[ -x build/bench/bench_unet ] || make -s build/bench/bench_unet
field() { sed -E "s/.*\"$1\": ([0-9.]+).*/\1/"; }
echo "CPU: $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1), $(nproc --all) cores;" \
     "lethe GEMM $(build/bench/bench_unet --gemm), precision $PRECISION; $WARMUP warm-up + median of $STEPS steps"
echo
echo "| config | what | batch | threads | images/s | ms/step | peak RSS MB | images/s per thread |"
echo "|---|---|---|---|---|---|---|---|"
for what in train sample; do
    for b in $BATCHES; do
        for t in $THREADS_LIST; do
            j=$(OMP_NUM_THREADS=$t build/bench/bench_unet --config "$CONFIG" --what "$what" --batch "$b" --threads "$t" \
                --precision "$PRECISION" --steps "$STEPS" --warmup "$WARMUP" --json)
            ips=$(echo "$j" | field images_per_s)
            printf "| %s | %s | %d | %d | %.1f | %.1f | %.0f | %.1f |\n" "$CONFIG" "$what" "$b" "$t" "$ips" \
                "$(echo "$j" | field ms_per_step)" "$(echo "$j" | field peak_rss_mb)" "$(awk -v i="$ips" -v t="$t" 'BEGIN { print i / t }')"
        done
    done
done
