#!/usr/bin/env bash
# test_canvas.sh: `lethe canvas`, Fashion-Canvas's reference sheet: a PNG of the right size
# (one row per style, one column per object), the same bytes for the same arguments and
# different ones for another seed; the style list and example prompts on stdout; clear errors
# for a missing --out, a bad --image or --scale, data that is not 28 x 28 gray, an unwritable path.
set -u
LETHE=$(realpath "${LETHE:-build/lethe}")
W=$(realpath "$(mktemp -d /tmp/lethe_canvas_XXXXXX)")
trap 'rm -rf "$W"' EXIT
. "$(dirname "$0")/lib.sh"
cd "$(dirname "$0")/../.."
png_size() { python3 -c "import struct,sys; d=open(sys.argv[1],'rb').read(24); print(*struct.unpack('>II', d[16:24]))" "$1"; }

if [ -d /usr/share/datasets/fashion-mnist ]; then
    expect_ok "canvas" $LETHE canvas --out "$W/sheet.png" --scale 1 --prompts 1
    # 56 styles x (32 + 2) + 15 family gaps x 6 + an 11-pixel header; 10 x (32 + 2) + a 70-pixel label column
    [ "$(png_size "$W/sheet.png")" = "410 2005" ] && ok || bad "sheet size $(png_size "$W/sheet.png")"
    grep -q "56 styles in 15 families" "$W/out" && ok || bad "no style count: $(head -1 "$W/out")"
    grep -qE "^  stripes +zebra candy bee sailor mint$" "$W/out" && ok || bad "no family list"
    grep -q '"a t-shirt in zebra style"' "$W/out" && ok || bad "no example prompt"
    expect_ok "canvas again" $LETHE canvas --out "$W/again.png" --scale 1
    cmp -s "$W/sheet.png" "$W/again.png" && ok || bad "the same arguments gave another sheet"
    expect_ok "canvas seed 1" $LETHE canvas --out "$W/seed1.png" --scale 1 --seed 1
    cmp -s "$W/sheet.png" "$W/seed1.png" && bad "--seed changed nothing" || ok
    expect_fail "bad image" "class t-shirt has only 1000 images" $LETHE canvas --out "$W/x.png" --image 1000
    expect_fail "unwritable" "x.png" $LETHE canvas --out "$W/no/such/dir/x.png"
fi
expect_fail "no --out" "--out SHEET.png is required" $LETHE canvas
expect_fail "bad scale" "--scale must be 1..8" $LETHE canvas --out "$W/x.png" --scale 0
# 16 x 16 IDX data is refused with the shapes named
python3 tests/cli/toy_idx.py "$W/toy" 8 8
expect_fail "16x16 data" "renders 1 x 28 x 28 images; .* has 1 x 16 x 16" $LETHE canvas --out "$W/x.png" --data "$W/toy"
echo "test_canvas.sh: $n_ok passed, $n_bad failed"
[ $n_bad -eq 0 ]
