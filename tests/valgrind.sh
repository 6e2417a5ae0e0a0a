#!/usr/bin/env bash
# valgrind.sh: the CLI paths the tests exercise, under valgrind's memcheck: no invalid
# accesses and no definite leaks (OpenMP/OpenBLAS thread pools are "possibly lost" by
# design and not counted). Run by `make valgrind` and CI.
set -u
LETHE=${LETHE:-build/lethe}
command -v valgrind >/dev/null || { echo "valgrind.sh: valgrind is not installed (apt-get install valgrind)"; exit 1; }
W=$(mktemp -d /tmp/lethe_vg_XXXXXX)
trap 'rm -rf "$W"' EXIT
export LETHE_NO_PROGRESS=1 OMP_NUM_THREADS=1
VG="valgrind --quiet --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite --show-leak-kinds=definite"
n_ok=0 n_bad=0
check() {  # name, expected exit code, command...
    local name=$1 want=$2; shift 2
    $VG "$@" >"$W/out" 2>"$W/err"; local rc=$?
    if [ $rc -eq "$want" ]; then n_ok=$((n_ok + 1)); echo "ok    $name";
    else n_bad=$((n_bad + 1)); echo "FAIL  $name (exit $rc, want $want)"; tail -n 30 "$W/err"; fi
}
check "train"              0 "$LETHE" train --steps 2 --batch 2 --checkpoint-every 1 --log-every 1 --out "$W/m"
check "train --resume"     0 "$LETHE" train --steps 3 --batch 2 --resume --out "$W/m"
check "sample ddim+guidance" 0 "$LETHE" sample --model "$W/m" --class trouser --n 2 --steps 2 --out "$W/s.png" --npy "$W/s.npy" --idx "$W/s"
check "sample ddpm"        0 "$LETHE" sample --model "$W/m" --class 0 --n 1 --steps 2 --sampler ddpm --out "$W/s2.png"
check "info"               0 "$LETHE" info "$W/m"
check "unknown class"      1 "$LETHE" sample --model "$W/m" --class sweater --out "$W/x.png"
head -c 500 "$W/m/unet/diffusion_pytorch_model.safetensors" >"$W/trunc.safetensors"
check "truncated file"     1 "$LETHE" info "$W/trunc.safetensors"
check "missing model"      1 "$LETHE" sample --model "$W/none" --out "$W/x.png"
check "help"               0 "$LETHE" sample --help
echo "valgrind: $n_ok passed, $n_bad failed"
[ $n_bad -eq 0 ]
