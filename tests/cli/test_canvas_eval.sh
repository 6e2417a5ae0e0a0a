#!/usr/bin/env bash
# test_canvas_eval.sh: `lethe eval` on text-to-image models (the Fashion-Canvas answer set), on
# a tiny UNet2DConditionModel trained for 2 steps and a tiny object judge (the committed style
# judge and CLIP otherwise):
# - the JSON has every number, and they agree with each other: one forgotten style's UA is
#   1 - its per-style accuracy, IRA the image-weighted mean of the other styles' accuracies,
#   CRA the same for object accuracy; the Markdown table and the labelled PNG sheets are written;
# - two copies of one model (the same noise, the same weights) get identical numbers, and a
#   side-by-side sheet; --forget-object swaps the domains;
# - --styles evaluates some styles' prompts only, with the whole run's numbers for them;
# - clear errors: an unknown style or object (named), both forget flags, --classifier or
#   --forget on a text model, --forget-style on a class-conditional model, a missing judge.
set -u
LETHE=$(realpath "${LETHE:-build/lethe}")
W=$(realpath "$(mktemp -d /tmp/lethe_ceval_XXXXXX)")
trap 'rm -rf "$W"' EXIT
. "$(dirname "$0")/lib.sh"
cd "$(dirname "$0")/../.."
if [ ! -d /usr/share/datasets/fashion-mnist ]; then echo "fashion-mnist not installed: skipped"; exit 0; fi
train_tiny_t2i "$W/m"
OBJ=models/fashion-canvas-object-classifier   # the committed judge, else a tiny one
if [ ! -d $OBJ ]; then
    OBJ=$W/obj
    expect_ok "train a tiny object judge" $LETHE classifier --data fashion-canvas-object --train-images 400 --epochs 1 \
        --channels 8,16 --features 16 --fid-images 50 --threads 1 --out "$OBJ"
fi
EV="$LETHE eval --object-classifier $OBJ --n 1 --steps 1 --real-per-style 4 --threads 1"

expect_ok "eval, a style forgotten" $EV --model "$W/m" --forget-style zebra --out "$W/e.json"
grep -q "| UA % | IRA % | CRA %" "$W/out" && grep -q "zebra\*\* (forgotten)" "$W/out" && ok || bad "markdown: $(head -5 "$W/out")"
python3 - "$W/e.json" <<'PY' && ok || bad "eval JSON (style forgotten)"
import json, sys, math
j = json.load(open(sys.argv[1]))
assert j["kind"] == "text-to-image" and j["settings"]["prompts"] == 560 and j["settings"]["seeds_per_prompt"] == 1, j["settings"]
assert j["forget"] == {"domain": "style", "concepts": ["zebra"]}, j["forget"]
m = j["models"][0]
styles = m["per_style"]
assert len(styles) == 56 and len(m["per_object"]) == 10
z = [s for s in styles if s["style"] == "zebra"][0]
assert z["forgotten"] and sum(s["forgotten"] for s in styles) == 1
close = lambda a, b: abs(a - b) < 1e-9
assert close(m["ua"], 1 - z["style_accuracy"]), (m["ua"], z)
rest = [s for s in styles if not s["forgotten"]]   # 10 images each: IRA and CRA are plain means
assert close(m["ira"], sum(s["style_accuracy"] for s in rest) / 55), m["ira"]
assert close(m["cra"], sum(s["object_accuracy"] for s in rest) / 55), m["cra"]
assert close(m["forget_cross_accuracy"], z["object_accuracy"])
assert close(m["style_accuracy"], sum(s["style_accuracy"] for s in styles) / 56)
assert close(m["object_accuracy"], sum(o["object_accuracy"] for o in m["per_object"]) / 10)
for k in ("fid_style_features", "fid_object_features", "fid_style_features_retained", "clip_score", "clip_score_retained"):
    assert isinstance(m[k], float) and math.isfinite(m[k]) and m[k] >= 0, (k, m[k])
assert 0 <= m["clip_score"] <= 100 and m["ua_per_concept"]["zebra"] == m["ua"]
assert len(m["weights_sha256"]) == 64 and m["sample_images_per_s"] > 0
PY
png_size() { python3 -c "import struct,sys; d=open(sys.argv[1],'rb').read(24); print(*struct.unpack('>II', d[16:24]))" "$1"; }
[ -s "$W/e.png" ] && [ "$(png_size "$W/e.png")" = "412 1917" ] && ok || bad "sheet e.png: $(png_size "$W/e.png" 2>&1)"

# --styles: the prompts of some styles only, from the same noise as the whole answer set
# (DDIM, eta 0), so their per-style numbers are the whole run's
expect_ok "eval, two styles only" $EV --model "$W/m" --styles candy,zebra --forget-style zebra --out "$W/sub.json"
python3 - "$W/e.json" "$W/sub.json" <<'PY' && ok || bad "eval --styles: not the whole run's numbers for those styles"
import json, sys
full, sub = (json.load(open(f)) for f in sys.argv[1:3])
assert sub["settings"]["prompts"] == 20 and sub["settings"]["styles"] == ["zebra", "candy"], sub["settings"]
fm, sm = full["models"][0], sub["models"][0]
assert [s["style"] for s in sm["per_style"]] == ["zebra", "candy"]
for s in sm["per_style"]:
    f = [x for x in fm["per_style"] if x["style"] == s["style"]][0]
    assert s["style_accuracy"] == f["style_accuracy"] and s["object_accuracy"] == f["object_accuracy"], (s, f)
z = sm["per_style"][0]
assert sm["ua"] == 1 - z["style_accuracy"] and sm["ira"] == sm["per_style"][1]["style_accuracy"], sm
PY
[ "$(png_size "$W/sub.png")" = "412 81" ] && ok || bad "sheet sub.png: $(png_size "$W/sub.png" 2>&1)"
expect_fail "--forget-style outside --styles" "not among --styles" $EV --model "$W/m" --styles candy --forget-style zebra --out "$W/x.json"
expect_fail "--styles: unknown style" "unknown style 'zebbra'" $EV --model "$W/m" --styles zebbra --out "$W/x.json"

# the second evaluation runs the same code for two models: once, in the optimised build
case "$LETHE" in *build-san/*|*build-vg/*|*build-debug/*) SECOND=0 ;; *) SECOND=1 ;; esac
[ $SECOND = 1 ] && {
expect_ok "eval, two copies of one model, an object forgotten" $EV --model "$W/m,$W/m" --forget-object trouser --out "$W/two.json"
python3 - "$W/two.json" <<'PY' && ok || bad "eval JSON (two models)"
import json, sys
j = json.load(open(sys.argv[1]))
a, b = j["models"]
assert j["forget"] == {"domain": "object", "concepts": ["trouser"]}
for k in ("style_accuracy", "object_accuracy", "ua", "ira", "cra", "fid_style_features", "fid_object_features", "clip_score"):
    assert a[k] == b[k], (k, a[k], b[k])   # the same noise for every model
t = [o for o in a["per_object"] if o["object"] == "trouser"][0]
assert abs(a["ua"] - (1 - t["object_accuracy"])) < 1e-9 and t["forgotten"]
PY
for f in two_1.png two_2.png two_side_by_side.png; do [ -s "$W/$f" ] && ok || bad "no $f"; done
}

expect_fail "unknown style" "unknown style 'zebbra'" $EV --model "$W/m" --forget-style zebbra --out "$W/x.json"
expect_fail "unknown object" "unknown object 'trousers'.*ankle-boot" $EV --model "$W/m" --forget-object trousers --out "$W/x.json"
expect_fail "both domains" "not both" $EV --model "$W/m" --forget-style zebra --forget-object bag --out "$W/x.json"
expect_fail "--classifier on a text model" "style-classifier" $EV --model "$W/m" --classifier "$OBJ" --out "$W/x.json"
expect_fail "--forget on a text model" "forget-style" $EV --model "$W/m" --forget trouser --out "$W/x.json"
expect_fail "missing judge" "object judge" $LETHE eval --model "$W/m" --object-classifier "$W/none" --n 1 --out "$W/x.json"
expect_fail "a style judge as the object judge" "not a Fashion-Canvas object judge" \
    $LETHE eval --model "$W/m" --object-classifier models/fashion-canvas-style-classifier --n 1 --out "$W/x.json"
expect_fail "--forget-style on a class model" "text-to-image models" \
    $LETHE eval --model models/fashion-mnist-tiny --classifier models/fashion-mnist-classifier --forget-style zebra --out "$W/x.json"
[ ! -e "$W/x.json" ] && ok || bad "a failed eval wrote a report"

echo "test_canvas_eval.sh: $n_ok passed, $n_bad failed"
[ $n_bad -eq 0 ]
