#!/usr/bin/env bash
# test_cli.sh: the lethe command line end to end on tiny runs, and every bad input the
# issue names: each must give one clear message, a non-zero exit, no crash, and leave
# an existing checkpoint untouched.
set -u
LETHE=${LETHE:-build/lethe}
W=$(mktemp -d /tmp/lethe_cli_XXXXXX)
trap 'rm -rf "$W"' EXIT
. "$(dirname "$0")/lib.sh"
TRAIN="$LETHE train --batch 4 --log-every 1 --warmup 2"
# max |a - b| of two float32 .npy files (stdlib only)
npy_maxdiff() {
    python3 - "$1" "$2" <<'PY'
import array, struct, sys
def load(p):
    b = open(p, "rb").read(); n = struct.unpack("<H", b[8:10])[0]
    a = array.array("f"); a.frombytes(b[10 + n:]); return a
x, y = load(sys.argv[1]), load(sys.argv[2])
print(max(abs(u - v) for u, v in zip(x, y)) if len(x) == len(y) else "inf")
PY
}
# within float32 rounding: the GEMM blocking differs with the batch, the arithmetic does not
close() { awk -v d="$(npy_maxdiff "$1" "$2")" 'BEGIN { exit !(d != "inf" && d < 1e-4) }'; }

# --- a tiny model to work with ---------------------------------------------------------
expect_ok "train 4 steps" $TRAIN --steps 4 --checkpoint-every 2 --out "$W/m"
for f in model_index.json unet/config.json unet/diffusion_pytorch_model.safetensors scheduler/scheduler_config.json lethe.json train_state.safetensors train_log.jsonl; do
    [ -s "$W/m/$f" ] && ok || bad "missing $f"
done
[ "$(wc -l <"$W/m/train_log.jsonl")" -eq 4 ] && ok || bad "train_log.jsonl should have 4 lines"
grep -q '"trouser"' "$W/m/lethe.json" && ok || bad "lethe.json lacks class names"
expect_ok "info" $LETHE info "$W/m"
grep -q "635681 parameters" "$W/out" && ok || bad "info: parameter count"
expect_ok "sample by name" $LETHE sample --model "$W/m" --class trouser,ankle-boot --n 2 --steps 3 --out "$W/s.png" --npy "$W/s.npy" --idx "$W/s"
[ -s "$W/s.png" ] && [ -s "$W/s.npy" ] && [ -s "$W/s-images-idx3-ubyte" ] && [ -s "$W/s-labels-idx1-ubyte" ] && ok || bad "sample outputs"
expect_ok "sample by index, ddpm" $LETHE sample --model "$W/m" --class 1 --n 2 --sampler ddpm --steps 3 --out "$W/s2.png"
# sampling is seeded and does not depend on how the run is batched
expect_ok "sample batch 4" $LETHE sample --model "$W/m" --class 0,1 --n 2 --steps 3 --seed 7 --batch 4 --out "$W/b4.png" --npy "$W/b4.npy"
expect_ok "sample batch 1" $LETHE sample --model "$W/m" --class 0,1 --n 2 --steps 3 --seed 7 --batch 1 --out "$W/b1.png" --npy "$W/b1.npy"
close "$W/b4.npy" "$W/b1.npy" && ok || bad "samples depend on the batch size beyond float32 rounding"
expect_ok "sample batch 4 again" $LETHE sample --model "$W/m" --class 0,1 --n 2 --steps 3 --seed 7 --batch 4 --out "$W/b4.png" --npy "$W/b4b.npy"
cmp -s "$W/b4.npy" "$W/b4b.npy" && ok || bad "the same seed and batch did not give identical samples"
expect_ok "sample ddpm batch 4" $LETHE sample --model "$W/m" --class 3 --n 3 --steps 4 --sampler ddpm --seed 7 --batch 4 --out "$W/d4.png" --npy "$W/d4.npy"
expect_ok "sample ddpm batch 2" $LETHE sample --model "$W/m" --class 3 --n 3 --steps 4 --sampler ddpm --seed 7 --batch 2 --out "$W/d2.png" --npy "$W/d2.npy"
close "$W/d4.npy" "$W/d2.npy" && ok || bad "ddpm samples depend on the batch size beyond float32 rounding"
expect_ok "sample other seed" $LETHE sample --model "$W/m" --class 0,1 --n 2 --steps 3 --seed 8 --out "$W/s8.png" --npy "$W/s8.npy"
cmp -s "$W/b4.npy" "$W/s8.npy" && bad "different seeds gave the same samples" || ok
# initial noise from a .npy file (any float32 array of the right shape) overrides the seed
expect_ok "sample from noise file" $LETHE sample --model "$W/m" --class 0,1 --n 2 --steps 3 --noise "$W/b4.npy" --out "$W/nz.png" --npy "$W/nz1.npy"
expect_ok "sample from noise file again" $LETHE sample --model "$W/m" --class 0,1 --n 2 --steps 3 --noise "$W/b4.npy" --seed 99 --out "$W/nz.png" --npy "$W/nz2.npy"
cmp -s "$W/nz1.npy" "$W/nz2.npy" && ok || bad "DDIM eta 0 from the same noise file differs"

# weights stored as F16 (as a diffusers fp16 export would) load into float32
rm -rf "$W/f16"; cp -r "$W/m" "$W/f16"
python3 - "$W/f16/unet/diffusion_pytorch_model.safetensors" <<'PY'
import json, struct, sys
p = sys.argv[1]; b = open(p, "rb").read(); n = struct.unpack("<Q", b[:8])[0]
h = json.loads(b[8:8 + n]); meta = h.pop("__metadata__", None); data = b[8 + n:]
out, hdr, off = b"", {"__metadata__": meta} if meta else {}, 0
for k in sorted(h):
    s, e = h[k]["data_offsets"]; vals = struct.unpack("<%df" % ((e - s) // 4), data[s:e])
    chunk = struct.pack("<%de" % len(vals), *vals); out += chunk
    hdr[k] = {"dtype": "F16", "shape": h[k]["shape"], "data_offsets": [off, off + len(chunk)]}; off += len(chunk)
t = json.dumps(hdr, separators=(",", ":")).encode(); t += b" " * (-(8 + len(t)) % 8)
open(p, "wb").write(struct.pack("<Q", len(t)) + t + out)
PY
expect_ok "F16 weights load" $LETHE sample --model "$W/f16" --class 0 --n 1 --steps 2 --out "$W/f16.png"

expect_ok "trailing spacing" $LETHE sample --model "$W/m" --class 0 --n 1 --steps 3 --timestep-spacing trailing --out "$W/tr.png"
expect_fail "bad spacing" "timestep-spacing" $LETHE sample --model "$W/m" --class 0 --n 1 --timestep-spacing sideways --out "$W/x.png"
expect_fail "too many steps" "sampling steps 2000" $LETHE sample --model "$W/m" --class 0 --n 1 --steps 2000 --out "$W/x.png"

expect_ok "diffusers spellings" $LETHE train --max_train_steps 1 --train_batch_size 2 --learning_rate 1e-4 --lr_warmup_steps 1 --output_dir "$W/alias"
grep -qE '"learning_rate":[[:space:]]*0.0001,' "$W/alias/lethe.json" && ok || bad "alias --learning_rate not applied"
expect_ok "help" $LETHE train --help
grep -q -- "--steps N" "$W/err" && grep -q "default" "$W/err" && ok || bad "help shows flags with defaults"

expect_ok "train on a retain set" $TRAIN --steps 1 --exclude trouser --out "$W/retain"
expect_fail "exclude every class" "leaves no images" $TRAIN --steps 1 --exclude 0,1,2,3,4,5,6,7,8,9 --out "$W/x"
expect_fail "unknown class to exclude" "sweater" $TRAIN --steps 1 --exclude sweater --out "$W/x"

# --- resume reproduces an uninterrupted run ----------------------------------------------
expect_ok "uninterrupted" $TRAIN --steps 6 --checkpoint-every 3 --out "$W/full"
expect_ok "interrupted" $TRAIN --steps 6 --checkpoint-every 3 --stop-after 3 --out "$W/part"
expect_ok "resumed" $TRAIN --steps 6 --checkpoint-every 3 --resume --out "$W/part"
losses() { sed -E 's/.*"loss": ([^,]*),.*/\1/' "$1"; }
if [ "$(losses "$W/full/train_log.jsonl")" = "$(losses "$W/part/train_log.jsonl")" ]; then ok; else
    bad "resumed loss curve differs"; paste "$W/full/train_log.jsonl" "$W/part/train_log.jsonl"; fi
cmp -s "$W/full/unet/diffusion_pytorch_model.safetensors" "$W/part/unet/diffusion_pytorch_model.safetensors" && ok || bad "resumed weights differ"
expect_fail "resume with another seed" "seed" $TRAIN --steps 6 --resume --seed 5 --out "$W/part"
expect_fail "resume nothing" "nothing to resume" $TRAIN --steps 6 --resume --out "$W/none"

# (the main job, `lethe demo`, is tested in test_demo.sh)

# --- bad input ----------------------------------------------------------------------------------
expect_fail "unknown config" "unknown config 'huge'" $TRAIN --steps 1 --config huge --out "$W/x"
expect_fail "unknown dataset" "no-such-set" $TRAIN --steps 1 --data no-such-set --out "$W/x"
expect_fail "unknown flag" "unknown option '--stepz'" $TRAIN --stepz 1 --out "$W/x"
expect_fail "bad number" "not a valid integer" $TRAIN --steps ten --out "$W/x"
expect_fail "unknown class" "sweater.*(trouser|valid)" $LETHE sample --model "$W/m" --class sweater --out "$W/x.png"
expect_fail "class out of range" "12" $LETHE sample --model "$W/m" --class 12 --out "$W/x.png"
expect_fail "missing model" "no such model folder" $LETHE sample --model "$W/nope" --out "$W/x.png"
expect_fail "unknown device" "--device must be cpu or cuda" $LETHE sample --device gpu --model "$W/m" --out "$W/x.png"
# without the CUDA backend or a GPU: a clear message; with both: on to the missing model
expect_fail "device cuda" "make CUDA=1|no usable NVIDIA GPU|no such model folder" $LETHE sample --device cuda --model "$W/nope" --out "$W/x.png"
expect_fail "not a model folder" "not a model folder" $LETHE sample --model "$W" --out "$W/x.png"
# --precision: an unknown name is a usage error in every command that takes it; bf16 runs, or
# (no AVX512-BF16/AMX, no oneDNN) says so and runs fp32; either way close to fp32's samples
for cmd in "sample --model $W/m" "train --steps 1" "eval --model $W/m --classifier models/fashion-mnist-classifier" "unlearn --model $W/m --method ga --forget 0"; do
    # shellcheck disable=SC2086
    expect_fail "--precision fp16 ($cmd)" "--precision must be fp32 or bf16" $LETHE $cmd --precision fp16 --out "$W/x"
done
SAMPLE="$LETHE sample --model $W/m --class all --n 16 --steps 3 --out $W/p.png"
expect_ok "sample fp32" $SAMPLE --npy "$W/p32.npy"
expect_ok "sample --precision bf16" $SAMPLE --precision bf16 --npy "$W/p16.npy"
if grep -q "running in fp32" "$W/err"; then
    close "$W/p32.npy" "$W/p16.npy" && ok || bad "bf16 fell back to fp32, yet the samples differ"
else
    awk -v d="$(npy_maxdiff "$W/p32.npy" "$W/p16.npy")" 'BEGIN { exit !(d != "inf" && d < 0.1) }' && ok \
        || bad "bf16 samples are not within 0.1 of fp32's: $(npy_maxdiff "$W/p32.npy" "$W/p16.npy")"
fi
touch "$W/file"
expect_fail "output under a file" "$W/file" $TRAIN --steps 1 --out "$W/file/sub"
expect_fail "unwritable png" "$W/file/x.png" $LETHE sample --model "$W/m" --class 0 --n 1 --steps 2 --out "$W/file/x.png"
echo '{}' >"$W/n.npy"
expect_fail "bad noise file" "n.npy" $LETHE sample --model "$W/m" --class 0 --n 1 --steps 2 --noise "$W/n.npy" --out "$W/x.png"

# corrupt model folders: copy the good one and damage one file each
weights=unet/diffusion_pytorch_model.safetensors
damage() { rm -rf "$W/bad"; cp -r "$W/m" "$W/bad"; }
damage; head -c 1000 "$W/m/$weights" >"$W/bad/$weights"
expect_fail "truncated weights" "diffusion_pytorch_model.safetensors" $LETHE sample --model "$W/bad" --out "$W/x.png"
damage; printf '\xff\xff\xff\xff\x00\x00\x00\x00' | dd of="$W/bad/$weights" conv=notrunc 2>/dev/null
expect_fail "header length lies" "diffusion_pytorch_model.safetensors" $LETHE info "$W/bad"
damage; : >"$W/bad/$weights"
expect_fail "empty weights" "diffusion_pytorch_model.safetensors" $LETHE info "$W/bad"
damage; sed -i 's/"block_out_channels": \[32, 64\]/"block_out_channels": [32, 32]/; s/32,\n\t\t64/X/' "$W/bad/unet/config.json"
python3 - "$W/bad/unet/config.json" <<'PY'
import json, sys
p = sys.argv[1]; c = json.load(open(p)); c["block_out_channels"] = [32, 32]; json.dump(c, open(p, "w"))
PY
expect_fail "wrong shapes" "tensor '.*' has shape" $LETHE info "$W/bad"
damage; python3 - "$W/bad/unet/config.json" <<'PY'
import json, sys
p = sys.argv[1]; c = json.load(open(p)); c["num_class_embeds"] = None; json.dump(c, open(p, "w"))
PY
expect_fail "unexpected key" "unexpected tensor.*class_embedding" $LETHE info "$W/bad"
damage; python3 - "$W/bad/$weights" <<'PY'
# drop one tensor (conv_out.bias) and re-pack the file validly
import json, struct, sys
p = sys.argv[1]; b = open(p, "rb").read(); n = struct.unpack("<Q", b[:8])[0]
h = json.loads(b[8:8 + n]); meta = h.pop("__metadata__", None); data = b[8 + n:]
out, hdr, off = b"", {"__metadata__": meta} if meta else {}, 0
for k in sorted(h):
    if k == "conv_out.bias": continue
    s, e = h[k]["data_offsets"]; out += data[s:e]
    hdr[k] = {"dtype": h[k]["dtype"], "shape": h[k]["shape"], "data_offsets": [off, off + e - s]}; off += e - s
t = json.dumps(hdr, separators=(",", ":")).encode(); t += b" " * (-(8 + len(t)) % 8)
open(p, "wb").write(struct.pack("<Q", len(t)) + t + out)
PY
expect_fail "missing key" "missing, first 'conv_out.bias'" $LETHE info "$W/bad"
damage; echo '{"sample_size": 28,' >"$W/bad/unet/config.json"
expect_fail "corrupt config" "config.json" $LETHE info "$W/bad"
damage; python3 - "$W/bad/$weights" <<'PY'
import json, struct, sys
p = sys.argv[1]; b = open(p, "rb").read(); n = struct.unpack("<Q", b[:8])[0]
h = json.loads(b[8:8 + n]); k = sorted(x for x in h if x != "__metadata__")[0]; h[k]["dtype"] = "I32"
t = json.dumps(h, separators=(",", ":")).encode(); t += b" " * (n - len(t))
open(p, "wb").write(b[:8] + t + b[8 + n:])
PY
expect_fail "wrong dtype" "dtype" $LETHE info "$W/bad"

# NaN loss stops the run and leaves the last checkpoint as it was (a run whose recipe explodes
# after its first step, checkpointed there: --resume keeps the recipe, so it cannot be changed there)
BOOM="$TRAIN --steps 30 --lr 1e30 --warmup 0 --max-grad-norm 0"
expect_ok "an exploding run, its first step" $BOOM --stop-after 1 --out "$W/boom"
sum_before=$(md5sum "$W/boom/$weights" "$W/boom/train_state.safetensors")
expect_fail "NaN loss" "NaN|Inf|nan|inf" $BOOM --resume --out "$W/boom"
[ "$sum_before" = "$(md5sum "$W/boom/$weights" "$W/boom/train_state.safetensors")" ] && ok || bad "NaN run changed the checkpoint"
expect_ok "checkpoint still loads" $LETHE info "$W/boom"

echo "cli: $n_ok passed, $n_bad failed"
[ $n_bad -eq 0 ]
