#!/usr/bin/env bash
# concept_table.sh: every concept-unlearning method on the same text-to-image model, judged on
# the same answer set (`lethe eval`: the same x_T for every model), as one Markdown table.
#
#   bench/concept_table.sh --forget-style zebra | --forget-object trouser
#                          [--model models/fashion-canvas-tiny] [--object-classifier DIR]
#                          [--out runs/concepts] [--methods "uce scapre esd-x ..."] [--n 1]
#                          [--eval-args "--styles ..."] [--set METHOD="flags"]... [--seeds "0 1 2"] [--skip-eval]
#
# Methods and their flags (docs/unlearning.md; --set METHOD="..." replaces a method's flags):
#   uce, scapre   the closed forms (no flags: their defaults)
#   esd-x         esd --params conditioning (cross-attention only: ESD's setting for styles)
#   esd-u         esd --params non-conditioning (every other weight: ESD's setting for objects)
#   finetune, ga, salun, sa, vdu (--anchor-precision fisher: no checkpoints needed), sfd
#   spare         --surrogate photo (the plain style; for an object, --set spare="--surrogate OBJ")
# Each method writes OUT/CONCEPT/METHOD (a method done before is reused; a stopped one resumes);
# each model is evaluated into OUT/CONCEPT/eval/METHOD.json (reused while the model and the
# settings are unchanged), and bench/concept_table.py writes OUT/CONCEPT/table.md. --seeds: one
# evaluation per noise seed (eval --seed; METHOD_sS.json) and the table's numbers as mean +- sd.
set -eu
cd "$(dirname "$0")/.."
LETHE=${LETHE:-build/lethe}
model=models/fashion-canvas-tiny obj=models/fashion-canvas-object-classifier out=runs/concepts n=1
methods="uce scapre esd-x esd-u finetune ga salun sa vdu spare sfd"
domain="" concept="" eval_args="" skip_eval=0 seeds=""
declare -A flags=([uce]="" [scapre]="" [esd-x]="--params conditioning" [esd-u]="--params non-conditioning"
                  [finetune]="" [ga]="" [salun]="" [sa]="" [vdu]="--anchor-precision fisher" [spare]="--surrogate photo" [sfd]="")
while [ $# -gt 0 ]; do
    case $1 in
        --forget-style) domain=style concept=$2; shift 2 ;;
        --forget-object) domain=object concept=$2; shift 2 ;;
        --model) model=$2; shift 2 ;;
        --object-classifier) obj=$2; shift 2 ;;
        --out) out=$2; shift 2 ;;
        --methods) methods=$2; shift 2 ;;
        --n) n=$2; shift 2 ;;
        --eval-args) eval_args=$2; shift 2 ;;
        --set) flags[${2%%=*}]=${2#*=}; shift 2 ;;
        --skip-eval) skip_eval=1; shift ;;
        --seeds) seeds=$2; shift 2 ;;
        *) echo "concept_table.sh: unknown argument $1"; exit 2 ;;
    esac
done
[ -n "$concept" ] || { echo "concept_table.sh: give --forget-style S or --forget-object O"; exit 2; }
[ -x "$LETHE" ] || make -s -j2
[ -d "$model/unet" ] || { echo "concept_table.sh: no model in $model" >&2; exit 1; }
[ -f "$obj/classifier.json" ] || { echo "concept_table.sh: no object judge in $obj (--object-classifier)" >&2; exit 1; }
dir=$out/$concept
mkdir -p "$dir/eval"
models=("$model") names=(parent)
for m in $methods; do
    [ -n "${flags[$m]+set}" ] || { echo "concept_table.sh: unknown method $m"; exit 2; }
    base=$m
    case $m in esd-x|esd-u) base=esd ;; esac
    if [ -f "$dir/$m/lethe.json" ] && grep -q '"kind":.*"unlearned"' "$dir/$m/lethe.json"; then
        echo "== $m: done before, reusing $dir/$m"
    else
        resume=""
        [ -f "$dir/$m/unlearn_state.safetensors" ] && resume=--resume
        echo "== $m${resume:+ (resuming)}: ${flags[$m]}"
        # shellcheck disable=SC2086
        $LETHE unlearn --model "$model" --method "$base" --forget-$domain "$concept" ${flags[$m]} $resume --out "$dir/$m"
    fi
    models+=("$dir/$m") names+=("$m")
done
[ $skip_eval = 1 ] && { echo "== methods done; evaluation skipped (--skip-eval)"; exit 0; }
parts=()
for seed in ${seeds:-default}; do
    seed_arg="" suffix=""
    [ "$seed" != default ] && seed_arg="--seed $seed" suffix=_s$seed
    settings="n=$n obj=$obj forget=$domain:$concept eval_args=$eval_args $seed_arg"
    for k in "${!models[@]}"; do
        m=${models[$k]} part=$dir/eval/${names[$k]}$suffix.json
        if [ -f "$part" ] && [ "$part" -nt "$m/lethe.json" ] && [ "$(cat "$part.settings" 2>/dev/null)" = "$settings" ]; then
            echo "== ${names[$k]}$suffix: evaluated before, reusing $part"
        else
            echo "== evaluating ${names[$k]}$suffix ($m)"
            rm -f "$part.settings"
            # shellcheck disable=SC2086
            $LETHE eval --model "$m" --forget-$domain "$concept" --object-classifier "$obj" --n "$n" $eval_args $seed_arg \
                --out "$part" >"${part%.json}.md"
            echo "$settings" >"$part.settings"
        fi
        parts+=("$part")
    done
done
python3 bench/concept_table.py "$dir/table.md" "${parts[@]}"
cat "$dir/table.md"
