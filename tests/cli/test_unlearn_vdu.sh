#!/usr/bin/env bash
# test_unlearn_vdu.sh: `lethe train --snapshots K` and `lethe unlearn --method vdu` end to
# end on 4-step runs: the snapshot files (steps 3 and 4 of 4, EMA weights, the last equal
# to the exported model), a resumed run writing the same files, VDU consuming them
# (class-conditional and unconditional, data-constrained), each --objective with its record,
# and clear errors for too many
# snapshots, fewer than 2 checkpoints, no source and another config.
set -u
LETHE=${LETHE:-build/lethe}
W=$(mktemp -d /tmp/lethe_vdu_cli_XXXXXX)
trap 'rm -rf "$W"' EXIT
. "$(dirname "$0")/lib.sh"
TRAIN="$LETHE train --steps 4 --batch 4 --warmup 1"

# ---- lethe train --snapshots ------------------------------------------------------------------
expect_ok "train --snapshots 2" $TRAIN --snapshots 2 --out "$W/m"
for s in 00000003 00000004; do
    [ -s "$W/m/snapshots/snapshot_$s.safetensors" ] && ok || bad "snapshot $s missing"
done
[ ! -e "$W/m/snapshots/snapshot_00000002.safetensors" ] && ok || bad "a snapshot in the first half"
python3 - "$W/m" <<'PY' && ok || bad "snapshot contents and snapshots.json"
import json, struct, sys
d = sys.argv[1]
def read(path):
    b = open(path, "rb").read(); n = struct.unpack("<Q", b[:8])[0]
    h = json.loads(b[8:8 + n]); meta = h.pop("__metadata__")
    return meta, {k: b[8 + n + v["data_offsets"][0]:8 + n + v["data_offsets"][1]] for k, v in h.items()}
exported = read(d + "/unet/diffusion_pytorch_model.safetensors")[1]
for step in (3, 4):
    meta, t = read(d + "/snapshots/snapshot_%08d.safetensors" % step)
    assert meta["step"] == str(step) and meta["weights"] == "ema" and meta["format"] == "pt", meta
    assert set(t) == set(exported)
    assert (t == exported) == (step == 4), step   # the last snapshot is the exported model
m = json.load(open(d + "/snapshots/snapshots.json"))
assert m["snapshots"] == 2 and [f["step"] for f in m["files"]] == [3, 4], m
assert json.load(open(d + "/lethe.json"))["snapshots"] == 2
PY
expect_fail "train: too many snapshots" "--snapshots 3" $TRAIN --snapshots 3 --out "$W/x"

# interrupted after 3 steps and resumed: the same snapshot files
expect_ok "train --stop-after 3" $TRAIN --snapshots 2 --stop-after 3 --out "$W/r"
[ ! -e "$W/r/snapshots/snapshot_00000004.safetensors" ] && ok || bad "snapshot 4 before step 4"
expect_ok "train --resume" $TRAIN --snapshots 2 --resume --out "$W/r"
for s in 00000003 00000004; do
    cmp -s "$W/m/snapshots/snapshot_$s.safetensors" "$W/r/snapshots/snapshot_$s.safetensors" && ok \
        || bad "snapshot $s differs after --resume"
done
expect_fail "train --resume with another K" "resume with --snapshots 2" $TRAIN --snapshots 1 --resume --out "$W/r"

# ---- lethe unlearn --method vdu --snapshots ---------------------------------------------------
UL="$LETHE unlearn --method vdu --forget trouser --steps 2 --batch 2 --log-every 1"
expect_ok "vdu --snapshots (training folder)" $UL --model "$W/m" --snapshots "$W/m" --out "$W/u"
python3 - "$W/u" "$W/m" <<'PY' && ok || bad "vdu provenance"
import hashlib, json, sys
u, m = sys.argv[1], sys.argv[2]
j = json.load(open(u + "/lethe.json"))
sha = hashlib.sha256(open(m + "/unet/diffusion_pytorch_model.safetensors", "rb").read()).hexdigest()
assert j["method"] == "vdu" and j["parent"]["weights_sha256"] == sha, j
assert j["arguments"]["snapshots"] == m
assert "gamma*B - (1-gamma)*A" in j["reconstructed"] and "q(theta) = delta(theta)" in j["reconstructed"]
s = json.load(open(u + "/vdu_statistics.json"))
assert s["k"] == 2 and [c["step"] for c in s["checkpoints"]] == [3, 4], s
log = [json.loads(l) for l in open(u + "/unlearn_log.jsonl")]
assert len(log) == 2 and all("anchor" in r and "forget_dsm" in r for r in log)
PY
expect_ok "vdu --snapshots (snapshots folder), data-constrained" $UL --model "$W/m" --snapshots "$W/m/snapshots" \
    --forget-images 8 --out "$W/u2"
grep -q "8 forget" "$W/err" && ok || bad "--forget-images 8 is used"
$LETHE sample --model "$W/u" --class trouser --n 1 --steps 2 --out "$W/s.png" >/dev/null 2>&1 && ok \
    || bad "the unlearned model samples"

# unconditional model (the paper's setting): forget classes named from the dataset
expect_ok "train --unconditional --snapshots 2" $TRAIN --unconditional --snapshots 2 --out "$W/unc"
expect_ok "vdu on an unconditional model" $UL --model "$W/unc" --snapshots "$W/unc" --out "$W/uu"
python3 -c "import json,sys; j=json.load(open(sys.argv[1])); assert j['method']=='vdu'" "$W/uu/lethe.json" && ok \
    || bad "unconditional vdu lethe.json"

# ---- the objectives: each runs, and lethe.json / vdu_statistics.json record what was used ------
for obj in faithful gated reconstructed; do
    expect_ok "vdu --objective $obj" $UL --model "$W/m" --snapshots "$W/m" --objective $obj --weighting elbo \
        --out "$W/o_$obj"
    python3 - "$W/o_$obj" "$obj" <<'PY' && ok || bad "vdu --objective $obj: outputs"
import json, os, sys
u, obj = sys.argv[1], sys.argv[2]
assert os.path.getsize(u + "/unet/diffusion_pytorch_model.safetensors") > 0
a = json.load(open(u + "/lethe.json"))["arguments"]
assert a["objective"] == obj and a["weighting"] == "elbo", a
assert "stability_weight" not in a and "gate" not in a, a   # not given: the statistics file has the values
s = json.load(open(u + "/vdu_statistics.json"))
assert s["objective"] == obj and s["weighting"] == "elbo"
assert s["gamma"] == (1 if obj == "reconstructed" else 0.5), s
assert ("gate" in s) == (obj == "gated") and s.get("gate", 20) == 20, s
assert s["precision"] == "checkpoints" and s["update"] == "natural", s   # auto: --snapshots given
log = [json.loads(l) for l in open(u + "/unlearn_log.jsonl")]
assert len(log) == 2 and all("forget_weighted" in r for r in log)
assert all(("gate_open" in r) == (obj == "gated") for r in log)
if obj == "gated": assert all(0 <= r["gate_open"] <= 1 for r in log)
if obj != "reconstructed":   # loss = gamma B - (1 - gamma) mean C_t l
    assert all(abs(r["loss"] - (0.5 * r["anchor"] - 0.5 * r["forget_weighted"])) < 1e-6 * (1 + abs(r["loss"])) for r in log)
PY
done
expect_ok "vdu --objective gated, given gamma and gate" $UL --model "$W/m" --snapshots "$W/m" --objective gated \
    --stability-weight 0.3 --gate 1.5 --out "$W/o_g2"
python3 -c "import json,sys; a=json.load(open(sys.argv[1]))['arguments']; assert a['stability_weight']==0.3 and a['gate']==1.5, a" \
    "$W/o_g2/lethe.json" && ok || bad "given gamma and gate in lethe.json"
expect_fail "vdu: convex gamma 1" "must be in" $UL --model "$W/m" --snapshots "$W/m" --objective faithful \
    --stability-weight 1 --out "$W/e7"
expect_fail "vdu: --gate without gated" "gated only" $UL --model "$W/m" --snapshots "$W/m" --objective faithful --gate 2 \
    --out "$W/e8"
# unconditional, data-constrained, gated: the forget set is the training images labelled trouser
# (lethe.json names the class by its index: an unconditional model has no class names)
expect_ok "vdu gated on an unconditional model" $UL --model "$W/unc" --snapshots "$W/unc" --objective gated \
    --forget-images 6 --out "$W/ug"
grep -q "6 forget" "$W/err" && ok || bad "unconditional: 6 forget images used"
python3 -c "import json,sys; j=json.load(open(sys.argv[1])); assert j['forget_classes']==['1'] and j['arguments']['objective']=='gated', j" \
    "$W/ug/lethe.json" && ok || bad "unconditional gated lethe.json"

# ---- the defaults: no source given, so the Fisher anchor (auto); gated, natural gradient, lr 0.1 ----
expect_ok "vdu at its defaults (Fisher of 2 samples)" $UL --model "$W/m" --fisher-samples 2 --out "$W/def"
python3 - "$W/def" <<'PY' && ok || bad "vdu defaults recorded"
import json, sys
u = sys.argv[1]
s = json.load(open(u + "/vdu_statistics.json"))
assert s["objective"] == "gated" and s["gate"] == 20 and s["gamma"] == 0.5, s
assert s["precision"] == "fisher" and s["update"] == "natural" and s["k"] == 0, s
log = [json.loads(l) for l in open(u + "/unlearn_log.jsonl")]
assert all(abs(r["lr"] - 0.1) < 1e-9 for r in log), log
PY
expect_ok "vdu --update adam: Adam's default lr" $UL --model "$W/m" --fisher-samples 2 --update adam --out "$W/def_adam"
python3 -c "import json,sys; assert all(abs(json.loads(l)['lr']-1e-5)<1e-12 for l in open(sys.argv[1]))" \
    "$W/def_adam/unlearn_log.jsonl" && ok || bad "--update adam: lr 1e-05"

# ---- errors -----------------------------------------------------------------------------------
expect_fail "vdu: one checkpoint" "at least 2 checkpoints" $UL --model "$W/m" --checkpoints "$W/m" --out "$W/e1"
expect_fail "vdu: checkpoint precision, no source" "--checkpoints" $UL --model "$W/m" --anchor-precision checkpoints \
    --out "$W/e2"
expect_fail "vdu: both sources" "not both" $UL --model "$W/m" --checkpoints "$W/m,$W/r" --snapshots "$W/m" --out "$W/e3"
expect_fail "vdu: another config" "another UNet config" $UL --model "$W/m" --checkpoints "$W/m,$W/unc" --out "$W/e4"
expect_fail "vdu: no snapshots" "has no snapshots" $UL --model "$W/m" --snapshots "$W/unc/unet" --out "$W/e5"
expect_fail "vdu: identical checkpoints" "identical" $UL --model "$W/m" --checkpoints "$W/m,$W/m" --out "$W/e6"

echo "$n_ok ok, $n_bad failed"
[ $n_bad -eq 0 ]
