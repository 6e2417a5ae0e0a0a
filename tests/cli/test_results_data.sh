#!/usr/bin/env bash
# test_results_data.sh: the committed evaluation reports reproduce the tables in docs/results.md.
# docs/data/shirt_reference/ holds each model's `lethe eval` report and lethe.json; merged by
# bench/merge_eval.py and tabulated by bench/unlearn_table.py, away from the repository (no model
# folder reachable), every row must be the one printed in docs/results.md's shirt table.
set -u
W=$(realpath "$(mktemp -d /tmp/lethe_results_XXXXXX)")
trap 'rm -rf "$W"' EXIT
. "$(dirname "$0")/lib.sh"
ROOT=$(realpath "$(dirname "$0")/../..")
D=$ROOT/docs/data/shirt_reference
rows="parent retrain finetune ga esd esd-x salun sa vdu spare sfd"

parts=()
for k in $rows; do
    [ -f "$D/$k.json" ] && [ -f "$D/$k.lethe.json" ] && ok || bad "$D/$k.json or its .lethe.json missing"
    parts+=("$D/$k.json")
done
(cd "$W" && python3 "$ROOT/bench/merge_eval.py" eval.json "${parts[@]}" && \
    python3 "$ROOT/bench/unlearn_table.py" eval.json shirt >table.md) 2>"$W/err" && ok || { bad "merge/tabulate failed"; cat "$W/err"; }

# the table's rows (| ... |), from the report and from the shirt section of docs/results.md
grep '^| ' "$W/table.md" | grep -v '^| method\|^|---' >"$W/made"
awk '/^## Forgetting `shirt` on the reference parent/{f=1; next} f && /^## /{exit} f' "$ROOT/docs/results.md" |
    grep '^| ' | grep -v '^| method\|^|---' >"$W/doc"
[ "$(wc -l <"$W/made")" -eq 11 ] && ok || bad "the merged table has $(wc -l <"$W/made") rows, not 11"
diff "$W/doc" "$W/made" >"$W/diff" && ok || { bad "docs/results.md's shirt table differs from the committed reports:"; cat "$W/diff"; }

echo "test_results_data.sh: $n_ok passed, $n_bad failed"
[ $n_bad -eq 0 ]
