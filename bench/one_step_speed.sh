#!/usr/bin/env bash
# one_step_speed.sh: sampling images/s of an SFD one-step generator against its multi-step
# teacher at the teacher's default evaluation settings (DDIM 25 steps, guidance 2: 50
# network evaluations per image), the same images, batch and threads, back to back.
#
#   bench/one_step_speed.sh --teacher runs/demo/model --generator runs/bench/trouser/sfd [--n 50]
#
# Prints both rates and the ratio (issue goal: at least 20x).
set -eu
cd "$(dirname "$0")/.."
LETHE=${LETHE:-build/lethe}
teacher=runs/demo/model generator=runs/bench/trouser/sfd n=50 steps=25 guidance=2
while [ $# -gt 0 ]; do
    case $1 in
        --teacher) teacher=$2; shift 2 ;;
        --generator) generator=$2; shift 2 ;;
        --n) n=$2; shift 2 ;;
        *) echo "one_step_speed.sh: unknown argument $1"; exit 2 ;;
    esac
done
[ -x "$LETHE" ] || make -s -j2
out=$(mktemp -d /tmp/lethe_speed_XXXXXX)
trap 'rm -rf "$out"' EXIT
rate() {  # MODEL EXTRA...: images/s from `lethe sample`'s closing line
    local model=$1; shift
    LETHE_NO_PROGRESS=1 $LETHE sample --model "$model" --class all --n "$n" --batch 256 "$@" --out "$out/s.png" 2>"$out/err" \
        || { cat "$out/err"; exit 1; }
    sed -n 's/.*: \([0-9]*\) images (.*) in \([0-9.]*\)s .*/\1 \2/p' "$out/err" | awk '{ printf "%.1f", $1 / $2 }'
}
t=$(rate "$teacher" --sampler ddim --steps $steps --guidance $guidance)
g=$(rate "$generator")
echo "| model | network evaluations per image | images/s |"
echo "|---|---|---|"
echo "| teacher ($teacher, DDIM $steps, guidance $guidance) | $((2 * steps)) | $t |"
echo "| one-step generator ($generator) | 1 | $g |"
awk -v t="$t" -v g="$g" 'BEGIN { printf "\nspeed-up: %.1fx (goal: at least 20x)\n", g / t }'
