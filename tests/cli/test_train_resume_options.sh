#!/usr/bin/env bash
# test_train_resume_options.sh: `lethe train --resume` continues the run that was started, with
# the options it recorded (lethe.json "arguments" and the state's "options" metadata), not the
# defaults: resumed without flags, a non-default recipe gives the weights of the uninterrupted
# run; a recipe flag given again with another value is refused (naming the flag, both values and
# a new --out) and changes nothing on disk; the same value is accepted; --steps may be raised
# (constant: the same as a longer run; cosine: the new total's curve from the resumed step on);
# a state of an older lethe (no record) resumes as before, with one warning; `lethe demo` too.
set -u
LETHE=${LETHE:-build/lethe}
W=$(mktemp -d /tmp/lethe_resopt_XXXXXX)
trap 'rm -rf "$W"' EXIT
. "$(dirname "$0")/lib.sh"
WEIGHTS=unet/diffusion_pytorch_model.safetensors

same_weights() { cmp -s "$1/$WEIGHTS" "$2/$WEIGHTS" && ok || bad "$2: weights differ from $1"; }
# py EXPR FILE...: a Python assertion over the files (sys.argv[1:]), json loaded as j(i)
py() {
    local what=$1 expr=$2; shift 2
    python3 - "$@" <<PY && ok || bad "$what"
import json, sys
def j(i): return json.load(open(sys.argv[i]))
def log(i): return [json.loads(l) for l in open(sys.argv[i])]
assert $expr
PY
}
tree_sum() { (cd "$1" && find . -type f | sort | xargs sha256sum); }

R="--lr-schedule constant --warmup 3 --lr 5e-4 --batch 8 --ema-max-decay 0.99 --log-every 1 --threads 1"

# --- resumed without flags = uninterrupted ---------------------------------------------------
expect_ok "uninterrupted" $LETHE train $R --steps 8 --out "$W/full"
expect_ok "first 3 steps" $LETHE train $R --steps 8 --stop-after 3 --out "$W/part"
expect_ok "resume without flags" $LETHE train --resume --threads 1 --out "$W/part"
same_weights "$W/full" "$W/part"
py "the resumed log has the uninterrupted steps, losses and lrs" \
   "[(r['step'], r['loss'], r['lr']) for r in log(1)] == [(r['step'], r['loss'], r['lr']) for r in log(2)]" \
   "$W/full/train_log.jsonl" "$W/part/train_log.jsonl"
py "lethe.json keeps the recipe after --resume" \
   "j(1)['arguments'] == j(2)['arguments'] and j(2)['arguments']['lr_schedule'] == 'constant' and j(2)['arguments']['lr'] == 0.0005 and j(2)['arguments']['batch'] == 8 and j(2)['arguments']['ema_max_decay'] == 0.99 and j(2)['arguments']['warmup'] == 3 and j(2)['lr_schedule'] == 'constant' and j(2)['batch'] == 8" \
   "$W/full/lethe.json" "$W/part/lethe.json"

# --- a different recipe flag is refused and changes nothing; the same values are accepted -------
expect_ok "first 3 steps again" $LETHE train $R --steps 8 --stop-after 3 --out "$W/c"
before=$(tree_sum "$W/c")
expect_fail "resume with another --lr" "--lr 0.001 was given, but the run in .* was started with --lr 0.0005.*new --out" \
    $LETHE train --resume --lr 1e-3 --threads 1 --out "$W/c"
expect_fail "resume with --no-ema" "--no-ema was given, but .* started without --no-ema" \
    $LETHE train --resume --no-ema --threads 1 --out "$W/c"
expect_fail "resume with another --lr-schedule (diffusers spelling)" "--lr-schedule cosine was given.*--lr-schedule constant" \
    $LETHE train --resume --lr_scheduler cosine --threads 1 --out "$W/c"
[ "$(tree_sum "$W/c")" = "$before" ] && ok || bad "a refused resume changed files in the run folder"
expect_ok "resume with the full recipe given again" $LETHE train --resume $R --steps 8 --out "$W/c"
same_weights "$W/full" "$W/c"

# --- --steps raised: constant continues (= a longer run); cosine follows the new total ----------
expect_ok "12 steps uninterrupted" $LETHE train $R --steps 12 --out "$W/full12"
expect_ok "8 steps raised to 12" $LETHE train --resume --steps 12 --threads 1 --out "$W/full"
same_weights "$W/full12" "$W/full"
py "raised --steps: logged to 12, recorded as 12, recipe kept" \
   "[r['step'] for r in log(1)] == list(range(1, 13)) and j(2)['steps_total'] == 12 and j(2)['arguments']['steps'] == 12 and j(2)['arguments']['lr_schedule'] == 'constant'" \
   "$W/full/train_log.jsonl" "$W/full/lethe.json"
C="--batch 8 --warmup 2 --lr 1e-3 --log-every 1 --threads 1"
expect_ok "cosine, 3 of 6 steps" $LETHE train $C --steps 6 --stop-after 3 --out "$W/cos"
expect_ok "cosine raised to 10" $LETHE train --resume --steps 10 --threads 1 --out "$W/cos"
py "cosine after raising --steps: lr of step 4 is the 10-step curve's" \
   "abs(log(1)[3]['lr'] - 1e-3 * 0.5 * (1 + __import__('math').cos(__import__('math').pi * 1 / 8))) < 1e-9 and log(1)[3]['step'] == 4" \
   "$W/cos/train_log.jsonl"
expect_ok "snapshots, 3 of 8 steps" $LETHE train $C --steps 8 --snapshots 2 --stop-after 3 --out "$W/snap"
expect_fail "snapshots pin --steps" "keeps 2 snapshot\(s\) of 8 steps" \
    $LETHE train --resume --steps 12 --threads 1 --out "$W/snap"

# --- a state written before the record: resumes as given, with one warning ----------------------
expect_ok "first 3 steps (to be made old)" $LETHE train $R --steps 8 --stop-after 3 --out "$W/old"
python3 - "$W/old/train_state.safetensors" <<'PY' && ok || bad "strip the record from the state"
import json, struct, sys
p = sys.argv[1]; b = open(p, "rb").read()
n = struct.unpack("<Q", b[:8])[0]; h = json.loads(b[8:8 + n])
del h["__metadata__"]["options"]
t = json.dumps(h).encode(); t += b" " * (-len(t) % 8)
open(p, "wb").write(struct.pack("<Q", len(t)) + t + b[8 + n:])
PY
expect_ok "resume an old state with other options" $LETHE train --resume $R --lr 1e-3 --steps 8 --out "$W/old"
[ "$(grep -c "could not be checked" "$W/err")" = 1 ] && ok || { bad "no single warning for an old state"; cat "$W/err"; }
py "an old state resumed with the options given" "log(1)[-1]['lr'] == 0.001 and j(2)['arguments']['lr'] == 0.001" \
   "$W/old/train_log.jsonl" "$W/old/lethe.json"

# --- lethe demo resumes with its recorded options -----------------------------------------------
# (the demo checkpoints every 250 steps: killed after step 251 of 254, it resumes from step 250)
D="--train --per-class 1 --sample-steps 2 --snapshots 0 --threads 1"
(LETHE_TEST_CRASH_AFTER_STEP=251 $LETHE demo --steps 254 --batch 2 $D --out "$W/demo"; exit $?) >/dev/null 2>&1
[ $? -eq 137 ] && [ -f "$W/demo/model/train_state.safetensors" ] && ok || bad "demo: the crash after step 251"
expect_fail "demo resumed with another --batch" "--batch 8 was given.*--batch 2" $LETHE demo --steps 254 --batch 8 $D --out "$W/demo"
expect_ok "demo resumed" $LETHE demo --steps 254 $D --out "$W/demo"
grep -q "resuming" "$W/err" && ok || bad "demo did not resume"
py "demo: the resumed run kept --batch 2" "j(1)['batch'] == 2 and j(1)['arguments']['batch'] == 2 and j(1)['steps_done'] == 254" \
   "$W/demo/model/lethe.json"

# --- the cost (wall and CPU seconds) adds up over sittings, in the state file and lethe.json ----
meta() { python3 -c "import json,struct,sys; f=open(sys.argv[1],'rb'); n=struct.unpack('<Q',f.read(8))[0]; print(json.loads(f.read(n))['__metadata__'][sys.argv[2]])" "$1" "$2"; }
expect_ok "cost: first sitting" $LETHE train $R --steps 6 --stop-after 3 --out "$W/cost"
c1=$(meta "$W/cost/train_state.safetensors" cpu_seconds)
s1=$(meta "$W/cost/train_state.safetensors" seconds)
py "cost: the state and lethe.json agree after a sitting" "abs(j(1)['cpu_seconds'] - $c1) < 0.5 and $c1 > 0 and $s1 > 0" "$W/cost/lethe.json"
expect_ok "cost: second sitting" $LETHE train --resume --steps 6 --out "$W/cost"
py "cost: the second sitting adds to the first" "j(1)['cpu_seconds'] > $c1 and j(1)['seconds'] > $s1 and j(1)['steps_done'] == 6" "$W/cost/lethe.json"
expect_ok "cost: unlearn, first sitting" $LETHE unlearn --model "$W/cost" --method ga --forget 1 --steps 4 --batch 2 --stop-after 2 --threads 1 --out "$W/ucost"
u1=$(meta "$W/ucost/unlearn_state.safetensors" cpu_seconds)
expect_ok "cost: unlearn resumed" $LETHE unlearn --model "$W/cost" --method ga --forget 1 --steps 4 --batch 2 --resume --threads 1 --out "$W/ucost"
py "cost: unlearning adds the sittings" "j(1)['cpu_seconds'] > $u1 > 0" "$W/ucost/lethe.json"

# --- --init-from: a trained model's weights as the start, a new optimiser and EMA -------------------
# The first step starts from the parent's weights: its loss is the parent's loss on the same
# batch, not a fresh network's; lethe.json records the folder and the SHA-256 of its weights;
# interrupted and resumed, it gives the uninterrupted run's weights; a wrong pairing is refused.
expect_ok "init: parent" $LETHE train $R --steps 30 --out "$W/ip"
expect_ok "init: fresh, one step" $LETHE train $R --steps 1 --init-seed 3 --out "$W/if"
expect_ok "init: from the parent, one step" $LETHE train $R --steps 1 --init-from "$W/ip" --out "$W/i1"
expect_ok "init: the parent, one more step of its own recipe" $LETHE train $R --steps 31 --out "$W/ip31"
py "init: the first loss is the trained parent's, not a fresh network's" \
    "log(1)[0]['loss'] < 0.5 * log(2)[0]['loss']" "$W/i1/train_log.jsonl" "$W/if/train_log.jsonl"
sha=$(python3 -c "import hashlib,sys; print(hashlib.sha256(open(sys.argv[1],'rb').read()).hexdigest())" "$W/ip/$WEIGHTS")
py "init: lethe.json records the folder and a SHA-256" \
    "j(1)['init_from']['dir'] == '$W/ip' and len(j(1)['init_from']['weights_sha256']) == 64 and j(1)['arguments']['init_from'] == '$W/ip'" \
    "$W/i1/lethe.json"
expect_ok "init: interrupted" $LETHE train $R --steps 4 --init-from "$W/ip" --stop-after 2 --out "$W/ir"
expect_ok "init: resumed" $LETHE train --resume --steps 4 --threads 1 --out "$W/ir"
expect_ok "init: uninterrupted" $LETHE train $R --steps 4 --init-from "$W/ip" --out "$W/iu"
same_weights "$W/iu" "$W/ir"
expect_fail "init: with --config" "drop --config" $LETHE train --init-from "$W/ip" --config small --steps 1 --out "$W/x"
expect_fail "init: no such folder" "no such model folder" $LETHE train --init-from "$W/none" --steps 1 --out "$W/x"
expect_fail "init: conditional parent, --unconditional" "drop --unconditional" \
    $LETHE train --init-from "$W/ip" --unconditional --steps 1 --out "$W/x"

echo "$n_ok ok, $n_bad failed"
[ $n_bad -eq 0 ]
