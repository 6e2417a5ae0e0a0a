#!/usr/bin/env bash
# behaviour_hashes.sh LETHE WORKDIR: runs train, sample, every unlearning method, the
# classifier and eval on small budgets and prints the SHA-256 of what they produce (weights,
# samples, eval JSON without wall times and paths). Run it on two builds and diff the
# outputs to show a refactor changed no behaviour.
set -eu
L=${1:?lethe binary}; W=${2:?work folder}
mkdir -p "$W"; export LETHE_NO_PROGRESS=1
T="--threads 2"
h() { sha256sum "$1" | cut -d" " -f1; }
w() { echo "$1 $(h "$2/unet/diffusion_pytorch_model.safetensors")"; }
$L train --steps 24 --batch 8 --warmup 4 --log-every 4 --snapshots 2 $T --out "$W/parent" >/dev/null 2>&1
w train "$W/parent"
$L sample --model "$W/parent" --class all --n 2 --steps 8 $T --npy "$W/s.npy" --out "$W/s.png" >/dev/null 2>&1
echo "sample_ddim $(h "$W/s.npy")"
$L sample --model "$W/parent" --class bag --n 3 --sampler ddpm --steps 10 $T --npy "$W/d.npy" --out "$W/d.png" >/dev/null 2>&1
echo "sample_ddpm $(h "$W/d.npy")"
UL="$L unlearn --model $W/parent --forget trouser --batch 4 --steps 3 $T"
for m in retrain finetune ga esd salun sa vdu spare sfd; do
    extra=""
    case $m in
        spare) extra="--surrogate sneaker" ;;
        vdu) extra="--snapshots $W/parent" ;;
        sa) extra="--fisher-samples 2 --replay-samples 4" ;;
        salun) extra="--forget-images 8" ;;
        esd) extra="--batch 1" ;;
    esac
    $UL --method $m $extra --out "$W/u_$m" >/dev/null 2>&1
    w "unlearn_$m" "$W/u_$m"
done
$L sample --model "$W/u_sfd" --class all --n 2 $T --npy "$W/g.npy" --out "$W/g.png" >/dev/null 2>&1
echo "sample_sfd $(h "$W/g.npy")"
$L classifier --epochs 1 --train-images 1024 --fid-images 256 --warmup 10 $T --out "$W/clf" >/dev/null 2>&1
echo "classifier $(h "$W/clf/model.safetensors")"
$L eval --model "$W/parent,$W/u_ga,$W/u_sfd" --classifier "$W/clf" --forget trouser --n 10 --steps 5 --batch 20 \
    --nll-images 2 --nll-timesteps 4 --mia-images 8 --mia-pairs 2 $T --out "$W/eval.json" >/dev/null 2>&1
python3 - "$W/eval.json" "$W" <<'PY'
import json, sys, hashlib
def strip(o):
    if isinstance(o, dict):
        return {k: strip(v) for k, v in o.items() if not any(s in k for s in ("seconds", "time", "rate", "path", "per_s", "wall"))}
    if isinstance(o, list): return [strip(v) for v in o]
    return o.replace(sys.argv[2], "W") if isinstance(o, str) else o
j = strip(json.load(open(sys.argv[1])))
print("eval_json", hashlib.sha256(json.dumps(j, sort_keys=True).encode()).hexdigest())
PY
for f in "$W"/eval_*.png; do echo "eval_grid_$(basename "$f" .png) $(h "$f")"; done
echo "sample_png $(h "$W/s.png")"
# Compare: bash dev/behaviour_hashes.sh build/lethe /tmp/bh > now.txt && diff dev/behaviour_hashes.before now.txt
