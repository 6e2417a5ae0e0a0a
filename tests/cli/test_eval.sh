#!/usr/bin/env bash
# test_eval.sh: `lethe classifier` and `lethe eval` end to end on small, quick runs, and
# the bad inputs the evaluation issue names (classifier of another dataset or resolution,
# an unknown forget class, too few samples for FID): a clear message and a non-zero exit.
# The statistical sanity checks (accuracy, FID, UA, bits/dim) are in test_sanity.sh.
set -u
LETHE=${LETHE:-build/lethe}
W=$(mktemp -d /tmp/lethe_eval_XXXXXX)
trap 'rm -rf "$W"' EXIT
. "$(dirname "$0")/lib.sh"
# json FILE EXPR: evaluates a Python expression over the parsed JSON `j`, prints it
json() { python3 -c "import json,sys; j=json.load(open(sys.argv[1])); print($2)" "$1"; }

# a 16x16 IDX dataset of 4 classes (another resolution and other class names)
python3 "$(dirname "$0")/toy_idx.py" "$W/toy" 256 64

# ---- lethe classifier -------------------------------------------------------------------------
expect_ok "classifier (quick)" $LETHE classifier --data fashion-mnist --train-images 512 --epochs 1 --batch 64 \
    --warmup 2 --channels 8,16 --fid-images 200 --out "$W/cls"
[ -s "$W/cls/config.json" ] && [ -s "$W/cls/model.safetensors" ] && [ -s "$W/cls/classifier.json" ] && ok || bad "classifier files"
acc=$(json "$W/cls/classifier.json" 'j["test_accuracy"]')
awk -v a="$acc" 'BEGIN { exit !(a > 0.3 && a <= 1) }' && ok || bad "512 images for one epoch should beat chance clearly (got $acc)"
grep -q "| fashion-mnist |" "$W/out" && ok || bad "classifier prints its table"
# --check re-measures a trained classifier: the same test accuracy and FID against noise as
# training recorded (the same test images and noise: --seed and --fid-images as trained; the
# FID floor draws its training images from all 60,000 here, from 512 in training); this one
# is below fashion-mnist's required 92%, so the check fails after writing its report
expect_fail "classifier --check (below the required accuracy)" "below the 92%" $LETHE classifier --check "$W/cls" \
    --fid-images 200 --json "$W/check.json"
python3 - "$W/cls/classifier.json" "$W/check.json" <<'PY' && ok || bad "classifier --check does not reproduce the recorded numbers"
import json, sys
rec, chk = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
assert chk["format"] == "lethe-classifier-check-1" and chk["dataset"] == "fashion-mnist", chk
assert chk["test_accuracy"] == rec["test_accuracy"] == chk["recorded"]["test_accuracy"], (chk, rec)
assert chk["test_accuracy_per_class"] == rec["test_accuracy_per_class"]
assert abs(chk["fid_test_vs_noise"] - rec["fid_test_vs_noise"]) <= 1e-9 * rec["fid_test_vs_noise"], (chk, rec)
assert chk["fid_test_vs_train"] > 0 and chk["fid_images"] == 200
PY
expect_fail "classifier --check: no such folder" "not a directory" $LETHE classifier --check "$W/none"
expect_fail "classifier --check with --out" "drop --out" $LETHE classifier --check "$W/cls" --out "$W/x"
# resumable: --stop-after then --resume ends at the weights of one run (also across a redraw
# of generated data between epochs); a resume with other flags is refused
CR="--train-images 256 --epochs 2 --batch 64 --warmup 2 --channels 8,16 --fid-images 64 --checkpoint-every 3"
# the generated data's half renders the 70,000 canvas images four times: once, in the optimised
# build (the sanitizer builds run the same code paths in the fashion-mnist half)
RESUME_DATA="fashion-mnist fashion-canvas-object"
case "$LETHE" in *build-san/*|*build-vg/*|*build-debug/*) RESUME_DATA=fashion-mnist ;; esac
for data in $RESUME_DATA; do
    expect_ok "classifier $data (one run)" $LETHE classifier --data $data $CR --out "$W/cr1_$data"
    expect_ok "classifier $data (stop after 5)" $LETHE classifier --data $data $CR --stop-after 5 --out "$W/cr2_$data"
    grep -q "continue with --resume" "$W/err" && ok || bad "a stopped classifier says how to continue"
    [ ! -e "$W/cr2_$data/model.safetensors" ] && ok || bad "a stopped classifier wrote a model"
    expect_fail "classifier $data (resume, other lr)" "same flags" $LETHE classifier --data $data $CR --lr 1e-2 --resume \
        --out "$W/cr2_$data"
    expect_ok "classifier $data (resume)" $LETHE classifier --data $data $CR --resume --out "$W/cr2_$data"
    cmp -s "$W/cr1_$data/model.safetensors" "$W/cr2_$data/model.safetensors" && ok || bad "$data: resumed classifier differs"
done
if [ -d "$W/cr2_fashion-canvas-object" ]; then
    [ "$(json "$W/cr2_fashion-canvas-object/classifier.json" 'j["training"]["redrawn_each_epoch"]')" = True ] && ok \
        || bad "the canvas classifier's report says whether it was redrawn"
fi
expect_ok "classifier on 16x16 data" $LETHE classifier --data "$W/toy" --epochs 1 --batch 32 --warmup 1 --channels 8,16 \
    --fid-images 50 --out "$W/cls16"
expect_ok "classifier --check on its own data" $LETHE classifier --check "$W/cls16" --data "$W/toy" --fid-images 50
grep -q "| $W/cls16 |" "$W/out" && ok || bad "classifier --check prints its table"
expect_fail "classifier --check on data of another resolution" "16|28" $LETHE classifier --check "$W/cls16" --data fashion-mnist
expect_fail "classifier: channels" "channels" $LETHE classifier --channels 8,abc --out "$W/x"
expect_fail "classifier: feature width" "feature width" $LETHE classifier --features 256 --train-images 64 --out "$W/x"
expect_fail "classifier: no --out" "out DIR is required" $LETHE classifier

# ---- lethe eval on an (untrained) tiny model --------------------------------------------------
$LETHE train --steps 2 --batch 4 --warmup 1 --out "$W/m" >/dev/null 2>&1 || bad "train a model to evaluate"
$LETHE train --steps 2 --batch 4 --warmup 1 --init-seed 5 --out "$W/m2" >/dev/null 2>&1 || bad "train a second model"
EV="$LETHE eval --classifier $W/cls --n 4 --steps 2 --nll-images 2 --nll-timesteps 3 --mia-images 4 --mia-pairs 2"
expect_ok "eval one model" $EV --model "$W/m" --forget trouser --out "$W/e1.json"
[ -s "$W/e1.json" ] && [ -s "$W/e1.png" ] && ok || bad "eval writes JSON and a grid"
grep -q "UA trouser" "$W/out" && grep -q "| class | generation accuracy" "$W/out" && ok || bad "eval prints Markdown tables"
python3 - "$W/e1.json" <<'PY' && ok || bad "eval JSON holds every number and setting"
import json, math, sys
j = json.load(open(sys.argv[1]))
m = j["models"][0]
assert j["settings"]["samples_per_class"] == 4 and j["settings"]["steps"] == 2 and j["forget_classes"] == ["trouser"]
assert len(m["weights_sha256"]) == 64 and len(j["classifier"]["weights_sha256"]) == 64
assert sum(sum(r) for r in m["confusion"]) == m["samples"] == 40
ua = m["forget"]["trouser"]["ua"]; assert 0 <= ua <= 1
assert abs(ua - (1 - m["generation_accuracy"]["trouser"])) < 1e-12
for c, v in m["bits_per_dim"]["per_class"].items(): assert math.isfinite(v) and v > 0, (c, v)
assert 0 <= m["membership_inference"]["auc"] <= 1 and m["membership_inference"]["members"] == 4
assert m["fid_lethe_cnn"]["retained"] >= 0 and m["inception_score"] >= 1
assert all(k in m["seconds"] for k in ("sample", "fid", "nll", "mia", "total"))
PY
# a one-step generator (SFD) beside its teacher: one evaluation per image, no likelihood
$LETHE unlearn --model "$W/m" --method sfd --forget trouser --steps 1 --batch 2 --out "$W/g" >/dev/null 2>&1 || bad "sfd generator"
expect_ok "eval teacher and generator" $EV --model "$W/m,$W/g" --forget trouser --out "$W/eg.json"
python3 - "$W/eg.json" <<'PY' && ok || bad "eval of a one-step generator"
import json, sys
j = json.load(open(sys.argv[1])); t, g = j["models"]
assert "generator" not in t and g["generator"] == {"kind": "one-step", "t_init": 440}, g.get("generator")
assert all(v is None for v in g["bits_per_dim"]["per_class"].values()) and g["membership_inference"]["auc"] is None
assert g["samples"] == t["samples"] == 40 and 0 <= g["forget"]["trouser"]["ua"] <= 1
PY
# several models side by side, the same noise for each: the same model twice gives equal numbers
expect_ok "eval three models" $EV --model "$W/m,$W/m2,$W/m" --forget 1 --out "$W/e3.json"
[ -s "$W/e3_1.png" ] && [ -s "$W/e3_3.png" ] && ok || bad "one grid per model"
python3 - "$W/e3.json" <<'PY' && ok || bad "same model, same seeds: identical results"
import json, sys
j = json.load(open(sys.argv[1])); a, b, c = j["models"]
for k in ("confusion", "bits_per_dim", "fid_lethe_cnn", "inception_score", "membership_inference"):
    assert a[k] == c[k], k
assert a["weights_sha256"] == c["weights_sha256"] != b["weights_sha256"]
PY
expect_ok "eval unconditional" bash -c "$LETHE train --steps 2 --batch 4 --unconditional --out $W/u >/dev/null 2>&1 && \
    $EV --model $W/u,$W/u --forget trouser --out $W/eu.json"
python3 - "$W/eu.json" <<'PY' && ok || bad "unconditional: class fractions and PUL against the parent"
import json, sys
j = json.load(open(sys.argv[1])); a, b = j["models"]
assert not a["conditional"] and abs(sum(a["class_fraction"].values()) - 1) < 1e-9
pul = b["forget"]["trouser"]["pul_percent"]
assert pul is None or abs(pul) < 1e-9   # same model: nothing forgotten (None when it makes no trousers)
PY
# --classes: only those classes are generated and judged; the rest are null, and the numbers
# of the evaluated classes are those of the full run (same noise per class)
expect_ok "eval --classes" $EV --model "$W/m" --forget trouser --classes trouser,bag,sneaker --out "$W/ec.json"
python3 - "$W/ec.json" "$W/e1.json" <<'PY' && ok || bad "eval --classes restricts every per-class number"
import json, sys
j, full = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
m, f = j["models"][0], full["models"][0]
kept = {"trouser", "bag", "sneaker"}
assert j["evaluated_classes"] == ["trouser", "sneaker", "bag"] and m["samples"] == 12
for key in ("generation_accuracy",):
    assert all((v is None) == (c not in kept) for c, v in m[key].items()), m[key]
    assert all(m[key][c] == f[key][c] for c in kept), (m[key], f[key])
assert all((v is None) == (c not in kept) for c, v in m["bits_per_dim"]["per_class"].items())
assert all(m["bits_per_dim"]["per_class"][c] == f["bits_per_dim"]["per_class"][c] for c in kept)
assert sum(sum(r) for r in m["confusion"]) == 12
PY
# a model trained on some classes: eval says which retained classes it never learnt
$LETHE train --steps 2 --batch 4 --classes trouser,bag,sneaker --out "$W/msub" >/dev/null 2>&1 || bad "train on 3 classes"
$EV --model "$W/msub" --forget trouser --no-nll --no-mia --out "$W/es.json" >"$W/out" 2>"$W/err" \
    && grep -q "never trained on 7 of the retained classes (t-shirt, pullover, dress, coat, ...)" "$W/err" \
    && ok || { bad "eval warns about classes the model never learnt"; cat "$W/err"; }
$EV --model "$W/msub" --forget trouser --classes trouser,bag,sneaker --no-nll --no-mia --out "$W/es.json" >"$W/out" 2>"$W/err" \
    && ! grep -q "never trained" "$W/err" && ok || bad "no such warning when --classes are the trained ones"
expect_fail "eval --classes without the forget class" "not among --classes" $EV --model "$W/m" --forget trouser \
    --classes bag,sneaker --out "$W/x.json"
expect_fail "eval --classes: unknown class" "sweater" $EV --model "$W/m" --classes bag,sweater --out "$W/x.json"
expect_fail "eval --classes: one retained class needed" "nothing is retained" $EV --model "$W/m" --forget bag \
    --classes bag --out "$W/x.json"

# ---- bad input ----------------------------------------------------------------------------------
expect_fail "eval: unknown forget class" "sweater" $EV --model "$W/m" --forget sweater --out "$W/x.json"
expect_fail "eval: classifier of another resolution" "16x16" $EV --model "$W/m" --classifier "$W/cls16" --out "$W/x.json"
expect_fail "eval: too few samples for FID" "FID needs at least 2" $EV --model "$W/m" --n 1 --out "$W/x.json"
expect_fail "eval: no classifier" "classifier" $LETHE eval --model "$W/m"
expect_fail "eval: missing classifier" "not a directory" $EV --model "$W/m" --classifier "$W/none" --out "$W/x.json"
expect_fail "eval: missing model" "no such model" $EV --model "$W/none" --out "$W/x.json"
expect_fail "eval: every class forgotten" "nothing is retained" $EV --model "$W/m" \
    --forget 0,1,2,3,4,5,6,7,8,9 --out "$W/x.json"
# a model whose classes are not the classifier's (trained on the 16x16 toy data with 4 classes)
python3 -c "import json,sys; c=json.load(open(sys.argv[1])); c['sample_size']=16; c['num_class_embeds']=5; json.dump(c, open(sys.argv[2],'w'))" "$W/m/unet/config.json" "$W/toy.json"
$LETHE train --data "$W/toy" --config "$W/toy.json" --steps 1 --batch 4 --out "$W/mt" >/dev/null 2>&1 || bad "train on the toy data"
expect_fail "eval: model of another dataset" "16x16|classes|trained on" $EV --model "$W/mt" --out "$W/x.json"
expect_fail "eval: bad sampler" "ddim or ddpm" $EV --model "$W/m" --sampler euler --out "$W/x.json"
cp -r "$W/cls" "$W/clsbad"; printf 'garbage' >"$W/clsbad/model.safetensors"
expect_fail "eval: corrupt classifier" "model.safetensors" $EV --model "$W/m" --classifier "$W/clsbad" --out "$W/x.json"

echo "test_eval.sh: $n_ok passed, $n_bad failed"
[ $n_bad -eq 0 ]
