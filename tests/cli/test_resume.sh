#!/usr/bin/env bash
# test_resume.sh: a run killed between checkpoints and resumed is the uninterrupted run, for
# training and unlearning (the one run harness, diffusion/run.h): the log holds each logged
# step exactly once, in order, with the same losses, and the final weights are bit-identical.
# The kill is a real SIGKILL: LETHE_TEST_CRASH_AFTER_STEP=S makes the process kill itself right
# after step S is logged (deterministic), and one unlearning run is killed from outside (kill -9)
# once its log shows a step past a checkpoint. Also with --stop-after before the crash.
set -u
LETHE=${LETHE:-build/lethe}
W=$(mktemp -d /tmp/lethe_resume_XXXXXX)
trap 'rm -rf "$W"' EXIT
. "$(dirname "$0")/lib.sh"
WEIGHTS=unet/diffusion_pytorch_model.safetensors

# log_steps LOG EXPECTED...: the log's steps are EXPECTED, each once, in order
log_steps() {
    local log=$1; shift
    local got; got=$(python3 -c "import json,sys; print(' '.join(str(json.loads(l)['step']) for l in open(sys.argv[1])))" "$log")
    [ "$got" = "$*" ] && ok || bad "$log: steps '$got', expected '$*'"
}
# same_losses A B: the two logs have the same steps and losses (timings differ)
same_losses() {
    python3 - "$1" "$2" <<'PY' && ok || bad "$1 and $2: losses differ"
import json, sys
def rows(p): return [(r["step"], r["loss"]) for r in map(json.loads, open(p))]
a, b = rows(sys.argv[1]), rows(sys.argv[2])
assert a == b, (a, b)
PY
}
# crash_at S CMD...: runs CMD, which must die of SIGKILL after step S
crash_at() {
    local s=$1; shift
    (LETHE_TEST_CRASH_AFTER_STEP=$s "$@"; exit $?) >"$W/out" 2>"$W/err"; local rc=$?   # the shell's "Killed" goes to err
    [ $rc -eq 137 ] && ok || { bad "crash after step $s: exit $rc, expected 137 (SIGKILL)"; tail -n 3 "$W/err"; }
}
same_weights() {
    cmp -s "$1/$WEIGHTS" "$2/$WEIGHTS" && ok || bad "$2: final weights differ from $1"
}
seq_by() { local by=$1 n=$2 s out=""; for ((s = by; s <= n; s += by)); do out+="$s "; done
           [ $((n % by)) -ne 0 ] && out+="$n "; echo ${out% }; }

# --- training: 8 steps, checkpoints at 3 and 6 ----------------------------------------------
TRAIN="$LETHE train --steps 8 --batch 4 --warmup 2 --log-every 1 --checkpoint-every 3 --snapshots 2 --threads 1"
expect_ok "train uninterrupted" $TRAIN --out "$W/t_full"
log_steps "$W/t_full/train_log.jsonl" $(seq 1 8)

crash_at 5 $TRAIN --out "$W/t_kill"                       # state at step 3, log up to 5
log_steps "$W/t_kill/train_log.jsonl" $(seq 1 5)
expect_ok "train resumed after the crash" $TRAIN --resume --out "$W/t_kill"
log_steps "$W/t_kill/train_log.jsonl" $(seq 1 8)
same_losses "$W/t_full/train_log.jsonl" "$W/t_kill/train_log.jsonl"
same_weights "$W/t_full" "$W/t_kill"
for s in 6 8; do   # 8 steps, 2 snapshots: after steps 6 and 8
    cmp -s "$W/t_full/snapshots/snapshot_0000000$s.safetensors" "$W/t_kill/snapshots/snapshot_0000000$s.safetensors" \
        && ok || bad "training snapshot $s differs after the crash and --resume"
done

# --stop-after 4 (checkpointed at 4), resumed and crashed after 7 (state at 6), resumed again
expect_ok "train --stop-after 4" $TRAIN --stop-after 4 --out "$W/t_stop"
log_steps "$W/t_stop/train_log.jsonl" $(seq 1 4)
crash_at 7 $TRAIN --resume --out "$W/t_stop"
expect_ok "train resumed after stop and crash" $TRAIN --resume --out "$W/t_stop"
log_steps "$W/t_stop/train_log.jsonl" $(seq 1 8)
same_losses "$W/t_full/train_log.jsonl" "$W/t_stop/train_log.jsonl"
same_weights "$W/t_full" "$W/t_stop"

# a crash after the last step's log record, before its checkpoint
crash_at 8 $TRAIN --out "$W/t_last"
expect_ok "train resumed after a crash at the last step" $TRAIN --resume --out "$W/t_last"
log_steps "$W/t_last/train_log.jsonl" $(seq 1 8)
same_weights "$W/t_full" "$W/t_last"

# --- unlearning: ga, 9 steps, log every 2 (2 4 6 8 9), checkpoints at 4 and 8 ----------------
$LETHE train --steps 3 --batch 4 --warmup 1 --threads 1 --out "$W/parent" >/dev/null 2>&1 || bad "train the parent"
for meth in ga salun; do
    extra=""; [ $meth = salun ] && extra="--forget-images 8"
    UL="$LETHE unlearn --model $W/parent --forget trouser --method $meth $extra --batch 2 --steps 9 --log-every 2 --checkpoint-every 4 --threads 1"
    GRID=$(seq_by 2 9)
    expect_ok "$meth uninterrupted" $UL --out "$W/u_${meth}_full"
    log_steps "$W/u_${meth}_full/unlearn_log.jsonl" $GRID

    crash_at 6 $UL --out "$W/u_${meth}_kill"              # state at 4, log up to 6
    log_steps "$W/u_${meth}_kill/unlearn_log.jsonl" 2 4 6
    [ ! -f "$W/u_${meth}_kill/$WEIGHTS" ] && ok || bad "$meth: a crashed run wrote a final model"
    expect_ok "$meth resumed after the crash" $UL --resume --out "$W/u_${meth}_kill"
    log_steps "$W/u_${meth}_kill/unlearn_log.jsonl" $GRID
    same_losses "$W/u_${meth}_full/unlearn_log.jsonl" "$W/u_${meth}_kill/unlearn_log.jsonl"
    same_weights "$W/u_${meth}_full" "$W/u_${meth}_kill"

    # --stop-after 3 (checkpointed at 3), resumed and crashed after 7 (state at 4), resumed again
    expect_ok "$meth --stop-after 3" $UL --stop-after 3 --out "$W/u_${meth}_stop"
    log_steps "$W/u_${meth}_stop/unlearn_log.jsonl" 2
    crash_at 7 $UL --resume --out "$W/u_${meth}_stop"
    log_steps "$W/u_${meth}_stop/unlearn_log.jsonl" 2 4 6
    expect_ok "$meth resumed after stop and crash" $UL --resume --out "$W/u_${meth}_stop"
    log_steps "$W/u_${meth}_stop/unlearn_log.jsonl" $GRID
    same_losses "$W/u_${meth}_full/unlearn_log.jsonl" "$W/u_${meth}_stop/unlearn_log.jsonl"
    same_weights "$W/u_${meth}_full" "$W/u_${meth}_stop"
done

# --- unlearning killed from outside (kill -9) once its log passes the checkpoint of step 5 -------
UL="$LETHE unlearn --model $W/parent --forget trouser --method ga --batch 2 --steps 40 --log-every 1 --checkpoint-every 5 --threads 1"
expect_ok "ga 40 steps uninterrupted" $UL --out "$W/k_full"
$UL --out "$W/k_part" >/dev/null 2>&1 &
pid=$!
for _ in $(seq 1 6000); do   # up to a minute
    n=$(grep -c . "$W/k_part/unlearn_log.jsonl" 2>/dev/null); [ "${n:-0}" -ge 7 ] && break
    kill -0 $pid 2>/dev/null || break
    sleep 0.01
done
kill -9 $pid 2>/dev/null; wait $pid 2>/dev/null
n=$(grep -c . "$W/k_part/unlearn_log.jsonl" 2>/dev/null)
[ "${n:-0}" -lt 40 ] || echo "note: the kill -9 came after the last step; the checks below prove less"
expect_ok "ga resumed after kill -9" $UL --resume --out "$W/k_part"
log_steps "$W/k_part/unlearn_log.jsonl" $(seq 1 40)
same_losses "$W/k_full/unlearn_log.jsonl" "$W/k_part/unlearn_log.jsonl"
same_weights "$W/k_full" "$W/k_part"

echo "$n_ok ok, $n_bad failed"
[ $n_bad -eq 0 ]
