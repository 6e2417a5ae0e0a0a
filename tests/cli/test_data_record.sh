#!/usr/bin/env bash
# test_data_record.sh: a model remembers its data. `lethe train --data DIR/mnist` records in
# lethe.json the absolute folder the images were read from and a fingerprint of the files;
# unlearn and eval read from there when --data is not given (from any working directory, with
# no dataset of that name installed); a moved folder or changed files stop them with a message
# naming the recorded path and --data; --data given explicitly overrides; a model without the
# record behaves as before; the standard Fashion-MNIST gets the record too.
set -u
LETHE=$(realpath "${LETHE:-build/lethe}")
W=$(realpath "$(mktemp -d /tmp/lethe_datarec_XXXXXX)")
trap 'rm -rf "$W"' EXIT
. "$(dirname "$0")/lib.sh"
DATA_DIR_BEFORE=${LETHE_DATA_DIR-}
export LETHE_DATA_DIR="$W/empty"   # no dataset named mnist anywhere but the folder given
mkdir -p "$W/empty" "$W/data" "$W/elsewhere"
# json FILE EXPR: a Python expression over the parsed JSON `j`, printed
json() { python3 -c "import json,sys; j=json.load(open(sys.argv[1])); print($2)" "$1"; }

# a tiny 28x28 digits set in IDX format: 200 train images (labels i % 10), 40 test
python3 - "$W/data/mnist" <<'PY'
import os, random, struct, sys
d = sys.argv[1]; os.makedirs(d); random.seed(3)
def write(prefix, n):
    labels = [i % 10 for i in range(n)]
    pix = bytes(random.randrange(256) for _ in range(n * 28 * 28))
    open(os.path.join(d, prefix + "-images-idx3-ubyte"), "wb").write(struct.pack(">IIII", 0x803, n, 28, 28) + pix)
    open(os.path.join(d, prefix + "-labels-idx1-ubyte"), "wb").write(struct.pack(">II", 0x801, n) + bytes(labels))
write("train", 200); write("t10k", 40)
PY
D="$W/data/mnist"

# train from the data's parent folder with a relative path: the record holds the absolute one
(cd "$W/data" && $LETHE train --data mnist --steps 3 --batch 4 --warmup 1 --out "$W/parent") >"$W/out" 2>"$W/err" \
    && ok || { bad "train on a folder of IDX files"; cat "$W/err"; }
python3 - "$W/parent/lethe.json" "$D" <<'PY' && ok || bad "lethe.json records the folder and the fingerprint"
import hashlib, json, os, sys
j = json.load(open(sys.argv[1])); d = j["data"]
assert j["dataset"] == "mnist", j["dataset"]
assert d["dir"] == sys.argv[2] and os.path.isabs(d["dir"]), d["dir"]
assert [f["name"] for f in d["files"]] == ["train-images-idx3-ubyte", "train-labels-idx1-ubyte"], d["files"]
lines = ""
for f in d["files"]:
    raw = open(os.path.join(d["dir"], f["name"]), "rb").read()
    assert f["bytes"] == len(raw) and f["sha256"] == hashlib.sha256(raw).hexdigest(), f
    lines += "%s %d %s\n" % (f["name"], f["bytes"], f["sha256"])
assert d["sha256"] == hashlib.sha256(lines.encode()).hexdigest()
PY

# unlearn without --data, from another folder: the recorded folder is read (180 retain images)
cd "$W/elsewhere"
expect_ok "unlearn spare without --data" $LETHE unlearn --model "$W/parent" --method spare --forget 3 --surrogate 5 \
    --steps 1 --batch 2 --out "$W/u_spare"
[ "$(json "$W/u_spare/lethe.json" 'j["data"]')" = "$(json "$W/parent/lethe.json" 'j["data"]')" ] \
    && ok || bad "the unlearned model carries its parent's data record"
$LETHE unlearn --model "$W/parent" --method retrain --forget 3 --steps 1 --batch 2 --out "$W/u_rt" >"$W/out" 2>"$W/err" \
    && grep -q "on 180 retain images" "$W/err" && ok || { bad "retrain reads the recorded folder"; cat "$W/err"; }
[ "$(json "$W/u_rt/lethe.json" 'j["data"]["sha256"]')" = "$(json "$W/parent/lethe.json" 'j["data"]["sha256"]')" ] \
    && ok || bad "the retrained model carries the record"
expect_ok "unlearn a child again" $LETHE unlearn --model "$W/u_spare" --method ga --forget 4 --steps 1 --batch 2 --out "$W/u_u"

# eval: a classifier of the same data; without --data the real images come from the record
expect_ok "classifier" $LETHE classifier --data "$D" --train-images 100 --epochs 1 --batch 20 --warmup 1 --channels 8,16 \
    --fid-images 40 --out "$W/cls"
EV="$LETHE eval --classifier $W/cls --n 2 --steps 2 --batch 20 --nll-images 1 --nll-timesteps 2 --mia-images 4 --mia-pairs 1"
expect_ok "eval without --data" $EV --model "$W/parent,$W/u_spare" --forget 3 --out "$W/e.json"
[ "$(json "$W/e.json" 'j["settings"]["dataset_path"]')" = "$D" ] && ok || bad "eval JSON names the folder it read"

# the folder moved: the message names the recorded path and --data; --data overrides
$LETHE info "$W/parent" 2>&1 | grep -q "^  data: $D (2 files, fingerprint" && ok || bad "info shows the data record"
mkdir "$W/moved" && mv "$D" "$W/moved/mnist"
$LETHE info "$W/parent" 2>&1 | grep -q "^  data: $D .*the folder is gone.*--data DIR" && ok || bad "info says the folder is gone"
expect_fail "unlearn: folder gone" "model $W/parent was trained on the data in $D, which is gone.*--data DIR" \
    $LETHE unlearn --model "$W/parent" --method ga --forget 3 --steps 1 --batch 2 --out "$W/x"
expect_fail "eval: folder gone" "trained on the data in $D, which is gone.*--data DIR" \
    $EV --model "$W/parent" --forget 3 --out "$W/x.json"
expect_ok "unlearn with --data at the new place" $LETHE unlearn --model "$W/parent" --method ga --forget 3 --steps 1 \
    --batch 2 --data "$W/moved/mnist" --out "$W/u_moved"
[ "$(json "$W/u_moved/lethe.json" 'j["data"]["dir"]')" = "$W/moved/mnist" ] && ok || bad "the same files moved: the child records where they are now"
expect_ok "eval with --data" $EV --model "$W/parent" --forget 3 --data "$W/moved/mnist" --out "$W/e2.json"
mv "$W/moved/mnist" "$D"

# a file changed: the error names it and --data; --data given explicitly uses the files anyway
cp "$D/train-labels-idx1-ubyte" "$W/labels.bak"
printf '\x07' | dd of="$D/train-labels-idx1-ubyte" bs=1 seek=8 conv=notrunc status=none
expect_fail "unlearn: data changed" "data in $D changed since model $W/parent was trained on it: train-labels-idx1-ubyte .*--data $D" \
    $LETHE unlearn --model "$W/parent" --method ga --forget 3 --steps 1 --batch 2 --out "$W/x"
expect_fail "eval: data changed" "changed since model .*train-labels-idx1-ubyte" $EV --model "$W/parent" --forget 3 --out "$W/x.json"
expect_ok "unlearn: --data overrides the check" $LETHE unlearn --model "$W/parent" --method ga --forget 3 --steps 1 \
    --batch 2 --data "$D" --out "$W/u_changed"
[ "$(json "$W/u_changed/lethe.json" 'j["data"]["sha256"]')" = "$(json "$W/parent/lethe.json" 'j["data"]["sha256"]')" ] \
    && ok || bad "other files: the child keeps the record of its parent's data"
cp "$W/labels.bak" "$D/train-labels-idx1-ubyte"
expect_ok "the original files again" $LETHE unlearn --model "$W/parent" --method ga --forget 3 --steps 1 --batch 2 --out "$W/u_back"

# a model without the record (an older lethe.json) behaves as before: the name is looked up
cp -r "$W/parent" "$W/old"
python3 -c "import json,sys; j=json.load(open(sys.argv[1])); del j['data']; json.dump(j, open(sys.argv[1], 'w'))" "$W/old/lethe.json"
expect_fail "old model: the dataset name is looked up" "dataset 'mnist' not found: tried $W/empty/mnist" \
    $LETHE unlearn --model "$W/old" --method ga --forget 3 --steps 1 --batch 2 --out "$W/x"
expect_ok "old model with --data" $LETHE unlearn --model "$W/old" --method ga --forget 3 --steps 1 --batch 2 --data "$D" --out "$W/u_old"
[ "$(json "$W/u_old/lethe.json" '"data" in j')" = False ] && ok || bad "no record is invented for an old model's child"
python3 -c "import json,sys; j=json.load(open(sys.argv[1])); j['data']={'dir': 3}; json.dump(j, open(sys.argv[1], 'w'))" "$W/old/lethe.json"
expect_fail "a malformed record" '"data" must be' $LETHE info "$W/old"
cd "$W"

# the standard dataset by name: the record names the installed folder and its .gz files
if [ -n "$DATA_DIR_BEFORE" ]; then export LETHE_DATA_DIR="$DATA_DIR_BEFORE"; else unset LETHE_DATA_DIR; fi
if $LETHE train --steps 1 --batch 2 --warmup 1 --out "$W/fashion" >"$W/out" 2>"$W/err"; then
    python3 - "$W/fashion/lethe.json" <<'PY' && ok || bad "fashion-mnist by name gets the record"
import hashlib, json, os, sys
d = json.load(open(sys.argv[1]))["data"]
assert os.path.isabs(d["dir"]) and os.path.basename(d["dir"]) == "fashion-mnist", d["dir"]
assert [f["name"].split(".")[0] for f in d["files"]] == ["train-images-idx3-ubyte", "train-labels-idx1-ubyte"], d
f = d["files"][1]
assert hashlib.sha256(open(os.path.join(d["dir"], f["name"]), "rb").read()).hexdigest() == f["sha256"]
PY
else
    echo "SKIP fashion-mnist record (not installed)"
fi

echo "test_data_record.sh: $n_ok passed, $n_bad failed"
[ $n_bad -eq 0 ]
