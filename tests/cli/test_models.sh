#!/usr/bin/env bash
# test_models.sh: the committed reference models (models/, reproduced by
# scripts/reference_models.sh). Every file under models/ is listed in models/SHA256SUMS and
# matches it; each diffusion model loads (lethe info) and its lethe.json keeps its recipe; the
# classifier reports its test accuracy; the demo runs, in miniature, on the committed models.
set -u
LETHE=$(realpath "${LETHE:-build/lethe}")
W=$(realpath "$(mktemp -d /tmp/lethe_models_XXXXXX)")
trap 'rm -rf "$W"' EXIT
. "$(dirname "$0")/lib.sh"
cd "$(dirname "$0")/../.."
json() { python3 -c "import json,sys; j=json.load(open(sys.argv[1])); print($2)" "$1"; }

[ -f models/SHA256SUMS ] && ok || bad "models/SHA256SUMS missing"
(cd models && sha256sum --quiet -c SHA256SUMS) >"$W/sums" 2>&1 && ok || { bad "a committed model file changed"; cat "$W/sums"; }
listed=$(sed 's/^[0-9a-f]*  //' models/SHA256SUMS | LC_ALL=C sort)
present=$(cd models && find . -type f ! -name SHA256SUMS ! -name README.md | sed 's|^\./||' | LC_ALL=C sort)
[ "$listed" = "$present" ] && ok || { bad "files under models/ and SHA256SUMS differ"; diff <(echo "$listed") <(echo "$present"); }

for d in models/*/; do
    d=${d%/}
    if [ -f "$d/classifier.json" ]; then
        acc=$(json "$d/classifier.json" 'j["test_accuracy"]')
        need=$(json "$d/classifier.json" 'j.get("required_accuracy") or 0.92')   # the dataset's bar (0.95 for styles)
        python3 -c "import sys; sys.exit(0 if float('$acc') >= float('$need') else 1)" && ok || bad "$d: test accuracy $acc < $need"
        continue
    fi
    if [ -f "$d/clip.json" ]; then   # the small CLIP: both encoders and the tokenizer, its zero-shot report
        for f in text_encoder/config.json text_encoder/model.safetensors image_encoder/model.safetensors \
                 tokenizer/vocab.json tokenizer/tokenizer_config.json; do
            [ -f "$d/$f" ] && ok || bad "$d: no $f"
        done
        [ ! -e "$d/clip_state.safetensors" ] && ok || bad "$d: training state committed"
        python3 -c "import json,sys; z=json.load(open(sys.argv[1]))['zero_shot']; sys.exit(0 if z['style_accuracy'] > 0.5 and z['object_accuracy'] > 0.5 else 1)" \
            "$d/clip.json" && ok || bad "$d: zero-shot accuracies missing or at chance"
        continue
    fi
    expect_ok "info $d" $LETHE info "$d"
    [ ! -e "$d/train_state.safetensors" ] && ok || bad "$d: training state committed (EMA weights only)"
    [ "$(json "$d/lethe.json" 'j["weights"]')" = ema ] && ok || bad "$d: not the EMA weights"
    if [ "$(json "$d/lethe.json" 'j.get("method")')" = retrain ]; then
        # a retrain reference: its parent is a committed model (by SHA-256), the whole recipe ran,
        # the forgotten class is not among the classes it was trained on
        python3 - "$d" <<'PY' && ok || bad "$d: retrain reference's record"
import hashlib, json, sys
d = sys.argv[1]
j = json.load(open(d + "/lethe.json"))
parent = j["parent"]["dir"]
sha = hashlib.sha256(open(parent + "/unet/diffusion_pytorch_model.safetensors", "rb").read()).hexdigest()
assert parent.startswith("models/") and j["parent"]["weights_sha256"] == sha, (parent, sha)
assert j["steps_done"] == json.load(open(parent + "/lethe.json"))["steps_done"], j["steps_done"]
gone = [j["class_names"].index(c) for c in j["forget_classes"]]
assert gone and not set(gone) & set(j["trained_classes"]), j
assert j["cpu_seconds"] > 0 and "command" in j
PY
        continue
    fi
    if [ "$(json "$d/lethe.json" "'init_from' in j")" = True ]; then
        # trained on from another model (lethe train --init-from): that one is committed, by SHA-256
        python3 - "$d" <<'PY' && ok || bad "$d: --init-from record"
import hashlib, json, sys
j = json.load(open(sys.argv[1] + "/lethe.json"))
start = j["init_from"]["dir"]
sha = hashlib.sha256(open(start + "/unet/diffusion_pytorch_model.safetensors", "rb").read()).hexdigest()
assert start.startswith("models/") and j["init_from"]["weights_sha256"] == sha, (start, sha)
PY
    fi
    for k in steps_done batch learning_rate lr_schedule warmup ema_max_decay seed command; do
        [ "$(json "$d/lethe.json" "'$k' in j")" = True ] && ok || bad "$d: lethe.json lacks $k"
    done
done

# the main job on the committed models, in miniature (the real budget is timed in the README);
# in the optimised build only: under the sanitizers test_demo.sh runs the same demo code on toy
# data, and this run's real-data features (10,000 test images) cost minutes there
case "$LETHE" in *build-san/*|*build-vg/*|*build-debug/*) DEMO=0 ;; *) DEMO=1 ;; esac
if [ $DEMO = 1 ] && [ -d models/fashion-mnist-tiny ]; then
    expect_ok "demo on the reference model" $LETHE demo --steps 2 --per-class 2 --sample-steps 2 --out "$W/demo"
    [ "$(json "$W/demo/eval.json" 'j["models"][0]["model"]')" = models/fashion-mnist-tiny ] && ok || bad "demo's parent"
fi

echo "test_models: $n_ok passed, $n_bad failed"
[ $n_bad -eq 0 ]
