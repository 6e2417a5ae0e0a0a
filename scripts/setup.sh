#!/usr/bin/env bash
# setup.sh: installs the Debian packages lethe needs, when run as root; otherwise prints
# the apt-get line to run. Safe to run again (does nothing when all are present).
#
#   build:   gcc make pkg-config
#   libs:    OpenBLAS (GEMM), LAPACKE (eigen/SVD), zlib (gzip IDX), cJSON, stb (PNG),
#            nettle (SHA-256 of checkpoints)
#   tests:   cmocka, valgrind, python3 (CLI tests damage files with it; stdlib only), strace
#            (proves SFD reads no dataset file)
#   data:    dataset-fashion-mnist (the default dataset, /usr/share/datasets/fashion-mnist)
# Optional, not installed here: python3-torch (fixture generator, PyTorch benchmark),
# clang + libclang-rt-14-dev (fuzzers).
set -eu
packages="gcc make pkg-config libopenblas-dev libdnnl-dev liblapacke-dev zlib1g-dev libcjson-dev libstb-dev nettle-dev libcmocka-dev valgrind strace python3 dataset-fashion-mnist"
missing=""
for p in $packages; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -z "$missing" ]; then
    echo "setup: all packages present"
    exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
    echo "setup: missing packages:$missing"
    echo "setup: run as root:  apt-get install -y$missing"
    exit 1
fi
echo "setup: installing$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends $missing
