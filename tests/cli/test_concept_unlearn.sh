#!/usr/bin/env bash
# test_concept_unlearn.sh: the fine-tuning methods at concept level on a tiny text-to-image
# model (unlearn/concepts.h: a style or an object is the set of its answer-set prompts):
# - every loop method runs from `--forget-style`, `--forget-object` or `--forget-file` and
#   writes a text-to-image pipeline that samples; lethe.json lists the forgotten prompts;
# - ESD-x (--params conditioning) changes only cross-attention weights, ESD-u
#   (non-conditioning) none of them (SPARE's prompt-to-prompt surrogates: tests/test_concepts.c);
# - a stopped run resumes to the same weights as an uninterrupted one;
# - clear errors: an unknown style, a concept flag on a class-conditional model, SPARE
#   without a surrogate or with a forgotten one, retrain of a single prompt.
# - retrain trains the parent's recipe without the style's pairs; `train --exclude` on prompts.
# The runs read a 1,200-image Fashion-MNIST subset (--data), so each renders little.
set -u
LETHE=$(realpath "${LETHE:-build/lethe}")
W=$(realpath "$(mktemp -d /tmp/lethe_concept_XXXXXX)")
trap 'rm -rf "$W"' EXIT
. "$(dirname "$0")/lib.sh"
cd "$(dirname "$0")/../.."
FM=/usr/share/datasets/fashion-mnist
if [ ! -d $FM ]; then echo "fashion-mnist not installed: skipped"; exit 0; fi
train_tiny_t2i "$W/m"
# the first 1,200 training images, in a folder named like the dataset (so its class names are known)
python3 - "$FM" "$W/fashion-mnist" 1200 <<'PY'
import gzip, os, struct, sys
src, dst, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
os.makedirs(dst)
img = gzip.open(src + "/train-images-idx3-ubyte.gz").read()
lab = gzip.open(src + "/train-labels-idx1-ubyte.gz").read()
open(dst + "/train-images-idx3-ubyte", "wb").write(struct.pack(">IIII", 0x803, n, 28, 28) + img[16:16 + n * 784])
open(dst + "/train-labels-idx1-ubyte", "wb").write(struct.pack(">II", 0x801, n) + lab[8:8 + n])
PY
UL="$LETHE unlearn --model $W/m --data $W/fashion-mnist --steps 2 --batch 2 --threads 1"

# forget_check DIR N WORD: a text-to-image folder whose lethe.json lists N forgotten prompts, all with WORD
forget_check() {
    python3 - "$1" "$2" "$3" <<'PY'
import json, os, sys
d, n, word = sys.argv[1], int(sys.argv[2]), sys.argv[3]
j = json.load(open(d + "/lethe.json"))
f = j["forget_classes"]
assert len(f) == n and all(word in c.split(" ") for c in f), f
assert j["class_names"] == [], "prompt classes are not saved"
assert os.path.isdir(d + "/text_encoder") and os.path.isdir(d + "/tokenizer")
PY
}
for m in finetune ga salun "sa --fisher-samples 2 --replay-samples 2" "vdu --anchor-precision fisher --fisher-samples 2" \
         "spare --surrogate photo" sfd "esd --params conditioning" "esd --params non-conditioning"; do
    name=$(echo "$m" | tr ' ' '_' | tr -d '-')
    expect_ok "$m --forget-style zebra" $UL --method $m --forget-style zebra --out "$W/$name"
    forget_check "$W/$name" 10 zebra && ok || bad "$m: lethe.json's forgotten prompts"
    expect_ok "$m: sample the result" $LETHE sample --model "$W/$name" --prompt "a trouser in zebra style" --n 1 --steps 2 \
        --out "$W/$name.png"
done
expect_ok "ga --forget-object trouser" $UL --method ga --forget-object trouser --out "$W/obj"
forget_check "$W/obj" 56 trouser && ok || bad "--forget-object: 56 prompts of trouser"
printf '# styles and a prompt\nzebra\n\ncandy\nbee trouser\n' >"$W/concepts.txt"
expect_ok "ga --forget-file" $UL --method ga --forget-file "$W/concepts.txt" --out "$W/file"
python3 -c "import json,sys; f=json.load(open(sys.argv[1]+'/lethe.json'))['forget_classes']; assert len(f)==21 and 'bee trouser' in f, f" \
    "$W/file" && ok || bad "--forget-file: 10 + 10 + 1 prompts"

# retrain: the parent's recipe (here 2 steps) on every (image, prompt) pair but the style's
expect_ok "retrain --forget-style zebra" $UL --method retrain --forget-style zebra --out "$W/retrain"
forget_check "$W/retrain" 10 zebra && ok || bad "retrain: lethe.json's forgotten prompts"
grep -q "retrain from scratch without zebra (10 prompts)" "$W/err" && ok || bad "retrain: $(cat "$W/err")"
expect_ok "train --exclude on a text-to-image model" $LETHE train --data fashion-canvas --config "$W/tiny_t2i.json" \
    --text-encoder models/fashion-canvas-clip --steps 1 --batch 2 --exclude zebra,trouser --threads 1 --out "$W/ex"
expect_fail "train --exclude: unknown concept" "neither a Fashion-Canvas style .* nor an object" $LETHE train \
    --data fashion-canvas --config "$W/tiny_t2i.json" --text-encoder models/fashion-canvas-clip --steps 1 --exclude zebr --out "$W/x"

# which weights ESD-x and ESD-u move
python3 - "$W/m" "$W/esd_params_conditioning" "$W/esd_params_nonconditioning" <<'PY' && ok || bad "esd: ESD-x moves only attn2, ESD-u no attn2"
import json, struct, sys
def tensors(d):
    b = open(d + "/unet/diffusion_pytorch_model.safetensors", "rb").read()
    n = struct.unpack("<Q", b[:8])[0]; h = json.loads(b[8:8 + n])
    return {k: b[8 + n + v["data_offsets"][0]:8 + n + v["data_offsets"][1]] for k, v in h.items() if k != "__metadata__"}
p, x, u = (tensors(d) for d in sys.argv[1:4])
cx = [k for k in p if p[k] != x[k]]
cu = [k for k in p if p[k] != u[k]]
assert cx and all(".attn2." in k for k in cx), cx
assert cu and not any(".attn2." in k for k in cu), cu
PY

# a stopped run resumes to the same weights
expect_ok "esd: 1 step, stopped" $UL --method esd --forget-style zebra --stop-after 1 --out "$W/res"
expect_ok "esd: resumed" $UL --method esd --forget-style zebra --resume --out "$W/res"
expect_ok "esd: uninterrupted" $UL --method esd --forget-style zebra --out "$W/whole"
cmp -s "$W/res/unet/diffusion_pytorch_model.safetensors" "$W/whole/unet/diffusion_pytorch_model.safetensors" && ok \
    || bad "esd: resumed weights differ from the uninterrupted run's"

expect_fail "unknown style" "'zebr' is not a style of this model \(styles: photo, zebra" \
    $UL --method ga --forget-style zebr --out "$W/x"
expect_fail "an object given as a style" "'trouser' is not a style" $UL --method ga --forget-style trouser --out "$W/x"
expect_fail "no concept" "--forget" $LETHE unlearn --model "$W/m" --method ga --out "$W/x"
expect_fail "spare without a surrogate" "--surrogate CONCEPT is required" $UL --method spare --forget-style zebra --out "$W/x"
expect_fail "spare onto a forgotten style" "maps 'zebra t-shirt' to 'candy t-shirt', a forget prompt" \
    $UL --method spare --forget-style zebra,candy --surrogate candy --out "$W/x"
expect_fail "retrain of one prompt" "whole styles or objects" $UL --method retrain --forget "zebra trouser" --out "$W/x"
expect_fail "missing --forget-file" "cannot open" $UL --method ga --forget-file "$W/none.txt" --out "$W/x"
# a class-conditional model has classes, not concepts
$LETHE train --steps 1 --batch 2 --out "$W/cls" >/dev/null 2>&1
expect_fail "--forget-style on a class-conditional model" "name concepts of a text-to-image model" \
    $LETHE unlearn --model "$W/cls" --method ga --forget-style zebra --steps 1 --out "$W/x"

echo "test_concept_unlearn.sh: $n_ok passed, $n_bad failed"
[ $n_bad -eq 0 ]
