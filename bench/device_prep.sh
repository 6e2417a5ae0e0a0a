#!/usr/bin/env bash
# device_prep.sh: run HERE (the Debian 12 machine without a GPU) before a session's one
# GPU call. The GPU machine's image has nvcc and cuBLAS but not lethe's C dependencies, and
# it cannot reach a package registry, so this puts into .devdeps/ (in .gitignore; the device
# tool carries it when the call names it):
#   - the Debian packages of the build dependencies (apt-get download; ~17 MB), unpacked
#     there into a private prefix by bench/device_check.sh;
#   - a Fashion-MNIST subset in IDX format (4096 training, 1000 test images) for the CLI
#     smoke run, from /usr/share/datasets/fashion-mnist.
# Then make the call (the device tool's run):
#   command: bash bench/device_check.sh     carry: [".devdeps"]     timeout_s: 600
set -eu
cd "$(dirname "$0")/.."
D=.devdeps
mkdir -p "$D/debs" "$D/fashion-mnist-small"
pkgs="libopenblas-pthread-dev libopenblas0-pthread liblapacke-dev liblapacke libtmglib3 libgfortran5 libquadmath0
      libcjson-dev libcjson1 nettle-dev libnettle8 libcmocka-dev libcmocka0 libstb-dev zlib1g-dev
      pkgconf pkgconf-bin libpkgconf3 libgomp1"
(cd "$D/debs" && apt-get download $pkgs)
python3 - "$D/fashion-mnist-small" <<'PY'
import gzip, struct, sys
src, dst = "/usr/share/datasets/fashion-mnist", sys.argv[1]
for split, n in (("train", 4096), ("t10k", 1000)):
    img = gzip.open(f"{src}/{split}-images-idx3-ubyte.gz").read()
    lab = gzip.open(f"{src}/{split}-labels-idx1-ubyte.gz").read()
    _, _, h, w = struct.unpack(">IIII", img[:16])
    open(f"{dst}/{split}-images-idx3-ubyte", "wb").write(struct.pack(">IIII", 2051, n, h, w) + img[16:16 + n * h * w])
    open(f"{dst}/{split}-labels-idx1-ubyte", "wb").write(struct.pack(">II", 2049, n) + lab[8:8 + n])
PY
du -sh "$D"
echo "device_prep.sh: ready; device tool run: command 'bash bench/device_check.sh', carry ['.devdeps'], timeout_s 600"
