#!/usr/bin/env bash
# run.sh: the CUDA backend's kernels compiled for the host (emu.h) and checked by
# tests/test_backend_consistency.c against the CPU backend, on a machine without a GPU.
# Needs the CPU build first (make). Writes build-emu/. Extra arguments go to the test
# binary (e.g. a cmocka filter through CMOCKA_TEST_ABORT / environment).
set -eu
cd "$(dirname "$0")/../.."
OUT=build-emu
CU=$OUT/src/ops/cuda
mkdir -p "$CU" "$OUT/obj"
python3 dev/cuda_emu/translate.py src/ops/cuda "$CU"
PKG_CFLAGS=$(pkg-config --cflags openblas libcjson nettle)
PKG_LIBS=$(pkg-config --libs openblas lapacke zlib libcjson nettle)
CXXFLAGS="-std=c++17 -O2 -g -Wall -Wextra -Wno-unused-parameter -Wno-unknown-pragmas -Wno-unused-function -I$OUT/src -Isrc -Idev/cuda_emu $PKG_CFLAGS"
CFLAGS="-std=c11 -D_GNU_SOURCE -O2 -g -Wall -Wextra -Wno-unused-parameter -DLETHE_CUDA -Isrc -Itests $PKG_CFLAGS -I/usr/include/stb -fopenmp"
objs=()
for f in "$CU"/*.cu.cpp; do
    o=$OUT/obj/$(basename "$f" .cu.cpp).o
    g++ $CXXFLAGS -c "$f" -o "$o"
    objs+=("$o")
done
gcc $CFLAGS -c src/ops/backend.c -o $OUT/obj/backend.o
gcc $CFLAGS -c src/ops/cuda/table.c -o $OUT/obj/table.o
gcc $CFLAGS tests/test_backend_consistency.c "${objs[@]}" $OUT/obj/backend.o $OUT/obj/table.o build/liblethe.a \
    $PKG_LIBS -lcmocka -lm -lstdc++ -fopenmp -o $OUT/test_backend_consistency
echo "run.sh: built $OUT/test_backend_consistency (kernels emulated on the host)"
exec "$OUT/test_backend_consistency" "$@"
