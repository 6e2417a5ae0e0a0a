#!/usr/bin/env bash
# test_concept_edit.sh: `lethe unlearn --method uce` and `--method scapre` on a tiny
# text-to-image model:
# - it writes a pipeline folder whose lethe.json records the method, the concepts erased and
#   preserved, the number of edited matrices (every attn2 to_k and to_v) and the solve time;
# - exactly the cross-attention key and value matrices change, every other tensor is
#   bit-identical to the parent's; the same command gives the same weights;
# - --forget-file reads concept prompts; clear errors for an unknown style or word, no
#   concepts, a class-conditional model (no cross-attention).
set -u
LETHE=$(realpath "${LETHE:-build/lethe}")
W=$(realpath "$(mktemp -d /tmp/lethe_uce_XXXXXX)")
trap 'rm -rf "$W"' EXIT
. "$(dirname "$0")/lib.sh"
cd "$(dirname "$0")/../.."
if [ ! -d /usr/share/datasets/fashion-mnist ]; then echo "fashion-mnist not installed: skipped"; exit 0; fi
train_tiny_t2i "$W/m"
UCE="$LETHE unlearn --model $W/m --method uce"
expect_ok "uce: two styles, two preserved" $UCE --forget-style zebra,candy --preserve bee,sailor --out "$W/u"
grep -q "erased 2 concepts (2 preserved) in 8 cross-attention matrices" "$W/err" && ok || bad "uce summary: $(cat "$W/err")"
# kv_only PARENT EDITED: exactly the 8 attn2 to_k / to_v tensors differ (the same names in both)
kv_only() {
    python3 - "$1" "$2" <<'PY'
import json, struct, sys
def tensors(d):
    b = open(d + "/unet/diffusion_pytorch_model.safetensors", "rb").read()
    n = struct.unpack("<Q", b[:8])[0]; h = json.loads(b[8:8 + n])
    return {k: b[8 + n + v["data_offsets"][0]:8 + n + v["data_offsets"][1]] for k, v in h.items() if k != "__metadata__"}
a, b = tensors(sys.argv[1]), tensors(sys.argv[2])
assert a.keys() == b.keys()
changed = sorted(k for k in a if a[k] != b[k])
kv = sorted(k for k in a if ".attn2.to_k." in k or ".attn2.to_v." in k)
assert changed == kv and len(kv) == 8, (changed, kv)
PY
}
kv_only "$W/m" "$W/u" && ok || bad "uce: not exactly the cross-attention K/V tensors changed"
python3 - "$W/u" <<'PY' && ok || bad "uce: lethe.json"
import json, sys
j = json.load(open(sys.argv[1] + "/lethe.json"))
assert j["method"] == "uce" and j["forget_concepts"] == ["zebra", "candy"] and j["preserve_concepts"] == ["bee", "sailor"], j
assert j["edited_matrices"] == 8 and j["solve_seconds"] >= 0 and j["arguments"]["lambda"] == 0.5, j
assert j["parent"]["dir"].endswith("/m") and len(j["parent"]["weights_sha256"]) == 64
PY
for f in model_index.json text_encoder/model.safetensors tokenizer/vocab.json scheduler/scheduler_config.json; do
    [ -s "$W/u/$f" ] && ok || bad "the edited model has no $f"
done
expect_ok "uce again" $UCE --forget-style zebra,candy --preserve bee,sailor --out "$W/u2"
cmp -s "$W/u/unet/diffusion_pytorch_model.safetensors" "$W/u2/unet/diffusion_pytorch_model.safetensors" && ok \
    || bad "uce is not deterministic"
printf 'trouser\n\n  a bag in zebra style \n' >"$W/concepts.txt"
expect_ok "uce --forget-file" $UCE --forget-file "$W/concepts.txt" --lambda 0.1 --out "$W/uf"
grep -q "erased 2 concepts" "$W/err" && ok || bad "--forget-file: $(cat "$W/err")"

# ScaPre: five styles at once, the same K/V-only change, its settings recorded, deterministic
SC="$LETHE unlearn --model $W/m --method scapre --forget-style zebra,candy,bee,sailor,mint"
expect_ok "scapre: five styles" $SC --out "$W/s"
grep -q "scapre erased 5 concepts (0 preserved) in 8 cross-attention matrices" "$W/err" && ok || bad "scapre summary: $(cat "$W/err")"
kv_only "$W/m" "$W/s" && ok || bad "scapre: not exactly the cross-attention K/V tensors changed"
python3 - "$W/s" <<'PY' && ok || bad "scapre: lethe.json"
import json, sys
j = json.load(open(sys.argv[1] + "/lethe.json"))
g = j["arguments"]
assert j["method"] == "scapre" and len(j["forget_concepts"]) == 5, j
assert g["erase_scale"] == 2 and g["p"] == 8 and g["mi_softmask"] and g["ased"] and g["bures_iters"] == 1, g
PY
expect_ok "scapre again" $SC --out "$W/s2"
cmp -s "$W/s/unet/diffusion_pytorch_model.safetensors" "$W/s2/unet/diffusion_pytorch_model.safetensors" && ok \
    || bad "scapre is not deterministic"
expect_ok "scapre, the Diversi50 setting" $SC --erase-scale 3 --p 5 --no-ased --out "$W/s3"
cmp -s "$W/s/unet/diffusion_pytorch_model.safetensors" "$W/s3/unet/diffusion_pytorch_model.safetensors" && bad "options ignored" || ok
expect_fail "scapre --preserve" "no preserve set" $SC --preserve bag --out "$W/x"

expect_fail "unknown style" "unknown style 'zebbra'" $UCE --forget-style zebbra --out "$W/x"
expect_fail "unknown word" "unknown word 'trousers'.*trouser" $UCE --forget-object trousers --out "$W/x"
expect_fail "nothing to forget" "nothing to forget" $UCE --out "$W/x"
expect_fail "a concept twice" "given twice" $UCE --forget-style zebra,zebra --out "$W/x"
expect_fail "class-conditional model" "no cross-attention" $LETHE unlearn --model models/fashion-mnist-tiny --method uce \
    --forget-style zebra --out "$W/x"
[ ! -e "$W/x" ] && ok || bad "a failed uce wrote a model"
expect_ok "help" $LETHE unlearn --method uce --help
grep -q "entropy-samples" "$W/err" && ok || bad "the closed-form help lists scapre's options"

echo "test_concept_edit.sh: $n_ok passed, $n_bad failed"
[ $n_bad -eq 0 ]
