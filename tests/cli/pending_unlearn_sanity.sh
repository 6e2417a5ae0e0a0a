#!/usr/bin/env bash
# PENDING, not yet in `make test` (run_all.sh runs tests/cli/test_*.sh only): its first run
# (2026-11-27) failed its own first check: the quick classifier below called 45% of the
# parent's trouser samples something else (parent UA 0.55), so "UA rises by 0.5" could not
# hold. Measured UA on that run: ga 0.97, esd 0.95, salun 1.00, vdu 0.90, spare 1.00,
# sfd 1.00, sa 0.62, finetune 0.68 (parent 0.55); bag accuracy 0.85-1.00 for all (parent
# 0.95). To do: use the full classifier (share test_eval_sanity.sh's), give sa a larger
# budget, cut the ~35 minutes it took on a busy machine; then rename it test_unlearn_sanity.sh.
#
# test_unlearn_sanity.sh: every unlearning method, on a small real run, lowers the forget
# class's accuracy while the retained classes hold (issues: unlearn "Tests", SFD "Tests"):
# assertions with margins, not prints.
#
# A parent trained on trouser, bag and sneaker (400 steps, with 3 snapshots for VDU), a
# quick evaluation classifier, each method with a small budget (its flags below), and one
# `lethe eval` of all of them (same noise for every model). retrain is not run here: the
# parent's recipe on bag and sneaker alone is what test_eval_sanity.sh's "never" model is,
# and it checks that model's UA. finetune is a baseline that is not expected to forget in a
# short run (it only stops rehearsing the class); for it only the retained classes are checked.
# Several minutes on 2 cores: the optimised build only (make test).
set -u
LETHE=${LETHE:-build/lethe}
case "$LETHE" in
    *build-san/*|*build-vg/*|*build-debug/*)
        echo "SKIP test_unlearn_sanity.sh: statistical checks run in the optimised build (make test)"; exit 0 ;;
esac
W=$(mktemp -d /tmp/lethe_usanity_XXXXXX)
[ -n "${LETHE_KEEP:-}" ] && echo "keeping $W" || trap 'rm -rf "$W"' EXIT
export LETHE_NO_PROGRESS=1
n_ok=0 n_bad=0
run() {  # NAME CMD...
    local name=$1; shift
    local t0=$SECONDS
    if "$@" >"$W/out" 2>"$W/err"; then echo "ran   $name ($((SECONDS - t0)) s)";
    else echo "FAIL  $name (exit $?)"; tail -n 20 "$W/err"; n_bad=$((n_bad + 1)); fi
}

run "classifier (quick)" $LETHE classifier --data fashion-mnist --train-images 12000 --epochs 1 --fid-images 500 --out "$W/cls"
run "parent: trouser, bag, sneaker" $LETHE train --steps 400 --batch 32 --warmup 40 --lr 2e-3 --snapshots 3 \
    --classes trouser,bag,sneaker --out "$W/orig"
UL="$LETHE unlearn --model $W/orig --forget trouser"
models="$W/orig"
unlearn() {  # METHOD FLAGS...
    local m=$1; shift
    run "$m $*" $UL --method "$m" "$@" --out "$W/$m"
    models="$models,$W/$m"
}
unlearn finetune --steps 100
unlearn ga --steps 100
unlearn esd --steps 200
unlearn salun --steps 100 --forget-images 128
unlearn sa --steps 100 --fisher-samples 16 --replay-samples 64
unlearn vdu --steps 100 --snapshots "$W/orig"
unlearn spare --steps 100 --surrogate bag
unlearn sfd --steps 100
run "lethe eval (all)" $LETHE eval --model "$models" --classifier "$W/cls" --forget trouser --n 40 --steps 10 \
    --nll-images 0 --mia-images 0 --no-fid --out "$W/e.json"

python3 - "$W/e.json" <<'PY'
import json, sys
j = json.load(open(sys.argv[1]))
ms = j["models"]
def name(m): return m.get("method") or "original"
def acc(m, c): return m["generation_accuracy"][c]
orig = ms[0]
bad = 0
print("      %-9s %6s %8s %8s" % ("model", "UA", "bag", "sneaker"))
for m in ms:
    print("      %-9s %6.2f %8.2f %8.2f" % (name(m), m["forget"]["trouser"]["ua"], acc(m, "bag"), acc(m, "sneaker")))
def check(label, cond):
    global bad
    print(("ok    " if cond else "FAIL  ") + label)
    bad += not cond
check("the parent makes trousers (UA <= 0.2)", orig["forget"]["trouser"]["ua"] <= 0.2)
for m in ms[1:]:
    n = name(m)
    if n != "finetune":
        check("%s: UA rises by at least 0.5 over the parent's" % n,
              m["forget"]["trouser"]["ua"] >= orig["forget"]["trouser"]["ua"] + 0.5)
    # retained classes hold: the better-learnt retained class within 0.25 of the parent's
    best = max(("bag", "sneaker"), key=lambda c: acc(orig, c))
    check("%s: %s accuracy holds (>= parent's - 0.25)" % (n, best), acc(m, best) >= acc(orig, best) - 0.25)
sys.exit(1 if bad else 0)
PY
rc=$?
[ $rc -eq 0 ] && [ $n_bad -eq 0 ] && echo "test_unlearn_sanity.sh: passed" || { echo "test_unlearn_sanity.sh: failed"; exit 1; }
