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
# Text-to-image checkpoints (e.g. runs/reference/fashion-canvas-tiny/checkpoints) are judged
# on the Fashion-Canvas answer set by the committed style and object judges (--n images per
# prompt, default 1 for them): style and object accuracy, the worst style, FID on each
# judge's features, CLIP score.
set -eu
cd "$(dirname "$0")/.."
LETHE=${LETHE:-build/lethe}
ckpts=runs/reference/fashion-mnist-tiny/checkpoints classifier=models/fashion-mnist-classifier n="" threads=0
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
text=0
first=$(ls -d "$ckpts"/step_* | head -1)
[ -f "$first/unet/config.json" ] && grep -q UNet2DConditionModel "$first/unet/config.json" && text=1
[ -n "$n" ] || { [ $text = 1 ] && n=1 || n=50; }
for d in $(ls -d "$ckpts"/step_* | sort -t_ -k2 -n); do
    [ -f "$d/curve_n$n.json" ] && continue
    if [ $text = 1 ]; then
        OMP_WAIT_POLICY=passive $LETHE eval --model "$d" --n "$n" --out "$d/curve_n$n.json" --threads "$threads" >/dev/null
    else
        OMP_WAIT_POLICY=passive $LETHE eval --model "$d" --classifier "$classifier" --n "$n" --no-nll --no-mia \
            --out "$d/curve_n$n.json" --threads "$threads" >/dev/null
    fi
done
python3 - "$ckpts" "$n" <<'EOF'
import json, os, sys
root, n = sys.argv[1], sys.argv[2]
steps = sorted(int(d[5:]) for d in os.listdir(root) if d.startswith("step_") and
               os.path.exists(os.path.join(root, d, f"curve_n{n}.json")))
text = bool(steps) and json.load(open(os.path.join(root, f"step_{steps[0]}", f"curve_n{n}.json"))).get("kind") == "text-to-image"
if text:
    print("| step | style accuracy | object accuracy | worst style | FID (style features) | FID (object features) | CLIP score |")
    print("|---|---|---|---|---|---|---|")
else:
    print(f"| step | mean accuracy | worst class | FID (all classes) |")
    print("|---|---|---|---|")
for s in steps:
    r = json.load(open(os.path.join(root, f"step_{s}", f"curve_n{n}.json")))
    m = r["models"][0]
    if text:
        w = min(m["per_style"], key=lambda e: e["style_accuracy"])
        print(f"| {s} | {100 * m['style_accuracy']:.1f}% | {100 * m['object_accuracy']:.1f}% | {w['style']} "
              f"{100 * w['style_accuracy']:.0f}% | {m['fid_style_features']:.1f} | {m['fid_object_features']:.1f} | "
              f"{m['clip_score']:.2f} |")
        continue
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
