#!/usr/bin/env bash
# device_check.sh: every check of the CUDA backend that needs a GPU, in one call on a GPU
# machine (the device tool runs it in the repository root; logs go to $OUT):
#   1. build with make CUDA=1 (dependencies: the system's, else .devdeps/ from
#      bench/device_prep.sh unpacked into a private prefix)
#   2. tests/test_backend_consistency (every op, the UNets, training steps, determinism)
#   3. bench_cuda: training and sampling images/s and MFU, FP32 and then TF32, beside
#      PyTorch's figures for the H100 (targets.md)
#   4. the CLI on --device cuda: train (CPU and GPU, same seed: the first losses must
#      agree), resume, sample twice (bit-identical), unlearn (ga, salun), on a data subset
# Files in $OUT: device_check.log (everything), consistency.log, bench_fp32.log,
# bench_tf32.log, bench.jsonl, cli.log, summary.txt. Ends within ~5 minutes on an H100.
# Dry run without a GPU (checks the script): LETHE_DEVDEPS=1 (use .devdeps even where the
# system has the packages) LETHE_BUILD=/tmp/b JOBS=1 OUT=/tmp/o bash bench/device_check.sh
set -u
OUT=${OUT:-/tmp/lethe-device-check}
B=${LETHE_BUILD:-build-cuda}
mkdir -p "$OUT"
exec > >(tee "$OUT/device_check.log") 2>&1
cd "$(dirname "$0")/.."
export LETHE_NO_PROGRESS=1
T0=$SECONDS
say() { echo "== [$((SECONDS - T0)) s] $*"; }
summary() { echo "$*" | tee -a "$OUT/summary.txt"; }
: > "$OUT/summary.txt"

say "machine"
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv 2>&1 || echo "nvidia-smi failed"
command -v nvcc || export PATH=/usr/local/cuda/bin:$PATH
nvcc --version | tail -2

# ---- 1. dependencies and build -------------------------------------------------------------------
MAKEFLAGS_EXTRA=""
if [ "${LETHE_DEVDEPS:-0}" != 1 ] && pkg-config --exists openblas lapacke libcjson nettle cmocka zlib 2>/dev/null &&
    [ -f /usr/include/stb/stb_image_write.h ]; then
    say "build dependencies: the system's"
elif [ -d .devdeps/debs ]; then
    say "build dependencies: .devdeps (unpacked into /tmp/devdeps)"
    P=/tmp/devdeps
    rm -rf "$P" && mkdir -p "$P/pc"
    for f in .devdeps/debs/*.deb; do   # without dpkg: a .deb is an ar archive holding data.tar.*
        dpkg -x "$f" "$P" 2>/dev/null ||
            (t=$(mktemp -d) && cd "$t" && ar x "$OLDPWD/$f" && tar -xf data.tar.* -C "$P" && rm -rf "$t")
    done
    L=$P/usr/lib/x86_64-linux-gnu
    # update-alternatives links the packages' postinst would make
    ln -sf "$L/openblas-pthread/pkgconfig/lapack-openblas.pc" "$P/pc/lapack.pc"
    ln -sf "$L/openblas-pthread/pkgconfig/blas-openblas.pc" "$P/pc/blas.pc"
    export PKG_CONFIG_LIBDIR=$P/pc:$L/pkgconfig:$L/openblas-pthread/pkgconfig:$P/usr/share/pkgconfig
    export PKG_CONFIG_SYSROOT_DIR=$P
    export LD_LIBRARY_PATH=$L/openblas-pthread:$L${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
    export LIBRARY_PATH=$L/openblas-pthread:$L
    command -v pkg-config >/dev/null || export PATH=$PATH:$P/usr/bin
    MAKEFLAGS_EXTRA="STB_DIR=$P/usr/include/stb"
else
    say "build dependencies missing: run bench/device_prep.sh here first and carry .devdeps"
fi
say "build (make CUDA=1)"
set -o pipefail
make -j"${JOBS:-$(nproc)}" CUDA=1 BUILD="$B" $MAKEFLAGS_EXTRA "$B/lethe" "$B/tests/test_backend_consistency" \
    "$B/bench/bench_cuda" 2>&1 | tee "$OUT/build.log" | grep -v "^  CC\|^  NVCC"
build_rc=$?
if [ $build_rc != 0 ]; then   # a newer gcc may warn where gcc 12 did not: once more without -Werror
    say "build failed; again with WERROR= (warnings kept as warnings)"
    make -j"${JOBS:-$(nproc)}" CUDA=1 BUILD="$B" WERROR= $MAKEFLAGS_EXTRA "$B/lethe" "$B/tests/test_backend_consistency" \
        "$B/bench/bench_cuda" 2>&1 | tee "$OUT/build_nowerror.log" | grep -v "^  CC\|^  NVCC"
    build_rc=$?
    [ $build_rc = 0 ] && summary "build: needed WERROR= (see build.log for the warnings)"
fi
set +o pipefail
summary "build: $([ $build_rc = 0 ] && echo ok || echo "FAILED ($build_rc)") in $((SECONDS - T0)) s"
[ $build_rc = 0 ] || exit 1
# libcublas: where the toolkit keeps it, else PyTorch's wheel
if ldd $B/lethe | grep -q "not found"; then
    for d in /usr/local/cuda/lib64 /usr/local/cuda/targets/x86_64-linux/lib $(python3 -c 'import nvidia, os; print(" ".join(os.path.join(p, "cu13", "lib") for p in nvidia.__path__))' 2>/dev/null); do
        [ -e "$d/libcublas.so.13" ] && export LD_LIBRARY_PATH=$d${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
    done
fi
ldd $B/lethe | grep -E "cublas|cudart|openblas|not found"

# ---- 2. consistency -------------------------------------------------------------------------------
say "test_backend_consistency"
timeout 240 $B/tests/test_backend_consistency > "$OUT/consistency.log" 2>&1
rc=$?
grep -E "CUDA device|FAIL|PASSED|FAILED|SKIPPED|backend consistency:" "$OUT/consistency.log"
summary "consistency: $([ $rc = 0 ] && echo passed || echo "FAILED (exit $rc)"); $(grep -h "backend consistency:" "$OUT/consistency.log")"

# ---- 3. benchmark -------------------------------------------------------------------------------------
say "bench_cuda FP32"
timeout 150 $B/bench/bench_cuda > "$OUT/bench_fp32.log" 2>&1
cat "$OUT/bench_fp32.log"
say "bench_cuda TF32"
timeout 120 $B/bench/bench_cuda --tf32 > "$OUT/bench_tf32.log" 2>&1
cat "$OUT/bench_tf32.log"
(timeout 60 $B/bench/bench_cuda --json --steps 5; timeout 60 $B/bench/bench_cuda --json --steps 5 --tf32) > "$OUT/bench.jsonl" 2>&1
summary "bench: see bench_fp32.log, bench_tf32.log"

# ---- 4. CLI on --device cuda ----------------------------------------------------------------------------
say "CLI smoke"
W=/tmp/lethe-cli
rm -rf "$W" && mkdir -p "$W"
DATA=.devdeps/fashion-mnist-small
[ -d "$DATA" ] || DATA=fashion-mnist
L=$B/lethe
fails=0
run() {
    echo "+ $*"
    "$@" || { echo "FAILED (exit $?): $*"; fails=$((fails + 1)); }
}
{
    run $L train --device cuda --data "$DATA" --steps 200 --batch 128 --warmup 20 --log-every 1 --checkpoint-every 100 --seed 3 --out "$W/gpu"
    run $L train --device cpu --data "$DATA" --steps 200 --batch 128 --warmup 20 --log-every 1 --stop-after 5 --seed 3 --out "$W/cpu"
    run $L train --device cuda --data "$DATA" --steps 200 --batch 128 --warmup 20 --log-every 1 --stop-after 100 --seed 3 --out "$W/res"
    run $L train --device cuda --data "$DATA" --steps 200 --batch 128 --warmup 20 --log-every 1 --resume --seed 3 --out "$W/res"
    run $L sample --device cuda --model "$W/gpu" --class all --n 16 --steps 50 --npy "$W/s1.npy" --out "$W/s1.png"
    run $L sample --device cuda --model "$W/gpu" --class all --n 16 --steps 50 --npy "$W/s2.npy" --out "$W/s2.png"
    run $L unlearn --device cuda --model "$W/gpu" --method ga --forget 1 --steps 20 --data "$DATA" --out "$W/ga"
    run $L unlearn --device cuda --model "$W/gpu" --method salun --forget 1 --steps 20 --forget-images 256 --data "$DATA" --out "$W/salun"
} > "$OUT/cli.log" 2>&1
cp "$W/s1.png" "$OUT/samples_gpu.png" 2>/dev/null
python3 - "$W" >> "$OUT/cli.log" 2>&1 <<'PY'
import json, sys, hashlib
w = sys.argv[1]
def losses(p):
    return [json.loads(l)["loss"] for l in open(p)]
g, c, r = losses(f"{w}/gpu/train_log.jsonl"), losses(f"{w}/cpu/train_log.jsonl"), losses(f"{w}/res/train_log.jsonl")
print("first losses gpu:", g[:5]); print("first losses cpu:", c[:5])
print("max rel diff of the first 5 losses (gpu vs cpu):", max(abs(a - b) / abs(b) for a, b in zip(g, c)))
print("resumed run == uninterrupted run (all 200 losses bit-identical):", r == g)
print("loss at step 1 / 200:", g[0], g[-1])
h = [hashlib.sha256(open(f"{w}/{s}.npy", "rb").read()).hexdigest() for s in ("s1", "s2")]
print("two sampling runs bit-identical:", h[0] == h[1])
PY
tail -8 "$OUT/cli.log"
summary "cli: $fails failed command(s); $(grep -h "bit-identical" "$OUT/cli.log" | tr '\n' ';')"
say "done"
cat "$OUT/summary.txt"
