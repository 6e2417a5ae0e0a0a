#!/usr/bin/env bash
# unlearn_table.sh: every unlearning method on the same trained model, judged by one
# `lethe eval` call (same seeds and noise for every model), as one Markdown table.
#
#   bench/unlearn_table.sh --forget trouser [--model models/fashion-mnist-tiny]
#                          [--classifier models/fashion-mnist-classifier] [--retrain DIR]
#                          [--out runs/bench] [--methods "retrain finetune ga ..."] [--n 500]
#                          [--snapshots DIR] [--eval-args "..."] [--mia-images 1000] [--skip-eval]
#                          [--jobs N]
#
# --jobs N: N streams of work at once, each on CPU/N threads (default 1: one thing at a time
# on every thread). One stream runs the methods one after another while the others evaluate
# the parent and the retrain reference, then each method's model as soon as it is made. On 2
# cores two one-thread streams finish sooner than one two-thread stream after another (no
# OpenMP barrier per op); the numbers do not change: every sample's noise is keyed by
# (class, index).
# --mia-images: training and test images of the forget class for the membership AUC (default
# 1000: its standard error is then about 0.013; at eval's own default of 100 it is 0.041,
# twice the goal's 0.02 window).
# The parent and the classifier default to the committed reference models (models/).
# --retrain DIR: the parent's own recipe without the forget class, trained separately
# (scripts/reference_models.sh fashion-mnist-tiny-no-trouser: runs/reference/fashion-mnist-tiny-no-trouser); it is judged second and is
# the cost and MIA reference (the `retrain` method is then not run). Each method runs with its defaults (the budgets are in
# the table; ESD's default batch is 1, its own, since every image costs a guided DDIM chain).
# esd-x is ESD on the conditioning weights only (the ESD paper's ESD-x; lethe's class
# embedding): `esd --params conditioning --lr 1e-2 --steps 250`, the setting chosen in
# docs/unlearning.md.
# VDU runs at its defaults (gated, natural gradient, the Fisher anchor: data-free); with the
# parent's own snapshots (`lethe demo` keeps 5 in MODEL/snapshots), --snapshots DIR (from
# `lethe train --snapshots K`) or VDU_CHECKPOINTS its anchor is the checkpoints' instead.
# Writes OUT/FORGET/table.md, OUT/FORGET/eval.json (and eval/NAME.json, one per model: a
# stopped evaluation resumes where it stopped) and OUT/FORGET/grids.png (forget-class row of
# every model).
set -eu
cd "$(dirname "$0")/.."
LETHE=${LETHE:-build/lethe}
model=models/fashion-mnist-tiny classifier=models/fashion-mnist-classifier out=runs/bench forget=trouser n=500
snapshots="" eval_args="" skip_eval=0 retrain="" mia=1000 jobs=1
methods="retrain finetune ga esd esd-x salun sa vdu spare sfd"
surrogate=""   # SPARE's: dress, or coat when forgetting dress (as lethe demo; docs/unlearning.md)
while [ $# -gt 0 ]; do
    case $1 in
        --model) model=$2; shift 2 ;;
        --retrain) retrain=$2; shift 2 ;;
        --classifier) classifier=$2; shift 2 ;;
        --out) out=$2; shift 2 ;;
        --forget) forget=$2; shift 2 ;;
        --methods) methods=$2; shift 2 ;;
        --n) n=$2; shift 2 ;;
        --snapshots) snapshots=$2; shift 2 ;;
        --surrogate) surrogate=$2; shift 2 ;;
        --eval-args) eval_args=$2; shift 2 ;;
        --mia-images) mia=$2; shift 2 ;;
        --jobs) jobs=$2; shift 2 ;;
        --skip-eval) skip_eval=1; shift ;;   # run the methods only (evaluate later, all at once)
        *) echo "unlearn_table.sh: unknown argument $1"; exit 2 ;;
    esac
done
case $jobs in ''|*[!0-9]*|0) echo "unlearn_table.sh: --jobs wants a positive integer (got '$jobs')" >&2; exit 2 ;; esac
[ -n "$surrogate" ] || case $forget in dress|3) surrogate=coat ;; *) surrogate=dress ;; esac
[ -x "$LETHE" ] || make -s -j2
[ -d "$model/unet" ] || { echo "unlearn_table.sh: no model in $model" >&2; exit 1; }
[ -f "$classifier/classifier.json" ] || { echo "unlearn_table.sh: no classifier in $classifier" >&2; exit 1; }
dir=$out/$forget
mkdir -p "$dir"
available=$($LETHE unlearn --help 2>&1 | sed -n 's/^  --method S *\(.*\) (required).*/\1/p' | tr -d ',')
models="$model"
if [ -n "$retrain" ]; then
    [ -d "$retrain/unet" ] || { echo "unlearn_table.sh: no model in $retrain" >&2; exit 1; }
    models="$models,$retrain"
    methods=$(echo " $methods " | sed 's/ retrain / /')
fi
threads_each=$(( $(nproc) / jobs )); [ "$threads_each" -ge 1 ] || threads_each=1
# run_method M [THREADS]: unlearns into $dir/M (reused when done before; resumed when stopped)
run_method() {
    local m=$1 threads=${2:-0} base=$1 extra="" resume=""
    [ "$m" = esd-x ] && base=esd extra="--params conditioning --lr 1e-2 --steps 250"
    case $m in
        spare) extra="--surrogate $surrogate" ;;
        vdu)
            [ -z "$snapshots" ] && [ -f "$model/snapshots/snapshots.json" ] && snapshots=$model   # `lethe demo` keeps 5
            if [ -n "$snapshots" ]; then extra="--snapshots $snapshots"
            elif [ -n "${VDU_CHECKPOINTS:-}" ]; then extra="--checkpoints $VDU_CHECKPOINTS"
            fi ;;   # neither: VDU's default anchor, the Fisher of the parent's own samples
    esac
    if [ -f "$dir/$m/lethe.json" ] && grep -q '"kind":.*"unlearned"' "$dir/$m/lethe.json"; then
        echo "== $m: done before, reusing $dir/$m"
        return 0
    fi
    [ -f "$dir/$m/unlearn_state.safetensors" ] && resume=--resume   # a method stopped part-way continues
    echo "== $m${resume:+ (resuming)}"
    $LETHE unlearn --model "$model" --method "$base" --forget "$forget" $extra $resume --threads "$threads" --out "$dir/$m"
}
run=()   # the methods this build has, in the table's order
for m in $methods; do
    base=$m; [ "$m" = esd-x ] && base=esd
    case " $available " in *" $base "*) run+=("$m"); models="$models,$dir/$m" ;;
        *) echo "== $m: not available in this build, skipped" ;; esac
done
# --jobs N > 1: the methods run one after another as one of the N streams (CPU/N threads)
# while the parent and the retrain reference are evaluated, and each method's model is
# evaluated as soon as it is made (OUT/FORGET/eval/NAME.ready marks it made)
pipelined=0
[ "$jobs" -gt 1 ] && [ $skip_eval = 0 ] && pipelined=1
mkdir -p "$dir/eval"
runner=""
if [ $pipelined = 1 ]; then
    rm -f "$dir"/eval/*.ready
    ( for m in "${run[@]}"; do run_method "$m" "$threads_each" && touch "$dir/eval/$m.ready" || exit 1; done ) &
    runner=$!
else
    for m in "${run[@]}"; do run_method "$m"; done
fi
[ $skip_eval = 1 ] && { echo "== methods done; evaluation skipped (--skip-eval)"; exit 0; }
# One `lethe eval` per model, into OUT/FORGET/eval/NAME.json (with its .md and .png), so a long
# evaluation (500 per class: about 10 minutes a model on 2 cores) resumes model by model; a
# model evaluated before with the same settings, and not changed since, is reused. The noise
# is keyed by (class, index), so a model's numbers do not depend on the others in the call;
# bench/merge_eval.py joins the reports as one call would have written them.
echo "== evaluating $models"
mkdir -p "$dir/eval"
settings="n=$n classifier=$classifier forget=$forget eval_args=$eval_args"
[ "$mia" = 100 ] || settings="$settings mia=$mia"   # 100: eval's default, as before the flag
# evaluate MODEL PART THREADS: one model's report, its settings written last (a stopped
# evaluation is redone, never reused half-written)
evaluate() {
    $LETHE eval --model "$1" --classifier "$classifier" --forget "$forget" --n "$n" --mia-images "$mia" \
        --threads "$3" $eval_args --out "$2" >"${2%.json}.md" || return 1
    echo "$settings" >"$2.settings"
}
failed=0
parts=()
IFS=, read -ra listed <<<"$models"
for k in "${!listed[@]}"; do
    m=${listed[$k]} key=$(basename "${listed[$k]}")
    [ "$k" = 0 ] && key=parent
    [ -n "$retrain" ] && [ "$m" = "$retrain" ] && key=retrain
    part=$dir/eval/$key.json
    if [ $pipelined = 1 ] && [ "$k" -ge "$(( ${#listed[@]} - ${#run[@]} ))" ]; then   # a method's model: wait until made
        while [ ! -f "$dir/eval/$key.ready" ] && jobs -rp | grep -qx "$runner"; do sleep 5; done
        [ -f "$dir/eval/$key.ready" ] || { echo "== $key: its unlearning run failed, not evaluated" >&2; failed=1; continue; }
    fi
    if [ -f "$part" ] && [ "$part" -nt "$m/lethe.json" ] && [ "$(cat "$part.settings" 2>/dev/null)" = "$settings" ]; then
        echo "== $key: evaluated before, reusing $part"
    else
        rm -f "$part.settings"
        if [ "$jobs" = 1 ]; then
            echo "== evaluating $key ($m)"
            evaluate "$m" "$part" 0
        else
            while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do wait -n || failed=1; done
            echo "== evaluating $key ($m)"
            evaluate "$m" "$part" "$threads_each" &
        fi
    fi
    parts+=("$part")
done
while [ "$(jobs -rp | wc -l)" -gt 0 ]; do wait -n || failed=1; done
[ "$failed" = 0 ] || { echo "unlearn_table.sh: an evaluation failed (its .md in $dir/eval says why)" >&2; exit 1; }
python3 bench/merge_eval.py "$dir/eval.json" "${parts[@]}"
python3 bench/unlearn_table.py "$dir/eval.json" "$forget" >"$dir/table.md"
cat "$dir/table.md"
