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
# How it runs: every run is queued as a job and a pool runs two at once on one thread each
# (below); the checks read their outputs afterwards. Measured 2026-12-08 on the 2-core AMD EPYC
# Zen 4 (family 25 model 17), nothing else running, CPU seconds (user + sys) per job: section
# 1's check 18; the reference pair's eval 39; the quick parent 202; the eight methods 33-149
# (finetune 33, ga 67, esd 79, salun 84, sa 82, vdu 149, spare 93, sfd 76: 663) and their eval
# at n 100, two threads, 226; section 4: 35; section 5: ESD-x 125, SPARE 76, SalUn 81, the eval
# 156. In all 1,621 CPU-s; the script took 14.0 minutes of wall time.
# One job on two threads is slower per CPU-second: the same ESD-x run took 192 CPU-s and 98 s
# on two threads (OpenMP's default wait policy) against 125 CPU-s and 125 s on one. It runs in the optimised build only
# (make test); the sanitizer and valgrind builds would take hours and add nothing here.
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
# The runs go through a pool: `job NAME AFTER THREADS CMD...` queues a command that starts
# once the jobs named in AFTER (space-separated, "" for none) have succeeded; run_jobs runs the
# queue two at a time, in queue order among the ready ones, with THREADS OpenMP threads each,
# and prints a line per job as it ends (wall and CPU seconds). Two one-thread runs keep both
# cores busy; one two-thread run keeps about 82% of them (session 20: 33.8 CPU-minutes in 20.5
# minutes of wall time), so most jobs take one thread. A job whose prerequisite failed is
# reported and not run. Each job's stdout and stderr are $W/NAME.out and $W/NAME.err.
jn=() ja=() jt=() jc=()
declare -A jstate
job() {  # NAME AFTER THREADS CMD...
    local name=$1 after=$2 threads=$3; shift 3
    jn+=("$name"); ja+=("$after"); jt+=("$threads"); jc+=("$(printf '%q ' "$@")")
    jstate[$name]=pending
}
run_jobs() {
    local n=${#jn[@]} i d running=0 ready rc secs cpu
    while :; do
        for ((i = 0; i < n; i++)); do   # the jobs that ended
            [ "${jstate[${jn[i]}]}" = running ] && [ -f "$W/${jn[i]}.rc" ] || continue
            read -r rc secs cpu <"$W/${jn[i]}.rc"
            running=$((running - 1))
            if [ "$rc" = 0 ]; then
                jstate[${jn[i]}]=ok; echo "ran   ${jn[i]} ($secs s, $cpu CPU-s)"
            else
                jstate[${jn[i]}]=failed; n_bad=$((n_bad + 1)); echo "FAIL  ${jn[i]} (exit $rc)"
                tail -n 20 "$W/${jn[i]}.err"
            fi
        done
        for ((i = 0; i < n && running < 2; i++)); do   # start the ready ones
            [ "${jstate[${jn[i]}]}" = pending ] || continue
            ready=1
            for d in ${ja[i]}; do
                case ${jstate[$d]} in
                    ok) ;;
                    failed|skipped) ready=skip ;;
                    *) [ $ready = skip ] || ready=0 ;;
                esac
            done
            if [ $ready = skip ]; then
                jstate[${jn[i]}]=skipped; n_bad=$((n_bad + 1)); echo "FAIL  ${jn[i]} (not run: a prerequisite failed)"
                i=-1; continue   # a skip may unblock nothing, but rescan from the top
            fi
            [ $ready = 1 ] || continue
            jstate[${jn[i]}]=running; running=$((running + 1))
            (
                t0=$SECONDS
                OMP_NUM_THREADS=${jt[i]} bash -c "${jc[i]}" >"$W/${jn[i]}.out" 2>"$W/${jn[i]}.err"
                rc=$?
                # this subshell's children: user and system seconds (the second line of `times`)
                times >"$W/${jn[i]}.times"   # (a builtin in a pipe would time its own subshell)
                cpu=$(tail -n 1 "$W/${jn[i]}.times" | awk '{ split($1, u, /[ms]/); split($2, s, /[ms]/); printf "%.0f", u[1] * 60 + u[2] + s[1] * 60 + s[2] }')
                echo "$rc $((SECONDS - t0)) $cpu" >"$W/${jn[i]}.rc.tmp" && mv "$W/${jn[i]}.rc.tmp" "$W/${jn[i]}.rc"
            ) &
        done
        [ $running -eq 0 ] && break
        wait -n 2>/dev/null || sleep 0.5
    done
}

# ---- the runs ---------------------------------------------------------------------------------
# Queued in the order the pool should start them: the longest chain first (the quick parent,
# then its eight methods), the independent runs beside it, the two evaluations of many models
# last.

# 1. the evaluation classifier every table uses (models/fashion-mnist-classifier, trained with
# the defaults: its classifier.json records the command; its weights are pinned by
# models/SHA256SUMS, test_models.sh), re-measured on the real test set. Retraining it here
# took 21 of this suite's ~61 CPU-minutes under load; the training code is exercised on real data by
# section 4's short run and by test_eval.sh
CLS=models/fashion-mnist-classifier

# 3. every unlearning method on a quick parent that saw trousers (600 steps on trouser, bag and
# sneaker), each on a short budget measured on that parent with the committed classifier
# (2026-12-08, the eval below at n 100; UA / mean kept accuracy against the parent's 0.03 /
# 0.68): finetune - / +0.005, ga 0.75 / -0.185, esd 0.88 / -0.125, salun 0.99 / -0.025,
# sa 1.00 / -0.05, vdu 0.72 / -0.055, spare 0.98 / +0.005, sfd 1.00 / +0.05. The 400-step
# parent used before made sneakers 12-20% of the time, so the kept-mean check could not see
# a method that wiped them (GA and the pinned VDU of that time took them to 0); this one makes
# 44%, and its trousers are trousers 97% of the time (400 steps: 88%)
job parent "" 1 $LETHE train --steps 600 --batch 32 --warmup 40 --lr 2e-3 --classes trouser,bag,sneaker --out "$W/orig"

# 5. concept unlearning on the text-to-image reference (concept issue, "Tests"): each fine-tuning
# method forgets the zebra style on a short real run while a style of another family (polka)
# and the plain style (photo) hold. Budgets as measured on 2026-12-06 (docs/results.md, the
# exploratory table: zebra's UA 90-100%, polka within 10 points, photo up): ESD-x 200 steps of
# 1 at lr 1e-4, SPARE and SalUn 100 steps of 8 at their defaults. The short object judge of
# section 4 stands in for the object judge (only style accuracy is asserted here).
T2I=models/fashion-canvas-tiny
CU="$LETHE unlearn --model $T2I --forget-style zebra"
if [ -d "$T2I" ]; then
    job c_esdx "" 1 $CU --method esd --params conditioning --steps 200 --lr 1e-4 --out "$W/c_esdx"
fi

# 2. the committed reference model, which learnt trousers, and its retrain reference, the same
# recipe without the 6,000 training trousers (models/fashion-mnist-tiny, -no-trouser), judged
# on trouser and two classes both learnt (bag, sneaker)
REF=models/fashion-mnist-tiny NEVER=models/fashion-mnist-tiny-no-trouser
job reference_eval "" 1 $LETHE eval --model "$REF,$NEVER" --classifier $CLS --forget trouser \
    --classes trouser,bag,sneaker --n 50 --steps 10 --nll-images 20 --mia-images 50 --out "$W/e.json"
job classifier_check "" 1 $LETHE classifier --check $CLS --json "$W/cls_check.json"

# 4. the Fashion-Canvas judges (canvas issue, "Tests"): a short real run of the object
# classifier on 8,000 training images, 2 epochs (the second in new renderings), measured
# 2026-12-06: 72.4% (10 objects; the style classifier's short run, 88.9% of 56 styles, was
# dropped for CI time: the committed style judge is checked below); and the committed judges,
# re-measured on 100 real test images in every style, hold their reported accuracy
job object_classifier "" 1 $LETHE classifier --train-images 8000 --epochs 2 --fid-images 1000 \
    --data fashion-canvas-object --out "$W/co"
JUDGES="$(dirname "$LETHE")/bench/canvas_judges"
OBJ=models/fashion-canvas-object-classifier STY=models/fashion-canvas-style-classifier
[ -d "$OBJ" ] || OBJ=-   # not committed while below its 90% target (docs/canvas.md)
if [ -x "$JUDGES" ] && [ -d "$STY" ]; then
    job canvas_judges "" 1 "$JUDGES" "$OBJ" "$STY" 100 --json
fi

# 3's methods
UL="$LETHE unlearn --model $W/orig --forget trouser"
methods="finetune ga esd salun sa vdu spare sfd"   # the order of the models in 3's evaluation
# VDU at its defaults (gated, natural gradient, the Fisher anchor; 200 steps). The older
# reconstructed objective with Adam and the checkpoints' anchor (`--objective reconstructed
# --update adam --snapshots`) wipes sneakers on this parent at any budget that forgets:
# 60 steps UA 0.57 with sneaker 0.00, 100 steps 0.69 / 0.00, 130 steps 0.75 / 0.00
job u_vdu parent 1 $UL --method vdu --out "$W/u_vdu"
job u_spare parent 1 $UL --method spare --steps 100 --surrogate bag --out "$W/u_spare"
# ESD: 200 steps forget 42% of trousers on this parent, 300 steps 88%, 400 steps 93%
job u_esd parent 1 $UL --method esd --steps 300 --out "$W/u_esd"
job u_salun parent 1 $UL --method salun --steps 100 --forget-images 128 --out "$W/u_salun"
# SA at its defaults (lr 1e-4, lambda 10) barely moves in 100 steps (UA 0.2): the EWC anchor
# holds it; lr 1e-3 with lambda 1 forgets in 100 steps and keeps bags (measured 2026-11-27)
job u_sa parent 1 $UL --method sa --steps 100 --fisher-samples 16 --replay-samples 64 --lr 1e-3 --lambda 1 --out "$W/u_sa"
job u_sfd parent 1 $UL --method sfd --steps 100 --out "$W/u_sfd"
# GA, the baseline that only ascends the forget loss, wipes sneakers before it forgets
# trousers (60 steps: UA 0.37 with sneaker 0.01; 80: 0.60 / 0.01; 100: 0.75 / 0.00), as it
# wipes dress on the reference parent (docs/results.md). Its kept mean lands at -0.185 only
# because bags rise to 99%, so the kept-mean check would pass or fail by noise: GA is held to
# the bag check alone, and its sneakers are reported in the table above the checks
job u_ga parent 1 $UL --method ga --steps 100 --out "$W/u_ga"
job u_finetune parent 1 $UL --method finetune --steps 100 --out "$W/u_finetune"

if [ -d "$T2I" ]; then
    job c_spare "" 1 $CU --method spare --surrogate photo --steps 100 --batch 8 --out "$W/c_spare"
    job c_salun "" 1 $CU --method salun --steps 100 --batch 8 --out "$W/c_salun"
    job c_eval "object_classifier c_esdx c_spare c_salun" 1 $LETHE eval --model "$T2I,$W/c_esdx,$W/c_spare,$W/c_salun" \
        --object-classifier "$W/co" --styles zebra,polka,photo --forget-style zebra --n 3 --real-per-style 0 --no-clip \
        --out "$W/c.json"
fi
models="$W/orig" after=""
for m in $methods; do models="$models,$W/u_$m"; after="$after u_$m"; done
# the last job: two threads (it often runs alone at the end)
job methods_eval "$after" 2 $LETHE eval --model "$models" --classifier $CLS --forget trouser \
    --classes trouser,bag,sneaker --n 100 --steps 10 --no-fid --no-nll --no-mia --out "$W/u.json"

run_jobs

# ---- the checks -------------------------------------------------------------------------------
# 1.
C="$W/cls_check.json"
if [ -f "$C" ]; then
    check "classifier test accuracy >= 92%" "$C" 'j["test_accuracy"] >= 0.92'
    check "FID(real test, real train) is small" "$C" 'j["fid_test_vs_train"] < 3'
    check "FID(real test, noise) is large" "$C" 'j["fid_test_vs_noise"] > 100 * j["fid_test_vs_train"]'
    python3 -c "import json,sys; j=json.load(open(sys.argv[1])); print('      accuracy %.4f, FID floor %.3f, FID noise %.1f' % (j['test_accuracy'], j['fid_test_vs_train'], j['fid_test_vs_noise']))" "$C"
fi

# 2.
E="$W/e.json"
if [ -f "$E" ]; then
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
fi

# 3.
U="$W/u.json"
if [ -f "$U" ]; then
    python3 - "$U" <<'PY'
import json, sys
j = json.load(open(sys.argv[1]))
print("      %-9s %6s %6s %8s" % ("model", "UA", "bag", "sneaker"))
for m in j["models"]:
    a = m["generation_accuracy"]
    print("      %-9s %6.2f %6.2f %8.2f" % (m.get("method") or "parent", m["forget"]["trouser"]["ua"], a["bag"], a["sneaker"]))
PY
    check "the parent makes trousers (UA <= 0.10)" "$U" 'j["models"][0]["forget"]["trouser"]["ua"] <= 0.10'
    i=0
    for meth in $methods; do
        i=$((i + 1))
        check "$meth: it is the model evaluated" "$U" "j['models'][$i]['method'] == '$meth'"
        [ "$meth" != finetune ] && check "$meth: forgets trousers (UA >= 0.6)" "$U" "j['models'][$i]['forget']['trouser']['ua'] >= 0.6"
        check "$meth: keeps bags (accuracy >= the parent's - 0.25)" "$U" \
            "j['models'][$i]['generation_accuracy']['bag'] >= j['models'][0]['generation_accuracy']['bag'] - 0.25"
        [ "$meth" != ga ] && check "$meth: keeps the retained classes (mean accuracy >= the parent's - 0.2)" "$U" \
            "j['models'][$i]['retained_accuracy'] >= j['models'][0]['retained_accuracy'] - 0.2"
    done
fi

# 4.
if [ -f "$W/co/classifier.json" ]; then
    check "object classifier, short run: test accuracy >= 0.68" "$W/co/classifier.json" 'j["test_accuracy"] >= 0.68'
    check "object classifier, short run: FID(noise) > 30 x FID floor" "$W/co/classifier.json" 'j["fid_test_vs_noise"] > 30 * j["fid_test_vs_train"]'
fi
if [ "${jstate[canvas_judges]:-}" = ok ]; then
    cp "$W/canvas_judges.out" "$W/judges.json"
    check "committed style judge: mean accuracy over styles >= 0.97" "$W/judges.json" 'j["mean_style_accuracy"] >= 0.97'
    check "committed style judge: every style >= 0.9" "$W/judges.json" 'min(s["style_accuracy"] for s in j["styles"]) >= 0.9'
    if [ "$OBJ" != - ]; then
        check "committed object judge: mean accuracy over styles >= 0.88" "$W/judges.json" 'j["mean_object_accuracy"] >= 0.88'
        check "committed object judge: every style >= 0.6" "$W/judges.json" 'min(s["object_accuracy"] for s in j["styles"]) >= 0.6'
    fi
fi

# 5.
if [ -f "$W/c.json" ]; then
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
