#!/usr/bin/env bash
# method_sweep.sh: one method at several settings on the same parent, judged by one `lethe
# eval` (the same noise for every variant), as the table of bench/unlearn_table.py. How the
# defaults in docs/unlearning.md are chosen (issue 15: every method at its best).
#
#   bench/method_sweep.sh --method sa --forget trouser [--model models/fashion-mnist-tiny]
#       [--classifier models/fashion-mnist-classifier] [--retrain DIR] [--n 50] [--out runs/sweep]
#       [--eval-args "--no-nll --no-mia"] 'NAME: --opt V --opt2 W' 'NAME2: ...' ...
#
# Each variant runs `lethe unlearn --method M --forget F` plus its options into
# OUT/F/M/NAME (a finished one is reused: delete it to run again); then the parent, the
# retrain model when given, and every variant are evaluated together (at most 16 models).
set -eu
cd "$(dirname "$0")/.."
LETHE=${LETHE:-build/lethe}
model=models/fashion-mnist-tiny classifier=models/fashion-mnist-classifier out=runs/sweep n=50 retrain=""
method="" forget="" eval_args="--no-nll --no-mia" variants=()
while [ $# -gt 0 ]; do
    case $1 in
        --method) method=$2; shift 2 ;;
        --forget) forget=$2; shift 2 ;;
        --model) model=$2; shift 2 ;;
        --classifier) classifier=$2; shift 2 ;;
        --retrain) retrain=$2; shift 2 ;;
        --n) n=$2; shift 2 ;;
        --out) out=$2; shift 2 ;;
        --eval-args) eval_args=$2; shift 2 ;;
        -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
        -*) echo "method_sweep.sh: unknown option $1" >&2; exit 2 ;;
        *) variants+=("$1"); shift ;;
    esac
done
[ -n "$method" ] && [ -n "$forget" ] && [ ${#variants[@]} -gt 0 ] || { sed -n '2,13p' "$0"; exit 2; }
[ -x "$LETHE" ] || make -s -j2
dir=$out/$forget/$method
mkdir -p "$dir"
models=$model
[ -n "$retrain" ] && models="$models,$retrain"
for v in "${variants[@]}"; do
    name=${v%%:*} opts=${v#*:}
    [ "$name" != "$v" ] || { echo "method_sweep.sh: a variant is 'NAME: options' (got '$v')" >&2; exit 2; }
    if [ -f "$dir/$name/lethe.json" ]; then
        echo "== $method $name: done before, reusing $dir/$name"
    else
        echo "== $method $name:$opts"
        # shellcheck disable=SC2086
        OMP_WAIT_POLICY=passive $LETHE unlearn --model "$model" --method "$method" --forget "$forget" $opts --out "$dir/$name"
    fi
    models="$models,$dir/$name"
done
echo "== evaluating $models"
# shellcheck disable=SC2086
$LETHE eval --model "$models" --classifier "$classifier" --forget "$forget" --n "$n" $eval_args --out "$dir/eval.json" >"$dir/eval.md"
python3 bench/unlearn_table.py "$dir/eval.json" "$forget" --names >"$dir/table.md"
cat "$dir/table.md"
