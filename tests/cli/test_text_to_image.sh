#!/usr/bin/env bash
# test_text_to_image.sh: a text-to-image model end to end on a tiny budget: `lethe train
# --data fashion-canvas --config canvas-tiny --text-encoder DIR` writes the pipeline folder
# (unet/, text_encoder/, tokenizer/, scheduler/, model_index.json, lethe.json); a run killed
# between checkpoints and resumed is the uninterrupted run (log, weights); `lethe sample` with
# --prompt, --prompts FILE (one grid row per prompt) and --negative-prompt is seeded and
# reproducible; clear errors for an unknown word, --class on a text model, prompts on a
# class-conditional model, and the wrong data or config for --text-encoder.
set -u
LETHE=$(realpath "${LETHE:-build/lethe}")
W=$(realpath "$(mktemp -d /tmp/lethe_t2i_XXXXXX)")
trap 'rm -rf "$W"' EXIT
. "$(dirname "$0")/lib.sh"
cd "$(dirname "$0")/../.."
CLIP=models/fashion-canvas-clip
WEIGHTS=unet/diffusion_pytorch_model.safetensors
# .npy without numpy: the shape from the header, the float32 values
NPY='import ast, array, struct
def npy(p):
    b = open(p, "rb").read(); n = struct.unpack("<H", b[8:10])[0]
    h = ast.literal_eval(b[10:10 + n].decode()); a = array.array("f"); a.frombytes(b[10 + n:])
    return h["shape"], a'
npy_shape() { python3 -c "$NPY
import sys; print(*npy(sys.argv[1])[0])" "$1"; }
png_size() { python3 -c "import struct,sys; d=open(sys.argv[1],'rb').read(24); print(*struct.unpack('>II', d[16:24]))" "$1"; }

expect_fail "text encoder on class data" "--data fashion-canvas" \
    $LETHE train --data fashion-mnist --config canvas-tiny --text-encoder $CLIP --steps 1 --out "$W/x"
expect_fail "class config with a text encoder" "canvas-tiny or a UNet2DConditionModel" \
    $LETHE train --data fashion-canvas --config tiny --text-encoder $CLIP --steps 1 --out "$W/x"
expect_fail "canvas-tiny without a text encoder" "text-to-image model: give --text-encoder" \
    $LETHE train --data fashion-canvas --config canvas-tiny --steps 1 --out "$W/x"
expect_fail "no text encoder there" "text_encoder" \
    $LETHE train --data fashion-canvas --config canvas-tiny --text-encoder "$W" --steps 1 --out "$W/x"

if [ ! -d /usr/share/datasets/fashion-mnist ]; then echo "fashion-mnist not installed: training checks skipped"; 
else
TRAIN="$LETHE train --data fashion-canvas --config canvas-tiny --text-encoder $CLIP --steps 4 --batch 2 --warmup 1 \
--log-every 1 --checkpoint-every 2 --threads 1"
expect_ok "train uninterrupted" $TRAIN --out "$W/full"
for f in model_index.json unet/config.json $WEIGHTS text_encoder/config.json text_encoder/model.safetensors \
         tokenizer/vocab.json scheduler/scheduler_config.json lethe.json train_state.safetensors; do
    [ -s "$W/full/$f" ] && ok || bad "the pipeline folder has no $f"
done
grep -q '"_class_name": "LetheTextToImagePipeline"' "$W/full/model_index.json" && ok || bad "model_index.json class"
grep -q '"UNet2DConditionModel"' "$W/full/unet/config.json" && ok || bad "unet/config.json class"
python3 - "$W/full" <<'PY' && ok || bad "lethe.json / unet config"
import json, sys
d = sys.argv[1]
l = json.load(open(d + "/lethe.json")); c = json.load(open(d + "/unet/config.json"))
assert l["dataset"] == "fashion-canvas" and l["steps_done"] == 4 and l["arguments"]["text_encoder"] == "models/fashion-canvas-clip", l
assert c["cross_attention_dim"] == 64 and c["sample_size"] == 32 and c["in_channels"] == 3, c
assert c["down_block_types"][0] == "DownBlock2D" and c["down_block_types"][1] == "CrossAttnDownBlock2D", c
PY
expect_ok "info" $LETHE info "$W/full"
grep -q "UNet2DConditionModel, 1687075 parameters" "$W/out" && grep -q "text-to-image: CLIPTextModelWithProjection" "$W/out" \
    && ok || bad "lethe info: $(head -3 "$W/out")"
# killed after step 3 (state at step 2), resumed: the same log and weights
(LETHE_TEST_CRASH_AFTER_STEP=3 $TRAIN --out "$W/kill"; exit $?) >"$W/out" 2>"$W/err"; rc=$?
[ $rc -eq 137 ] && ok || bad "crash after step 3: exit $rc"
expect_ok "train resumed" $TRAIN --resume --out "$W/kill"
python3 - "$W/full/train_log.jsonl" "$W/kill/train_log.jsonl" <<'PY' && ok || bad "resumed log differs"
import json, sys
rows = lambda p: [(r["step"], r["loss"]) for r in map(json.loads, open(p))]
a, b = rows(sys.argv[1]), rows(sys.argv[2])
assert a == b and [s for s, _ in a] == [1, 2, 3, 4], (a, b)
PY
cmp -s "$W/full/$WEIGHTS" "$W/kill/$WEIGHTS" && ok || bad "resumed weights differ from the uninterrupted run"
expect_fail "resume with another text encoder" "text.encoder" $TRAIN --resume --text-encoder "$W/full" --out "$W/kill"

M="$W/full"
S="$LETHE sample --model $M --steps 2 --threads 1"
expect_ok "sample --prompt" $S --prompt "a trouser in zebra style" --n 3 --guidance 5 --out "$W/a.png" --npy "$W/a.npy"
[ "$(npy_shape "$W/a.npy")" = "3 3 32 32" ] && ok || bad "--prompt --n 3: shape $(npy_shape "$W/a.npy")"
expect_ok "sample again" $S --prompt "a trouser in zebra style" --n 3 --guidance 5 --out "$W/b.png" --npy "$W/b.npy"
cmp -s "$W/a.npy" "$W/b.npy" && ok || bad "the same prompt and seed gave other images"
expect_ok "negative prompt" $S --prompt "a trouser in zebra style" --n 3 --guidance 5 --negative-prompt "a trouser" \
    --out "$W/c.png" --npy "$W/c.npy"
cmp -s "$W/a.npy" "$W/c.npy" && bad "--negative-prompt changed nothing" || ok
printf 'a trouser in zebra style\n\na dress in photo style\n' > "$W/prompts.txt"
expect_ok "sample --prompts" $S --prompts "$W/prompts.txt" --n 2 --out "$W/p.png" --npy "$W/p.npy"
[ "$(npy_shape "$W/p.npy")" = "4 3 32 32" ] && ok || bad "--prompts (2 prompts) --n 2: shape $(npy_shape "$W/p.npy")"
[ "$(png_size "$W/p.png" | cut -d' ' -f2)" = "$(png_size "$W/a.png" | awk '{print $2 * 2 - 2}')" ] && ok \
    || bad "--prompts grid: $(png_size "$W/p.png"), expected 2 rows of $(png_size "$W/a.png")"
expect_ok "sample --prompt n 2" $S --prompt "a trouser in zebra style" --n 2 --out "$W/q.png" --npy "$W/q.npy"
python3 -c "$NPY
import sys, math
(_, p), (_, q) = npy(sys.argv[1]), npy(sys.argv[2])
k = len(q)   # 2 images of the first prompt
assert all(math.isfinite(v) for v in p)
assert max(abs(a - b) for a, b in zip(p[:k], q)) < 1e-4, max(abs(a - b) for a, b in zip(p[:k], q))
assert max(abs(a - b) for a, b in zip(p[k:], q)) > 1e-2   # another prompt, other images
" "$W/p.npy" "$W/q.npy" && ok || bad "the first --prompts row differs from --prompt with the same seed"
expect_fail "unknown word" "unknown word 'spaceship'.*nearest" $S --prompt "a trouser in spaceship style" --out "$W/x.png"
expect_fail "--class on a text model" "text-to-image model.*--prompt" $S --class trouser --out "$W/x.png"
expect_fail "no prompt" "give --prompt" $S --out "$W/x.png"
expect_fail "both prompt forms" "not both" $S --prompt "a bag" --prompts "$W/prompts.txt" --out "$W/x.png"
expect_ok "class model" $LETHE train --steps 1 --batch 2 --warmup 1 --threads 1 --out "$W/cls"
expect_fail "--prompt on a class model" "class-conditional.*--class" \
    $LETHE sample --model "$W/cls" --prompt "a trouser" --n 1 --steps 1 --out "$W/x.png"
fi

echo "$n_ok passed, $n_bad failed"
[ $n_bad -eq 0 ]
