#!/usr/bin/env bash
# quality_curve.sh: sample quality against training steps, from the EMA checkpoints that
# scripts/reference_models.sh keeps (runs/reference/NAME/checkpoints/step_K).
#
#   bench/quality_curve.sh [--checkpoints DIR] [--classifier DIR] [--n 50] [--threads N]
#
# Each checkpoint is judged once by `lethe eval` (the same seeds and noise for every
# checkpoint; no bits/dim or MIA) and the report is kept beside it (step_K/curve_nN.json),
# so the script can be run again as new checkpoints appear. Prints one Markdown row per
# checkpoint: mean generation accuracy (the share of samples the classifier judges as the
# class they were asked for), the worst class, FID over all classes (lethe-CNN features).
# An unconditional model's row gives the class fractions' spread instead of accuracy.
set -eu
cd "$(dirname "$0")/.."
LETHE=${LETHE:-build/lethe}
ckpts=runs/reference/fashion-mnist-tiny/checkpoints classifier=models/fashion-mnist-classifier n=50 threads=0
while [ $# -gt 0 ]; do
    case $1 in
        --checkpoints) ckpts=$2; shift 2 ;;
        --classifier) classifier=$2; shift 2 ;;
        --n) n=$2; shift 2 ;;
        --threads) threads=$2; shift 2 ;;
        *) echo "quality_curve.sh: unknown argument $1" >&2; exit 2 ;;
    esac
done
[ -d "$ckpts" ] || { echo "quality_curve.sh: no checkpoints in $ckpts (scripts/reference_models.sh makes them)" >&2; exit 1; }
for d in $(ls -d "$ckpts"/step_* | sort -t_ -k2 -n); do
    [ -f "$d/curve_n$n.json" ] && continue
    OMP_WAIT_POLICY=passive $LETHE eval --model "$d" --classifier "$classifier" --n "$n" --no-nll --no-mia \
        --out "$d/curve_n$n.json" --threads "$threads" >/dev/null
done
python3 - "$ckpts" "$n" <<'EOF'
import json, os, sys
root, n = sys.argv[1], sys.argv[2]
steps = sorted(int(d[5:]) for d in os.listdir(root) if d.startswith("step_") and
               os.path.exists(os.path.join(root, d, f"curve_n{n}.json")))
print(f"| step | mean accuracy | worst class | FID (all classes) |")
print("|---|---|---|---|")
for s in steps:
    r = json.load(open(os.path.join(root, f"step_{s}", f"curve_n{n}.json")))
    m = r["models"][0]
    fid = m["fid_lethe_cnn"]["all"]
    if m.get("conditional"):
        acc = m["generation_accuracy"]
        mean = sum(acc.values()) / len(acc)
        worst = min(acc, key=acc.get)
        print(f"| {s} | {100 * mean:.1f}% | {worst} {100 * acc[worst]:.1f}% | {fid:.2f} |")
    else:
        frac = m["class_fraction"]
        lo, hi = min(frac, key=frac.get), max(frac, key=frac.get)
        print(f"| {s} | unconditional: fractions {lo} {100 * frac[lo]:.1f}% .. {hi} {100 * frac[hi]:.1f}% | - | {fid:.2f} |")
EOF
