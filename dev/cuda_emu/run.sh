#!/usr/bin/env bash
# run.sh: the CUDA backend's kernels compiled for the host (emu.h) and checked by
# tests/test_backend_consistency.c against the CPU backend, on a machine without a GPU.
# Also links build-emu/lethe, the CLI on the emulated backend (--device cuda), for
# dev/cuda_emu/cli_smoke.sh. Needs the CPU build first (make). Writes build-emu/.
# LETHE_TEST_FILTER='test_unet*' runs a subset; extra arguments go to the test binary.
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
gcc $CFLAGS build/obj/src/cli/*.o "${objs[@]}" $OUT/obj/backend.o $OUT/obj/table.o build/liblethe.a \
    $PKG_LIBS -lm -lstdc++ -fopenmp -o $OUT/lethe
echo "run.sh: built $OUT/test_backend_consistency and $OUT/lethe (kernels emulated on the host)"
[ "${NO_TEST:-0}" = 1 ] && exit 0
exec "$OUT/test_backend_consistency" "$@"
