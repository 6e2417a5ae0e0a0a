#!/usr/bin/env bash
# test_clip.sh: `lethe clip` from the command line: a few steps on Fashion-Canvas write the
# folder the next issue loads (text_encoder/ as transformers lays it out, tokenizer/,
# image_encoder/, clip.json with the zero-shot accuracies), --stop-after then --resume ends
# at the same weights as one run, a resume with other flags is refused; usage errors exit 2, missing data 1, never a crash.
set -u
LETHE=$(realpath "${LETHE:-build/lethe}")
W=$(realpath "$(mktemp -d /tmp/lethe_clip_XXXXXX)")
trap 'rm -rf "$W"' EXIT
. "$(dirname "$0")/lib.sh"
cd "$(dirname "$0")/../.."
json() { python3 -c "import json,sys; j=json.load(open(sys.argv[1])); print($2)" "$1"; }

expect_fail "no --out" "out" $LETHE clip --data fashion-canvas
expect_fail "other data" "fashion-canvas" $LETHE clip --data fashion-mnist --out "$W/x"
expect_fail "missing source" "no/such|not found|no such" $LETHE clip --data fashion-canvas --source "$W/no/such" --out "$W/x"
if [ -d /usr/share/datasets/fashion-mnist ]; then
    R="--data fashion-canvas --steps 6 --batch 8 --warmup 2 --zeroshot-images 20 --threads 2 --quiet --checkpoint-every 3"
    expect_ok "clip" $LETHE clip $R --out "$W/a"
    for f in text_encoder/config.json text_encoder/model.safetensors tokenizer/vocab.json tokenizer/merges.txt \
             tokenizer/tokenizer_config.json tokenizer/special_tokens_map.json image_encoder/config.json \
             image_encoder/model.safetensors clip.json clip_log.jsonl; do
        [ -f "$W/a/$f" ] && ok || bad "no $f"
    done
    [ "$(json "$W/a/text_encoder/config.json" 'j["architectures"][0]')" = CLIPTextModelWithProjection ] && ok || bad "architecture"
    [ "$(json "$W/a/clip.json" 'j["steps_done"]')" = 6 ] && ok || bad "steps_done: $(json "$W/a/clip.json" 'j.get("steps_done")')"
    python3 -c "import json,sys; j=json.load(open(sys.argv[1])); z=j['zero_shot']; sys.exit(0 if 0 <= z['style_accuracy'] <= 1 and 0 <= z['object_accuracy'] <= 1 else 1)" "$W/a/clip.json" \
        && ok || bad "zero-shot accuracies: $(json "$W/a/clip.json" 'j.get("zero_shot")')"
    expect_ok "stop after 3" $LETHE clip $R --out "$W/b" --stop-after 3
    expect_fail "resume with another --lr" "same flags" $LETHE clip $R --lr 0.002 --out "$W/b" --resume
    expect_ok "resume" $LETHE clip $R --out "$W/b" --resume
    cmp -s "$W/a/text_encoder/model.safetensors" "$W/b/text_encoder/model.safetensors" && ok || bad "resumed text encoder differs"
    cmp -s "$W/a/image_encoder/model.safetensors" "$W/b/image_encoder/model.safetensors" && ok || bad "resumed image encoder differs"
fi
echo "test_clip.sh: $n_ok passed, $n_bad failed"
[ $n_bad -eq 0 ]
