#!/usr/bin/env bash
# test_public_api.sh: the public C API from outside: the installed archive exports only
# lethe_* symbols, examples/forget_class (lethe.h + the public liblethe.a) forgets a class
# exactly as `lethe unlearn` does, and `make install` gives a prefix (DESTDIR honoured)
# from which pkg-config builds the example.
set -u
LETHE=${LETHE:-build/lethe}
B=$(dirname "$LETHE")
W=$(mktemp -d /tmp/lethe_api_XXXXXX)
trap 'rm -rf "$W"' EXIT
. "$(dirname "$0")/lib.sh"
h() { sha256sum "$1" | cut -c1-64; }

# ---- symbols: only lethe_*, exactly the functions of lethe.h ------------------------------
PUB=$B/public/liblethe.a
[ -s "$PUB" ] && ok || bad "no public archive $PUB"
nm -g --defined-only "$PUB" | awk 'NF == 3 { print $3 }' | sort >"$W/syms"
[ -s "$W/syms" ] && ok || bad "no global symbols in $PUB"
others=$(grep -v '^lethe_' "$W/syms")
[ -z "$others" ] && ok || bad "the public archive exports symbols without the lethe_ prefix: $(echo $others | head -c 400)"
diff <(grep -o '\blethe_[a-z0-9_]*(' include/lethe.h | tr -d '(' | sort -u) "$W/syms" >"$W/d" && ok ||
    { bad "public symbols differ from lethe.h's functions:"; cat "$W/d"; }
! grep -qx 'lethe_fail' "$W/syms" && ok || bad "an internal lethe_ function (lethe_fail) is exported"
# the internal archive does have the names the public one hides (so the check above means something)
nm -g --defined-only "$B/liblethe.a" 2>/dev/null | grep -q ' T model_load$' && ok || bad "internal archive lacks model_load"

# ---- the example forgets a class like `lethe unlearn` ------------------------------------
EX=$B/examples/forget_class
expect_ok "train a tiny parent" $LETHE train --steps 3 --batch 4 --warmup 1 --out "$W/parent"
expect_ok "example" "$EX" "$W/parent" trouser "$W/ex" ga 2
grep -q "forgot trouser with ga" "$W/out" && ok || bad "example output: $(cat "$W/out")"
[ -s "$W/ex/samples.png" ] && ok || bad "example wrote no samples.png"
expect_ok "its model loads" $LETHE info "$W/ex"
python3 - "$W/ex/lethe.json" <<'PY' && ok || bad "example's lethe.json does not name the method and class"
import json, sys
j = json.load(open(sys.argv[1]))
assert j["method"] == "ga" and j["forget_classes"] == ["trouser"], j
PY
expect_ok "the same by the CLI" $LETHE unlearn --model "$W/parent" --method ga --forget trouser --steps 2 --batch 4 \
    --forget-images 8 --seed 1 --out "$W/cli"
W1=unet/diffusion_pytorch_model.safetensors
[ "$(h "$W/ex/$W1")" = "$(h "$W/cli/$W1")" ] && ok || bad "the API's unlearned weights differ from the CLI's"
expect_fail "example: unknown method" "unknown|method" "$EX" "$W/parent" trouser "$W/bad" nomethod 2
expect_fail "example: usage" "usage" "$EX"

# ---- make install, then pkg-config ---------------------------------------------------------
flags=()
case $B in build-san*) flags+=(SANITIZE=1) ;; build-debug*) flags+=(DEBUG=1) ;; build-vg*) flags+=(VALGRIND=1) ;; esac
case $B in *-cuda) flags+=(CUDA=1) ;; esac
mk() { make --no-print-directory -s "${flags[@]}" "$@" >"$W/make.log" 2>&1 || { cat "$W/make.log"; return 1; }; }
expect_ok "make install" mk install PREFIX="$W/prefix"
for f in include/lethe.h lib/liblethe.a lib/pkgconfig/lethe.pc; do [ -s "$W/prefix/$f" ] && ok || bad "install: no $f"; done
cmp -s "$W/prefix/lib/liblethe.a" "$PUB" && ok || bad "the installed archive is not the public one"
expect_ok "make install DESTDIR" mk install DESTDIR="$W/stage" PREFIX=/opt/lethe
[ -s "$W/stage/opt/lethe/lib/liblethe.a" ] && grep -qx 'prefix=/opt/lethe' "$W/stage/opt/lethe/lib/pkgconfig/lethe.pc" && ok ||
    bad "DESTDIR install: files or prefix wrong"
export PKG_CONFIG_PATH="$W/prefix/lib/pkgconfig"
for static in --static ""; do
    fl=$(pkg-config --cflags --libs $static lethe) && ok || bad "pkg-config $static lethe failed"
    # shellcheck disable=SC2086
    if ${CC:-gcc} -std=c11 examples/forget_class.c $fl -o "$W/fc" 2>"$W/cc.log"; then ok; else bad "build with pkg-config $static"; cat "$W/cc.log"; fi
done
expect_fail "installed example runs" "methods: retrain, finetune" "$W/fc"

echo "$n_ok passed, $n_bad failed"
[ $n_bad -eq 0 ]
