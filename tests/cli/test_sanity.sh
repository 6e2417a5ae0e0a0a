#!/usr/bin/env bash
# test_sanity.sh: statistical checks on real Fashion-MNIST runs, assertions with margins.
#
# The evaluation instrument measures what it claims (eval issue, "Sanity built in"):
#   - the committed classifier, trained with the default settings, holds its required test
#     accuracy (92%) when re-measured (`lethe classifier --check`);
#   - FID of real test images against real training images is small, FID of noise large;
#   - UA of a model never trained on the forget class is near 100%, of a model trained on
#     it near 0% (the committed reference model and its retrain reference); bits/dim on real
#     data are finite and in the usual range;
#   - the likelihood gap: the model that never saw the forget class assigns its images
#     more bits/dim than the model that did.
# Every unlearning method, on a short run from a quick parent that saw trousers (600 steps
# on trouser, bag and sneaker), makes it forget them while the retained classes hold (unlearn
# and SFD issues, "Tests"):
#   - UA rises from the parent's (<= 0.10) to at least 0.6 for every method but finetune,
#     which only stops rehearsing the class and is not expected to forget in a short run;
#   - bag, the retained class the parent makes best (92%), stays within 0.25 of the
#     parent's accuracy for every method, and the mean accuracy over the retained classes
#     (bag, sneaker) within 0.2 of the parent's for every method but GA (below).
# CPU time per step (user + sys), measured 2026-12-08 on the 2-core Zen 3: section 1's check
# about 40 s; the reference pair's eval about 75 s; the quick parent 350 s; the eight methods
# 53-305 s each (finetune 53, ga 112, esd 156, salun 145, sa 144, vdu 305, spare 176, sfd
# 143: about 1,230 s) and their eval at n 100 330 s; section 4 about 65 s; section 5 about
# 860 s: about 49 CPU-minutes in all, against about 61 with section 1 retraining the
# classifier (the same conditions). The whole script passed 45 of 45 in 40 minutes of wall
# time with other jobs and a contended host; a second run alone (stopped after section 3)
# took 20.5 minutes for sections 1-3 (section 5 takes about 10 more). So it runs in the
# optimised build only (make test); the sanitizer and valgrind builds would take hours and
# add nothing here.
set -u
LETHE=${LETHE:-build/lethe}
case "$LETHE" in
    *build-san/*|*build-vg/*|*build-debug/*)
        echo "SKIP test_sanity.sh: statistical checks run in the optimised build (make test)"; exit 0 ;;
esac
W=$(mktemp -d /tmp/lethe_sanity_XXXXXX)
[ -n "${LETHE_KEEP:-}" ] && echo "keeping $W" || trap 'rm -rf "$W"' EXIT
export LETHE_NO_PROGRESS=1
n_ok=0 n_bad=0
check() {  # NAME PYTHON-EXPR over j (the parsed JSON file)
    local name=$1 file=$2 expr=$3
    if python3 -c "import json,sys,math; j=json.load(open(sys.argv[1])); sys.exit(0 if ($expr) else 1)" "$file"; then
        n_ok=$((n_ok + 1)); echo "ok    $name"
    else
        n_bad=$((n_bad + 1)); echo "FAIL  $name: ($expr) is false"
    fi
}
run() {  # NAME CMD...
    local name=$1; shift
    local t0=$SECONDS
    if "$@" >"$W/out" 2>"$W/err"; then echo "ran   $name ($((SECONDS - t0)) s)";
    else echo "FAIL  $name (exit $?)"; tail -n 20 "$W/err"; n_bad=$((n_bad + 1)); fi
}

# 1. the evaluation classifier every table uses (models/fashion-mnist-classifier, trained with
# the defaults: its classifier.json records the command; its weights are pinned by
# models/SHA256SUMS, test_models.sh), re-measured on the real test set. Retraining it here
# took 21 of this suite's ~61 CPU-minutes under load; the training code is exercised on real data by
# section 4's short run and by test_eval.sh
CLS=models/fashion-mnist-classifier
run "lethe classifier --check (the committed classifier)" $LETHE classifier --check $CLS --json "$W/cls_check.json"
C="$W/cls_check.json"
check "classifier test accuracy >= 92%" "$C" 'j["test_accuracy"] >= 0.92'
check "FID(real test, real train) is small" "$C" 'j["fid_test_vs_train"] < 3'
check "FID(real test, noise) is large" "$C" 'j["fid_test_vs_noise"] > 100 * j["fid_test_vs_train"]'
python3 -c "import json,sys; j=json.load(open(sys.argv[1])); print('      accuracy %.4f, FID floor %.3f, FID noise %.1f' % (j['test_accuracy'], j['fid_test_vs_train'], j['fid_test_vs_noise']))" "$C"

# 2. the committed reference model, which learnt trousers, and its retrain reference, the same
# recipe without the 6,000 training trousers (models/fashion-mnist-tiny, -no-trouser), judged
# on trouser and two classes both learnt (bag, sneaker)
REF=models/fashion-mnist-tiny NEVER=models/fashion-mnist-tiny-no-trouser
run "lethe eval (both, forget trouser)" $LETHE eval --model "$REF,$NEVER" --classifier $CLS --forget trouser \
    --classes trouser,bag,sneaker --n 50 --steps 10 --nll-images 20 --mia-images 50 --out "$W/e.json"
E="$W/e.json"
check "UA of the model that saw trousers is near 0" "$E" 'j["models"][0]["forget"]["trouser"]["ua"] <= 0.10'
check "UA of the model that never saw trousers is near 100%" "$E" 'j["models"][1]["forget"]["trouser"]["ua"] >= 0.90'
# UA near 100% must not come from a model that makes nothing recognisable: both make the
# classes they were trained on
check "both generate a trained class recognisably" "$E" \
    'all(max(m["generation_accuracy"][c] for c in ("bag", "sneaker")) >= 0.6 for m in j["models"])'
check "bits/dim finite and in the usual range (0.5, 8)" "$E" \
    'all(0.5 < v < 8 for m in j["models"] for v in m["bits_per_dim"]["per_class"].values() if v is not None)'
check "likelihood gap: never-seen trousers cost more bits/dim" "$E" \
    'j["models"][1]["bits_per_dim"]["per_class"]["trouser"] > j["models"][0]["bits_per_dim"]["per_class"]["trouser"] + 0.05'
python3 - "$E" <<'PY'
import json, sys
j = json.load(open(sys.argv[1]))
for m in j["models"]:
    b = m["bits_per_dim"]["per_class"]
    a = m["generation_accuracy"]
    print("      %-6s UA %.2f  acc bag %.2f sneaker %.2f  bits/dim trouser %.3f bag %.3f  MIA AUC %.3f  FID retained %.2f" % (
          m["model"].split("/")[-1], m["forget"]["trouser"]["ua"], a["bag"], a["sneaker"], b["trouser"], b["bag"],
          m["membership_inference"]["auc"], m["fid_lethe_cnn"]["retained"]))
PY

# 3. every unlearning method on a quick parent that saw trousers (600 steps on trouser, bag and
# sneaker), each on a short budget measured on that parent with the committed classifier
# (2026-12-08, the eval below at n 100; UA / mean kept accuracy against the parent's 0.03 /
# 0.68): finetune - / +0.005, ga 0.75 / -0.185, esd 0.88 / -0.125, salun 0.99 / -0.025,
# sa 1.00 / -0.05, vdu 0.72 / -0.055, spare 0.98 / +0.005, sfd 1.00 / +0.05. The 400-step
# parent used before made sneakers 12-20% of the time, so the kept-mean check could not see
# a method that wiped them (GA and the pinned VDU of that time took them to 0); this one makes
# 44%, and its trousers are trousers 97% of the time (400 steps: 88%)
TRAIN="$LETHE train --steps 600 --batch 32 --warmup 40 --lr 2e-3"
run "train on trouser,bag,sneaker" $TRAIN --classes trouser,bag,sneaker --out "$W/orig"
UL="$LETHE unlearn --model $W/orig --forget trouser"
models="$W/orig"
unlearn() {  # METHOD FLAGS...
    local m=$1; shift
    run "unlearn $m $*" $UL --method "$m" "$@" --out "$W/u_$m"
    models="$models,$W/u_$m"
}
unlearn finetune --steps 100
# GA, the baseline that only ascends the forget loss, wipes sneakers before it forgets
# trousers (60 steps: UA 0.37 with sneaker 0.01; 80: 0.60 / 0.01; 100: 0.75 / 0.00), as it
# wipes dress on the reference parent (docs/results.md). Its kept mean lands at -0.185 only
# because bags rise to 99%, so the kept-mean check would pass or fail by noise: GA is held to
# the bag check alone, and its sneakers are reported in the table above the checks
unlearn ga --steps 100
# ESD: 200 steps forget 42% of trousers on this parent, 300 steps 88%, 400 steps 93%
unlearn esd --steps 300
unlearn salun --steps 100 --forget-images 128
# SA at its defaults (lr 1e-4, lambda 10) barely moves in 100 steps (UA 0.2): the EWC anchor
# holds it; lr 1e-3 with lambda 1 forgets in 100 steps and keeps bags (measured 2026-11-27)
unlearn sa --steps 100 --fisher-samples 16 --replay-samples 64 --lr 1e-3 --lambda 1
# VDU at its defaults (gated, natural gradient, the Fisher anchor; 200 steps). The older
# reconstructed objective with Adam and the checkpoints' anchor (`--objective reconstructed
# --update adam --snapshots`) wipes sneakers on this parent at any budget that forgets:
# 60 steps UA 0.57 with sneaker 0.00, 100 steps 0.69 / 0.00, 130 steps 0.75 / 0.00
unlearn vdu
unlearn spare --steps 100 --surrogate bag
unlearn sfd --steps 100
run "lethe eval (the parent and every method)" $LETHE eval --model "$models" --classifier $CLS --forget trouser \
    --classes trouser,bag,sneaker --n 100 --steps 10 --no-fid --no-nll --no-mia --out "$W/u.json"
U="$W/u.json"
python3 - "$U" <<'PY'
import json, sys
j = json.load(open(sys.argv[1]))
print("      %-9s %6s %6s %8s" % ("model", "UA", "bag", "sneaker"))
for m in j["models"]:
    a = m["generation_accuracy"]
    print("      %-9s %6.2f %6.2f %8.2f" % (m.get("method") or "parent", m["forget"]["trouser"]["ua"], a["bag"], a["sneaker"]))
PY
check "the parent makes trousers (UA <= 0.10)" "$U" 'j["models"][0]["forget"]["trouser"]["ua"] <= 0.10'
for i in 1 2 3 4 5 6 7 8; do
    meth=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['models'][$i]['method'])" "$U" 2>/dev/null || echo "model $i")
    [ "$meth" != finetune ] && check "$meth: forgets trousers (UA >= 0.6)" "$U" "j['models'][$i]['forget']['trouser']['ua'] >= 0.6"
    check "$meth: keeps bags (accuracy >= the parent's - 0.25)" "$U" \
        "j['models'][$i]['generation_accuracy']['bag'] >= j['models'][0]['generation_accuracy']['bag'] - 0.25"
    [ "$meth" != ga ] && check "$meth: keeps the retained classes (mean accuracy >= the parent's - 0.2)" "$U" \
        "j['models'][$i]['retained_accuracy'] >= j['models'][0]['retained_accuracy'] - 0.2"
done

# 4. the Fashion-Canvas judges (canvas issue, "Tests"): a short real run of the object
# classifier on 8,000 training images, 2 epochs (the second in new renderings), measured
# 2026-12-06: 72.4% (10 objects; the style classifier's short run, 88.9% of 56 styles, was
# dropped for CI time: the committed style judge is checked below); and the committed judges,
# re-measured on 100 real test images in every style, hold their reported accuracy
CC="$LETHE classifier --train-images 8000 --epochs 2 --fid-images 1000"
run "lethe classifier (fashion-canvas-object, short)" $CC --data fashion-canvas-object --out "$W/co"
check "object classifier, short run: test accuracy >= 0.68" "$W/co/classifier.json" 'j["test_accuracy"] >= 0.68'
check "object classifier, short run: FID(noise) > 30 x FID floor" "$W/co/classifier.json" 'j["fid_test_vs_noise"] > 30 * j["fid_test_vs_train"]'
JUDGES="$(dirname "$LETHE")/bench/canvas_judges"
OBJ=models/fashion-canvas-object-classifier STY=models/fashion-canvas-style-classifier
[ -d "$OBJ" ] || OBJ=-   # not committed while below its 90% target (docs/canvas.md)
if [ -x "$JUDGES" ] && [ -d "$STY" ]; then
    run "canvas_judges (committed judges, 100 images per style)" "$JUDGES" "$OBJ" "$STY" 100 --json
    cp "$W/out" "$W/judges.json"
    check "committed style judge: mean accuracy over styles >= 0.97" "$W/judges.json" 'j["mean_style_accuracy"] >= 0.97'
    check "committed style judge: every style >= 0.9" "$W/judges.json" 'min(s["style_accuracy"] for s in j["styles"]) >= 0.9'
    if [ "$OBJ" != - ]; then
        check "committed object judge: mean accuracy over styles >= 0.88" "$W/judges.json" 'j["mean_object_accuracy"] >= 0.88'
        check "committed object judge: every style >= 0.6" "$W/judges.json" 'min(s["object_accuracy"] for s in j["styles"]) >= 0.6'
    fi
fi

# 5. concept unlearning on the text-to-image reference (concept issue, "Tests"): each fine-tuning
# method forgets the zebra style on a short real run while a style of another family (polka)
# and the plain style (photo) hold. Budgets as measured on 2026-12-06 (docs/results.md, the
# exploratory table: zebra's UA 90-100%, polka within 10 points, photo up): ESD-x 200 steps of
# 1 at lr 1e-4, SPARE and SalUn 100 steps of 8 at their defaults. The short object judge of
# section 4 stands in for the object judge (only style accuracy is asserted here).
T2I=models/fashion-canvas-tiny
if [ -d "$T2I" ] && [ -f "$W/co/classifier.json" ]; then
    CU="$LETHE unlearn --model $T2I --forget-style zebra"
    run "unlearn esd-x (zebra)" $CU --method esd --params conditioning --steps 200 --lr 1e-4 --out "$W/c_esdx"
    run "unlearn spare (zebra)" $CU --method spare --surrogate photo --steps 100 --batch 8 --out "$W/c_spare"
    run "unlearn salun (zebra)" $CU --method salun --steps 100 --batch 8 --out "$W/c_salun"
    run "lethe eval (text-to-image: zebra, polka, photo)" $LETHE eval --model "$T2I,$W/c_esdx,$W/c_spare,$W/c_salun" \
        --object-classifier "$W/co" --styles zebra,polka,photo --forget-style zebra --n 3 --real-per-style 0 --no-clip \
        --out "$W/c.json"
    python3 - "$W/c.json" <<'PY'
import json, sys
j = json.load(open(sys.argv[1]))
for m in j["models"]:
    acc = {s["style"]: s["style_accuracy"] for s in m["per_style"]}
    print("      %-22s UA %.2f  zebra %.2f  polka %.2f  photo %.2f" % (m["model"].split("/")[-1], m["ua"], acc["zebra"], acc["polka"], acc["photo"]))
PY
    check "t2i parent draws zebra (UA <= 0.5)" "$W/c.json" 'j["models"][0]["ua"] <= 0.5'
    for i in 1 2 3; do
        name=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['models'][$i]['model'].split('/')[-1])" "$W/c.json" 2>/dev/null)
        check "$name: forgets zebra (UA >= 0.7)" "$W/c.json" "j['models'][$i]['ua'] >= 0.7"
        for kept in polka photo; do
            check "$name: keeps $kept (style accuracy >= the parent's - 0.25)" "$W/c.json" \
                "[s for s in j['models'][$i]['per_style'] if s['style'] == '$kept'][0]['style_accuracy'] >= [s for s in j['models'][0]['per_style'] if s['style'] == '$kept'][0]['style_accuracy'] - 0.25"
        done
    done
fi

echo "test_sanity.sh: $n_ok passed, $n_bad failed"
[ $n_bad -eq 0 ]
