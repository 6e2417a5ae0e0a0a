#!/usr/bin/env bash
# concept_scaling.sh: erase k styles at once (k = 1, 5, 10, 25, 50) with each method, judge
# every result on the whole answer set, and tabulate and plot UA, IRA, CRA, FID, CLIP score
# and time against k (ScaPre's claim: its quality holds where UCE's collapses).
#
#   bench/concept_scaling.sh [--model models/fashion-canvas-tiny] [--object-classifier DIR]
#                            [--out runs/scaling] [--ks "1 5 10 25 50"] [--methods "scapre uce esd-x"]
#                            [--n 1] [--eval-args "..."] [--set METHOD="flags"]...
#
# The k styles are the first k of a fixed order that takes the families in turn (zebra, hazard,
# polka, ... then candy, barber, ...; photo, the plain style, is never erased), so every k
# spans families and a smaller set is inside every larger one. The parent's row at each k is
# computed from its own evaluation (no edit). Each method's model is OUT/kK/METHOD (reused
# when done), each evaluation OUT/eval/kK_METHOD.json (reused while the settings are unchanged);
# bench/concept_scaling.py writes OUT/table.md, OUT/scaling.tsv and the plots OUT/ua.png,
# OUT/ira.png and OUT/clip.png (build/bench/plot_tsv).
set -eu
cd "$(dirname "$0")/.."
LETHE=${LETHE:-build/lethe}
model=models/fashion-canvas-tiny obj=models/fashion-canvas-object-classifier out=runs/scaling n=1
ks="1 5 10 25 50" methods="scapre uce esd-x" eval_args=""
declare -A flags=([uce]="" [scapre]="" [esd-x]="--params conditioning")
while [ $# -gt 0 ]; do
    case $1 in
        --model) model=$2; shift 2 ;;
        --object-classifier) obj=$2; shift 2 ;;
        --out) out=$2; shift 2 ;;
        --ks) ks=$2; shift 2 ;;
        --methods) methods=$2; shift 2 ;;
        --n) n=$2; shift 2 ;;
        --eval-args) eval_args=$2; shift 2 ;;
        --set) flags[${2%%=*}]=${2#*=}; shift 2 ;;
        *) echo "concept_scaling.sh: unknown argument $1"; exit 2 ;;
    esac
done
[ -x "$LETHE" ] && [ -x "$(dirname "$LETHE")/bench/plot_tsv" ] || make -s -j2
[ -f "$obj/classifier.json" ] || { echo "concept_scaling.sh: no object judge in $obj (--object-classifier)" >&2; exit 1; }
mkdir -p "$out/eval"
settings="n=$n obj=$obj eval_args=$eval_args"
# evaluate MODEL NAME [--forget-style LIST]: OUT/eval/NAME.json, reused while settings and model are unchanged
evaluate() {
    local m=$1 name=$2; shift 2
    local part=$out/eval/$name.json
    if [ -f "$part" ] && [ "$part" -nt "$m/lethe.json" ] && [ "$(cat "$part.settings" 2>/dev/null)" = "$settings $*" ]; then
        echo "== $name: evaluated before"
        return
    fi
    echo "== evaluating $name"
    rm -f "$part.settings"
    # shellcheck disable=SC2086
    $LETHE eval --model "$m" --object-classifier "$obj" --n "$n" $eval_args "$@" --out "$part" >"${part%.json}.md"
    echo "$settings $*" >"$part.settings"
}
evaluate "$model" parent
python3 - "$out/eval/parent.json" >"$out/order.txt" <<'PY'
import json, sys
styles = json.load(open(sys.argv[1]))["models"][0]["per_style"]
fams = {}
for s in styles:
    if s["style"] != "photo":
        fams.setdefault(s["family"], []).append(s["style"])
order, i = [], 0
while len(order) < sum(len(v) for v in fams.values()):
    for f in fams.values():
        if i < len(f):
            order.append(f[i])
    i += 1
print("\n".join(order))
PY
for k in $ks; do
    list=$(head -n "$k" "$out/order.txt" | paste -sd, -)
    for m in $methods; do
        [ -n "${flags[$m]+set}" ] || { echo "concept_scaling.sh: unknown method $m"; exit 2; }
        base=$m
        [ "$m" = esd-x ] && base=esd
        d=$out/k$k/$m
        if [ -f "$d/lethe.json" ] && grep -q '"kind":.*"unlearned"' "$d/lethe.json"; then
            echo "== k=$k $m: done before"
        else
            resume=""
            [ -f "$d/unlearn_state.safetensors" ] && resume=--resume
            echo "== k=$k $m${resume:+ (resuming)}"
            # shellcheck disable=SC2086
            $LETHE unlearn --model "$model" --method "$base" --forget-style "$list" ${flags[$m]} $resume --out "$d"
        fi
        evaluate "$d" "k${k}_$m" --forget-style "$list"
    done
done
python3 bench/concept_scaling.py "$out" "$ks" "$methods"
cat "$out/table.md"
