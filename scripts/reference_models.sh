#!/usr/bin/env bash
# reference_models.sh: reproduce the committed reference models (models/, see models/README.md).
#
#   scripts/reference_models.sh [--stop-after N] [--threads N] [--install] [NAME...]
#
# NAME: fashion-mnist-tiny (class-conditional), fashion-mnist-tiny-uncond (unconditional),
# mnist-tiny (class-conditional digits; needs scripts/get_mnist.sh first),
# fashion-mnist-classifier and mnist-classifier (the evaluation classifiers),
# fashion-canvas-style-classifier and fashion-canvas-object-classifier (the judges of the
# text-to-image benchmark, docs/canvas.md; the committed judges were trained with
# --threads 1 or 2, as their classifier.json's "command" says), fashion-canvas-clip (the small
# CLIP: its text encoder is the text-to-image model's, its image encoder gives the CLIP
# score; 3000 steps of 64 pairs, resumable, ~1.5 h on one core), fashion-canvas-tiny (the
# text-to-image reference model: canvas-tiny conditioned by models/fashion-canvas-clip's text
# encoder, T2I_STEPS steps of 64 (image, prompt) pairs, EMA checkpoints every T2I_CKPT_EVERY
# steps for the quality curve; docs/text_to_image.md), fashion-canvas-tiny-continued (its second
# stage: T2I_MORE more steps from T2I_STEPS's EMA with `lethe train --init-from`). Default: the
# first five.
# fashion-mnist-tiny-no-CLASS (e.g. fashion-mnist-tiny-no-trouser): the retrain reference of
# the unlearning tables, `lethe unlearn --method retrain` from models/fashion-mnist-tiny (the
# parent's recipe from its lethe.json, without CLASS's images), in the same sittings.
#
# Each model trains in runs/reference/NAME. Interrupt it at any time, or give --stop-after N
# to stop after N steps of this sitting: run the script again and it resumes exactly where
# it stopped (lethe train --resume), so a model can be trained across several sittings.
# Every CKPT_EVERY steps the EMA weights are copied to runs/reference/NAME/checkpoints/step_K
# (a model folder each): the points of the quality-vs-steps curve (bench/quality_curve.sh)
# and the independent checkpoints VDU's statistics can use (--checkpoints A,B,...).
# --install copies the finished model's EMA weights (no training state) into models/NAME and
# prints their SHA-256 for models/SHA256SUMS. Weights depend on the thread count and the CPU
# (the order of floating-point sums), so a reproduction is close to, not bit-identical with,
# the committed files; the committed models were trained with --threads 2.
set -eu
cd "$(dirname "$0")/.."
LETHE=${LETHE:-build/lethe}
stop_after=0 threads=2 install=0 names=()
while [ $# -gt 0 ]; do
    case $1 in
        --stop-after) stop_after=$2; shift 2 ;;
        --threads) threads=$2; shift 2 ;;
        --install) install=1; shift ;;
        -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
        -*) echo "reference_models.sh: unknown option $1" >&2; exit 2 ;;
        *) names+=("$1"); shift ;;
    esac
done
[ ${#names[@]} -gt 0 ] || names=(fashion-mnist-classifier fashion-mnist-tiny fashion-mnist-tiny-uncond mnist-classifier mnist-tiny)
[ -x "$LETHE" ] || make -s -j2

# The recipe, chosen by measurement (docs/reference_models.md): constant learning rate
# after warm-up, so the EMA's quality can be read at any step and a run can be extended.
OBJECT_JUDGE="--channels 32,64,128 --epochs 12"   # fashion-canvas-object-classifier: 89.46% (docs/canvas.md)
STEPS=${STEPS:-10000}   # where the quality curve flattens (docs/reference_models.md)
CKPT_EVERY=2500
T2I_STEPS=${T2I_STEPS:-4000} T2I_CKPT_EVERY=1000   # fashion-canvas-tiny (docs/text_to_image.md)
T2I_MORE=${T2I_MORE:-6000} T2I_STAGE1=${T2I_STAGE1:-models/fashion-canvas-tiny}   # fashion-canvas-tiny-continued
T2I_RECIPE="--data fashion-canvas --config canvas-tiny --text-encoder models/fashion-canvas-clip"
RECIPE="--config tiny --batch 64 --lr 1e-3 --lr-schedule constant --warmup 500 --ema-max-decay 0.9999
        --checkpoint-every 500 --log-every 50 --seed 0 --init-seed 0"

steps_done() {   # of the run in $1 (0 when it has not started)
    [ -f "$1/lethe.json" ] || { echo 0; return; }
    sed -n 's/^[[:space:]]*"steps_done":[[:space:]]*\([0-9]*\).*/\1/p' "$1/lethe.json"
}

# in_sittings NAME OUT TOTAL CURVE CMD...: runs CMD [--resume] --stop-after CHUNK --out OUT
# until OUT's run has TOTAL steps, in chunks that end at the curve points (and within this
# sitting's --stop-after); CURVE=1 copies the EMA model at each curve point to OUT/checkpoints.
in_sittings() {
    local name=$1 out=$2 total=$3 curve=$4 CKPT_EVERY=${CKPT_EVERY_OF_RUN:-$CKPT_EVERY}
    shift 4
    mkdir -p "$out"
    [ "$curve" = 1 ] && mkdir -p "$out/checkpoints"
    local left=$stop_after done chunk resume c
    done=$(steps_done "$out")
    while [ "$done" -lt "$total" ]; do
        # up to the next curve point, or what is left of this sitting
        chunk=$(( (done / CKPT_EVERY + 1) * CKPT_EVERY - done ))
        [ $((done + chunk)) -le "$total" ] || chunk=$((total - done))
        if [ "$stop_after" -gt 0 ]; then
            [ "$left" -gt 0 ] || { echo "== $name: stopped at step $done of $total (run again to resume)"; return 0; }
            [ "$chunk" -le "$left" ] || chunk=$left
        fi
        resume=""
        [ -f "$out/train_state.safetensors" ] && resume=--resume
        # shellcheck disable=SC2086
        OMP_WAIT_POLICY=passive "$@" $resume --stop-after "$chunk" --out "$out" --threads "$threads"
        done=$(steps_done "$out")
        left=$((left - chunk))
        if [ "$curve" = 1 ] && [ $((done % CKPT_EVERY)) -eq 0 ] && [ ! -d "$out/checkpoints/step_$done" ]; then
            c=$out/checkpoints/step_$done
            mkdir -p "$c.tmp"
            cp -r "$out/model_index.json" "$out/unet" "$out/scheduler" "$out/lethe.json" "$c.tmp/"
            for f in text_encoder tokenizer; do [ ! -d "$out/$f" ] || cp -r "$out/$f" "$c.tmp/"; done
            mv "$c.tmp" "$c"
        fi
    done
    echo "== $name: finished ($total steps) in $out"
    [ "$install" = 1 ] && install_model "$name" "$out"
    return 0
}

train_diffusion() {   # NAME DATA [extra flags...]
    local name=$1 data=$2
    shift 2
    # shellcheck disable=SC2086
    in_sittings "$name" "runs/reference/$name" "$STEPS" 1 $LETHE train --data "$data" $RECIPE "$@" --steps "$STEPS"
}

retrain_diffusion() {   # NAME PARENT CLASS: the parent's recipe without CLASS (lethe unlearn --method retrain)
    local name=$1 parent=$2 class=$3 total
    [ -d "$parent/unet" ] || { echo "reference_models.sh: $name needs the parent $parent" >&2; exit 1; }
    total=$(sed -n 's/^[[:space:]]*"steps_total":[[:space:]]*\([0-9]*\).*/\1/p' "$parent/lethe.json")
    in_sittings "$name" "runs/reference/$name" "$total" 0 \
        $LETHE unlearn --model "$parent" --method retrain --forget "$class" --checkpoint-every 500
}

install_model() {   # NAME FROM: the exported (EMA) model only, no training state
    local dst=models/$1
    rm -rf "$dst.tmp" && mkdir -p "$dst.tmp"
    for f in model_index.json unet scheduler lethe.json classifier.json text_encoder tokenizer config.json model.safetensors \
             image_encoder clip.json; do
        [ -e "$2/$f" ] && cp -r "$2/$f" "$dst.tmp/"
    done
    rm -rf "$dst" && mv "$dst.tmp" "$dst"
    (cd models && find "$1" -type f | LC_ALL=C sort | xargs sha256sum)
}

for name in "${names[@]}"; do
    case $name in
        fashion-mnist-tiny) train_diffusion "$name" fashion-mnist ;;
        fashion-mnist-tiny-uncond) train_diffusion "$name" fashion-mnist --unconditional ;;
        mnist-tiny) train_diffusion "$name" mnist ;;
        fashion-canvas-tiny)
            # shellcheck disable=SC2086
            CKPT_EVERY_OF_RUN=$T2I_CKPT_EVERY in_sittings "$name" "runs/reference/$name" "$T2I_STEPS" 1 \
                $LETHE train $T2I_RECIPE ${RECIPE#--config tiny} --steps "$T2I_STEPS" ;;
        fashion-canvas-tiny-continued)
            # the second stage: the 4,000-step EMA (T2I_STAGE1; its lethe.json "init_from" records
            # the SHA-256 it started from) trained on with a new optimiser and EMA, its first run's
            # training state being lost: batch 64, lr 1e-3 constant after 200 warm-up steps
            # (docs/text_to_image.md)
            CKPT_EVERY_OF_RUN=$T2I_CKPT_EVERY in_sittings "$name" "runs/reference/$name" "$T2I_MORE" 1 \
                $LETHE train --init-from "$T2I_STAGE1" --data fashion-canvas --batch 64 --lr 1e-3 --lr-schedule constant \
                --warmup 200 --checkpoint-every 250 --steps "$T2I_MORE" ;;
        fashion-mnist-tiny-no-*) retrain_diffusion "$name" models/fashion-mnist-tiny "${name#fashion-mnist-tiny-no-}" ;;
        fashion-mnist-classifier|mnist-classifier|fashion-canvas-style-classifier|fashion-canvas-object-classifier)
            out=runs/reference/$name
            case $name in   # the committed judges' recipes (docs/canvas.md)
                fashion-canvas-style-classifier) extra="--fixed-renders" ;;   # trained before redraws existed
                fashion-canvas-object-classifier) extra="$OBJECT_JUDGE" ;;
                *) extra="" ;;
            esac
            if [ ! -f "$out/classifier.json" ]; then
                # shellcheck disable=SC2086
                OMP_WAIT_POLICY=passive $LETHE classifier --data "${name%-classifier}" $extra --out "$out" --threads "$threads"
            fi
            [ "$install" = 1 ] && install_model "$name" "$out" ;;
        fashion-canvas-clip)
            out=runs/reference/$name
            if ! grep -Eq '"steps_done":[[:space:]]*3000,' "$out/clip.json" 2>/dev/null; then
                resume=""
                [ -f "$out/clip_state.safetensors" ] && resume=--resume
                # shellcheck disable=SC2086
                OMP_WAIT_POLICY=passive $LETHE clip --data fashion-canvas --steps 3000 --checkpoint-every 500 --quiet \
                    $resume --out "$out" --threads "$threads"
            fi
            [ "$install" = 1 ] && install_model "$name" "$out" ;;
        *) echo "reference_models.sh: unknown model $name" >&2; exit 2 ;;
    esac
done
