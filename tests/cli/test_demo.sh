#!/usr/bin/env bash
# test_demo.sh: `lethe demo`, the main job, in miniature. Unlearning (the default): a class is
# forgotten from a parent, both models are judged side by side on the same noise (eval.json
# with two models, eval.md, a side-by-side PNG of the forgotten class and kept ones), the last
# line says where the results are, and a second run reuses the unlearned model. --train: the
# first demo (train from scratch, a grid per class, reuse). Bad input: a clear message.
set -u
LETHE=$(realpath "${LETHE:-build/lethe}")
W=$(realpath "$(mktemp -d /tmp/lethe_demo_XXXXXX)")
trap 'rm -rf "$W"' EXIT
. "$(dirname "$0")/lib.sh"
json() { python3 -c "import json,sys; j=json.load(open(sys.argv[1])); print($2)" "$1"; }
png_size() { python3 -c "import struct,sys; d=open(sys.argv[1],'rb').read(24); print(*struct.unpack('>II', d[16:24]))" "$1"; }

# --- --train: trains, writes a grid per class, reuses the model when run again
expect_ok "demo --train" $LETHE demo --train --steps 2 --batch 4 --per-class 2 --sample-steps 2 --out "$W/t"
[ -s "$W/t/samples/all_classes.png" ] && [ -s "$W/t/samples/01_trouser.png" ] && ok || bad "demo --train grids missing"
expect_ok "demo --train again" $LETHE demo --train --steps 2 --batch 4 --per-class 2 --sample-steps 2 --out "$W/t"
grep -q "reusing the finished model" "$W/err" && ok || bad "demo --train did not reuse its model"

# --- unlearning from a stand-in parent on a small 16x16 IDX set of 4 classes (quick to judge; the
# committed reference model is checked by test_models.sh)
python3 "$(dirname "$0")/toy_idx.py" "$W/toy" 64 32
python3 -c "import json,sys; c=json.load(open(sys.argv[1])); c.update(sample_size=16, num_class_embeds=5, block_out_channels=[8,16], norm_num_groups=4); json.dump(c, open(sys.argv[2],'w'))" \
    "$W/t/model/unet/config.json" "$W/toy.json"
expect_ok "toy parent" $LETHE train --data "$W/toy" --config "$W/toy.json" --steps 4 --batch 8 --out "$W/p"
expect_ok "classifier" $LETHE classifier --data "$W/toy" --epochs 1 --batch 16 --warmup 1 --channels 8,16 --features 8 \
    --fid-images 16 --out "$W/cls"
DEMO="$LETHE demo --model $W/p --classifier $W/cls --forget 1 --method ga --steps 2 --per-class 2 --sample-steps 2"
expect_ok "demo" $DEMO --out "$W/d"
tail -n 1 "$W/err" | grep -q "results in $W/d" && ok || { bad "last line names the results"; tail -n 2 "$W/err"; }
[ "$(json "$W/d/eval.json" 'len(j["models"])')" = 2 ] && ok || bad "eval.json judges two models"
[ "$(json "$W/d/eval.json" 'j["models"][1]["model"]')" = "$W/d/unlearned" ] && ok || bad "the second is the unlearned model"
[ "$(json "$W/d/unlearned/lethe.json" 'j["method"] + " " + str(j["steps_done"])')" = "ga 2" ] && ok || bad "unlearned by ga, 2 steps"
grep -q "UA 1" "$W/d/eval.md" && grep -q "retained accuracy" "$W/d/eval.md" && grep -q "FID" "$W/d/eval.md" \
    && ok || bad "eval.md has UA, retained accuracy and FID"
grep -q "UA 1" "$W/out" && ok || bad "the table is printed"
# 4 rows (class 1 + 3 kept classes) of 2 samples | blank | 2 samples: 5 tiles of 16 px, 2 px gaps
read -r pw ph < <(png_size "$W/d/side_by_side.png")
[ "$pw" -gt "$ph" ] && [ "$pw" -ge $((5 * 16)) ] && [ "$ph" -ge $((4 * 16)) ] && [ "$ph" -lt $((5 * 16)) ] \
    && ok || bad "side_by_side.png is 4 rows of 5 tiles (got ${pw}x${ph})"
expect_ok "demo again" $DEMO --out "$W/d"
grep -q "reusing the unlearned model" "$W/err" && ok || bad "demo did not reuse the unlearned model"
expect_ok "demo, another budget" $DEMO --steps 3 --out "$W/d"
! grep -q "reusing" "$W/err" && [ "$(json "$W/d/unlearned/lethe.json" 'j["steps_done"]')" = 3 ] && ok || bad "another request reused the model"
(LETHE_TEST_CRASH_AFTER_STEP=1 $DEMO --steps 4 --out "$W/d"; exit $?) >/dev/null 2>&1
[ $? -eq 137 ] && [ ! -f "$W/d/unlearned/lethe.json" ] && ok || bad "an interrupted request leaves no finished model behind"
expect_ok "demo, the interrupted request again" $DEMO --steps 4 --out "$W/d"
! grep -q "reusing" "$W/err" && [ "$(json "$W/d/unlearned/lethe.json" 'j["steps_done"]')" = 4 ] && ok || bad "the interrupted request was not finished"
expect_ok "demo --forget 2 --kept-rows 1" $DEMO --forget 2 --kept-rows 1 --out "$W/d2"
read -r pw ph < <(png_size "$W/d2/side_by_side.png")
[ "$ph" -lt $((3 * 16)) ] && ok || bad "--kept-rows 1: two rows (got ${pw}x${ph})"

# --- the default reference model missing (run outside the repository root): it says so and trains
mkdir -p "$W/elsewhere"
(cd "$W/elsewhere" && $LETHE demo --steps 2 --batch 4 --per-class 2 --sample-steps 2 --out "$W/fb") >"$W/out" 2>"$W/err" \
    && grep -q "no reference model in models/fashion-mnist-tiny.*training the tiny model" "$W/err" \
    && [ -s "$W/fb/samples/all_classes.png" ] && ok || { bad "fallback to training"; cat "$W/err"; }

# --- bad input
expect_fail "no model" "no reference model there.*--model" $LETHE demo --model "$W/nope" --out "$W/x"
expect_fail "unknown class" "sweater" $DEMO --forget sweater --out "$W/x"
expect_fail "unknown method" "method" $DEMO --method forgetall --out "$W/x"
expect_fail "bad method option" "NAME=VALUE" $DEMO --method-options surrogate --out "$W/x"
expect_fail "per-class 0" "per-class" $DEMO --per-class 0 --out "$W/x"

echo "test_demo: $n_ok passed, $n_bad failed"
[ $n_bad -eq 0 ]
