#!/usr/bin/env bash
# valgrind.sh: the CLI paths the tests exercise, under valgrind's memcheck: no invalid
# accesses and no definite leaks (OpenMP/OpenBLAS thread pools are "possibly lost" by
# design and not counted). Run by `make valgrind` and CI.
# Two independent parts, the class-level paths and the text-to-image ones, run at once
# (memcheck runs a process on one core; LETHE_VG_JOBS=1 runs them one after the other);
# each part's lines are printed when it ends.
set -u
LETHE=${LETHE:-build/lethe}
command -v valgrind >/dev/null || { echo "valgrind.sh: valgrind is not installed (apt-get install valgrind)"; exit 1; }
TOP=$(mktemp -d /tmp/lethe_vg_XXXXXX)
trap 'rm -rf "$TOP"' EXIT
export LETHE_NO_PROGRESS=1 OMP_NUM_THREADS=1
# OpenBLAS for every GEMM: oneDNN's run-time generated kernels read below the stack pointer,
# which memcheck reports as invalid reads in code it cannot name (lethe's own code is what is
# checked here; the ASan run covers the oneDNN path)
export LETHE_GEMM=openblas
# and OpenBLAS's AVX kernels without FMA: valgrind runs each FMA lane through a C helper
# (h_generic_calc_MAddF32, nearly all of its time in a profile), so OpenBLAS's own choice for
# this CPU (Haswell/Zen kernels, FMA throughout) made a 2-step sample take 43 s under memcheck;
# the build-vg binary itself is compiled for the baseline x86-64 ISA, without FMA
export OPENBLAS_CORETYPE=Sandybridge
VG="valgrind --quiet --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite --show-leak-kinds=definite"
n_ok=0 n_bad=0
check() {  # name, expected exit code, command...
    local name=$1 want=$2; shift 2
    local t0=$SECONDS
    $VG "$@" >"$W/out" 2>"$W/err"; local rc=$?
    if [ $rc -eq "$want" ]; then n_ok=$((n_ok + 1)); echo "ok    $name ($((SECONDS - t0)) s)";
    else n_bad=$((n_bad + 1)); echo "FAIL  $name (exit $rc, want $want)"; tail -n 30 "$W/err"; fi
}
class_part() {
check "train"              0 "$LETHE" train --steps 2 --batch 2 --checkpoint-every 1 --log-every 1 --out "$W/m"
check "train --resume"     0 "$LETHE" train --steps 3 --batch 2 --resume --out "$W/m"
check "sample ddim+guidance" 0 "$LETHE" sample --model "$W/m" --class trouser --n 2 --steps 2 --out "$W/s.png" --npy "$W/s.npy" --idx "$W/s"
check "sample ddpm"        0 "$LETHE" sample --model "$W/m" --class 0 --n 1 --steps 2 --sampler ddpm --out "$W/s2.png"
check "info"               0 "$LETHE" info "$W/m"
check "unknown class"      1 "$LETHE" sample --model "$W/m" --class sweater --out "$W/x.png"
head -c 500 "$W/m/unet/diffusion_pytorch_model.safetensors" >"$W/trunc.safetensors"
check "truncated file"     1 "$LETHE" info "$W/trunc.safetensors"
check "missing model"      1 "$LETHE" sample --model "$W/none" --out "$W/x.png"
check "help"               0 "$LETHE" sample --help
# evaluation on a small 16x16 IDX dataset (4 classes), so memcheck finishes in minutes
python3 "$(dirname "$0")/cli/toy_idx.py" "$W/toy" 64 32
check "classifier"         0 "$LETHE" classifier --data "$W/toy" --epochs 1 --batch 16 --warmup 1 --channels 8,16 --features 8 --fid-images 16 --out "$W/cls"
python3 -c "import json,sys; c=json.load(open(sys.argv[1])); c['sample_size']=16; c['num_class_embeds']=5; json.dump(c, open(sys.argv[2],'w'))" "$W/m/unet/config.json" "$W/toy.json"
"$LETHE" train --data "$W/toy" --config "$W/toy.json" --steps 1 --batch 2 --out "$W/mt" >/dev/null 2>&1
check "eval"               0 "$LETHE" eval --model "$W/mt" --classifier "$W/cls" --forget 1 --n 2 --steps 1 --nll-images 2 --nll-timesteps 2 --mia-images 2 --mia-pairs 1 --out "$W/e.json"
check "eval: unknown class" 1 "$LETHE" eval --model "$W/mt" --classifier "$W/cls" --forget 9 --n 2 --out "$W/e.json"
check "eval: wrong classifier" 1 "$LETHE" eval --model "$W/m" --classifier "$W/cls" --n 2 --out "$W/e.json"
# every unlearning method for one step, on an even smaller UNet (8/16 channels) so that the
# methods' set-up (SA's generated samples, ESD's chain) stays quick under memcheck; VDU's
# statistics come from a second such model
python3 -c "import json,sys; c=json.load(open(sys.argv[1])); c['block_out_channels']=[8,16]; c['norm_num_groups']=4; json.dump(c, open(sys.argv[2],'w'))" "$W/toy.json" "$W/toy_small.json"
"$LETHE" train --data "$W/toy" --config "$W/toy_small.json" --steps 1 --batch 2 --out "$W/mu" >/dev/null 2>&1
"$LETHE" train --data "$W/toy" --config "$W/toy_small.json" --steps 1 --batch 2 --init-seed 7 --out "$W/mu2" >/dev/null 2>&1
UL="$LETHE unlearn --model $W/mu --forget 1 --steps 1 --batch 2 --log-every 1"
for meth in retrain finetune ga esd salun sa vdu spare sfd; do
    extra=""
    case $meth in
        spare) extra="--surrogate 2" ;;
        vdu) extra="--checkpoints $W/mu,$W/mu2" ;;
        sa) extra="--fisher-samples 2 --replay-samples 2" ;;
        salun) extra="--forget-images 4" ;;
    esac
    check "unlearn $meth"  0 $UL --method "$meth" $extra --out "$W/u_$meth"
done
# (the loop's vdu is at its defaults: gated, natural-gradient SGD; this is the paper's form, Adam)
check "unlearn vdu faithful adam" 0 $UL --method vdu --checkpoints "$W/mu,$W/mu2" --objective faithful --update adam --out "$W/u_vdug"
check "unlearn vdu fisher" 0 $UL --method vdu --anchor-precision fisher --fisher-samples 2 --objective gated --gate 20 --out "$W/u_vduf"
check "demo (unlearn, side by side)" 0 "$LETHE" demo --model "$W/mu" --classifier "$W/cls" --forget 1 --method ga --steps 1 \
    --per-class 2 --sample-steps 1 --kept-rows 2 --out "$W/demo"
check "unlearn --stop-after" 0 $UL --method ga --steps 2 --stop-after 1 --out "$W/u_half"
check "unlearn --resume"   0 $UL --method ga --steps 2 --resume --out "$W/u_half"
check "sample: one-step generator" 0 "$LETHE" sample --model "$W/u_sfd" --class 0 --n 2 --out "$W/g.png"
check "unlearn: surrogate = forget" 1 $UL --method spare --surrogate 1 --out "$W/x"
}

text_part() {
# Fashion-Canvas: the reference sheet (the real Fashion-MNIST test split, when installed) and
# two CLIP steps on 60 made-up 28x28 images (its zero-shot pass is left to the ASan run of
# test_clip: under memcheck its 2,240 prompt encodings take minutes)
if [ -d /usr/share/datasets/fashion-mnist ]; then
    check "canvas"         0 "$LETHE" canvas --out "$W/sheet.png" --scale 1 --prompts 1
fi
python3 - "$W/fm28" <<'PY'
import os, random, struct, sys
random.seed(3)
d = sys.argv[1]
os.makedirs(d)
for prefix, n in (("train", 40), ("t10k", 20)):
    labels = [i % 10 for i in range(n)]
    pix = bytes(random.randrange(256) if 6 <= r < 22 and 6 <= c < 22 else 0 for _ in labels for r in range(28) for c in range(28))
    open(os.path.join(d, prefix + "-images-idx3-ubyte"), "wb").write(struct.pack(">IIII", 2051, n, 28, 28) + pix)
    open(os.path.join(d, prefix + "-labels-idx1-ubyte"), "wb").write(struct.pack(">II", 2049, n) + bytes(labels))
PY
check "clip"               0 "$LETHE" clip --data fashion-canvas --source "$W/fm28" --steps 2 --batch 4 --warmup 1 --zeroshot-images 0 --quiet --out "$W/clip"
check "canvas: no --out"   2 "$LETHE" canvas
# text-to-image: a 1-step tiny model on 40 made-up images named as Fashion-MNIST's classes (the
# committed CLIP's tokenizer knows their words), found as "fashion-mnist" through LETHE_DATA_DIR;
# one concept-level ESD run (its 560 prompt encodings and a guided chain: 29 of the section's 80 s under
# memcheck), UCE, prompts, a 2-style evaluation (the unknown-style error path: ASan, test_concept_unlearn.sh)
mkdir -p "$W/data/fashion-mnist"
cp "$W/fm28"/* "$W/data/fashion-mnist/"
cat >"$W/t2i.json" <<'JSON'
{"_class_name": "UNet2DConditionModel", "sample_size": 32, "in_channels": 3, "out_channels": 3,
 "block_out_channels": [8, 16], "layers_per_block": 1, "attention_head_dim": [1, 1], "norm_num_groups": 4,
 "cross_attention_dim": 64, "down_block_types": ["DownBlock2D", "CrossAttnDownBlock2D"],
 "up_block_types": ["CrossAttnUpBlock2D", "UpBlock2D"], "mid_block_type": "UNetMidBlock2DCrossAttn"}
JSON
export LETHE_DATA_DIR="$W/data"
check "train text-to-image" 0 "$LETHE" train --data fashion-canvas --config "$W/t2i.json" --text-encoder models/fashion-canvas-clip \
    --steps 1 --batch 2 --warmup 1 --out "$W/t2i"
check "sample a prompt"    0 "$LETHE" sample --model "$W/t2i" --prompt "a trouser in zebra style" --n 1 --steps 1 --out "$W/t.png"
check "unlearn uce"        0 "$LETHE" unlearn --model "$W/t2i" --method uce --forget-style zebra --out "$W/t_uce"
check "unlearn esd (an object)" 0 "$LETHE" unlearn --model "$W/t2i" --method esd --forget-object trouser --steps 1 --batch 1 --out "$W/t_esd"
check "object judge"       0 "$LETHE" classifier --data fashion-canvas-object --epochs 1 --batch 8 --warmup 1 --channels 8,16 \
    --features 8 --fid-images 8 --out "$W/obj"
check "eval text-to-image (one style)" 0 "$LETHE" eval --model "$W/t2i,$W/t_esd" --object-classifier "$W/obj" --styles zebra,candy \
    --forget-style zebra --n 1 --steps 1 --real-per-style 2 --no-clip --out "$W/te.json"
unset LETHE_DATA_DIR
}

part() {  # NAME: runs NAME_part in its own folder and shell; its log's last line is "N_OK N_BAD"
    (
        W="$TOP/$1"; mkdir -p "$W"
        "$1_part" >"$TOP/$1.log" 2>&1
        echo "($1 part: $SECONDS s)" >>"$TOP/$1.log"
        echo "$n_ok $n_bad" >>"$TOP/$1.log"
    )
}
if [ "${LETHE_VG_JOBS:-2}" -gt 1 ]; then
    part class & part text & wait
else
    part class; part text
fi
for p in class text; do
    sed '$d' "$TOP/$p.log"
    read -r ok bad < <(tail -n 1 "$TOP/$p.log")
    n_ok=$((n_ok + ok)); n_bad=$((n_bad + bad))
done
echo "valgrind: $n_ok passed, $n_bad failed"
[ $n_bad -eq 0 ]
