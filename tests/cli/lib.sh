# lib.sh: what the CLI test scripts share. Source it after setting W (the work folder).
#   ok / bad MSG               count a passed / failed check
#   expect_ok NAME CMD...      the command succeeds
#   expect_fail NAME PAT CMD...  exit 1 or 2 (not a signal) and stderr matching PAT
export LETHE_NO_PROGRESS=1
export XDG_DATA_HOME="$W/xdg-data"   # datasets a user installed (scripts/get_mnist.sh) do not change what a test finds
n_ok=0 n_bad=0
ok()  { n_ok=$((n_ok + 1)); }
bad() { n_bad=$((n_bad + 1)); echo "FAILED: $*"; }
expect_fail() {
    local name=$1 pat=$2; shift 2
    "$@" >"$W/out" 2>"$W/err"; local rc=$?
    if [ $rc -eq 0 ]; then bad "$name: succeeded, expected an error"; return; fi
    if [ $rc -gt 2 ]; then bad "$name: exit code $rc (crash?)"; cat "$W/err"; return; fi
    if ! grep -qE -- "$pat" "$W/err"; then bad "$name: message does not match /$pat/:"; cat "$W/err"; return; fi
    ok
}
expect_ok() {
    local name=$1; shift
    if "$@" >"$W/out" 2>"$W/err"; then ok; else bad "$name: exit $?"; cat "$W/err"; fi
}
# train_tiny_t2i OUT: a 2-step text-to-image model with a tiny UNet2DConditionModel (8/16
# channels, cross-attention at 16 x 16 and in the middle) and the committed CLIP's text encoder
train_tiny_t2i() {
    cat >"$W/tiny_t2i.json" <<'JSON'
{"_class_name": "UNet2DConditionModel", "sample_size": 32, "in_channels": 3, "out_channels": 3,
 "block_out_channels": [8, 16], "layers_per_block": 1, "attention_head_dim": [1, 1], "norm_num_groups": 4,
 "cross_attention_dim": 64, "down_block_types": ["DownBlock2D", "CrossAttnDownBlock2D"],
 "up_block_types": ["CrossAttnUpBlock2D", "UpBlock2D"], "mid_block_type": "UNetMidBlock2DCrossAttn"}
JSON
    expect_ok "train a tiny text-to-image model" $LETHE train --data fashion-canvas --config "$W/tiny_t2i.json" \
        --text-encoder models/fashion-canvas-clip --steps 2 --batch 4 --warmup 1 --threads 1 --out "$1"
}
