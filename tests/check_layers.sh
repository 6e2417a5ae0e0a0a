#!/usr/bin/env bash
# check_layers.sh: the folders of src/ only point down. An `#include "DIR/..."` in
# src/FOLDER/ is allowed when DIR is FOLDER or a lower layer:
#   core < ops, io < nn, optim, data < diffusion < eval, unlearn < api < cli
# (folders of one layer do not include each other). Prints every upward or sideways
# arrow and fails if there is one.
# check_layers.sh --self-test: shows that an upward include in a scratch tree is caught.
set -u
self=$(readlink -f "$0")
if [ "${1:-}" = --self-test ]; then
    t=$(mktemp -d); trap 'rm -rf "$t"' EXIT
    mkdir -p "$t/src/core" "$t/src/cli"
    echo '#include "core/x.h"' >"$t/src/cli/ok.c"
    (cd "$t" && bash "$self" --root . >/dev/null) || { echo "self-test: a clean tree failed"; exit 1; }
    echo '#include "cli/cli.h"' >"$t/src/core/up.c"
    (cd "$t" && bash "$self" --root . | grep -q "upward include (core -> cli)") && { echo "self-test: caught"; exit 0; }
    echo "self-test: an upward include was not caught"; exit 1
fi
[ "${1:-}" = --root ] || cd "$(dirname "$0")/.."
grep -rn '^[[:space:]]*#[[:space:]]*include "' src --include='*.c' --include='*.h' --include='*.cu' | awk '
BEGIN {
    split("core:0 ops:1 io:1 nn:2 optim:2 data:2 diffusion:3 eval:4 unlearn:4 api:5 cli:6", kv, " ")
    for (i in kv) { split(kv[i], p, ":"); lv[p[1]] = p[2] }
}
{
    split($0, f, "/"); from = f[2]
    if (!match($0, /#[ \t]*include "[a-z_]+\//)) next
    inc = substr($0, RSTART, RLENGTH); sub(/.*"/, "", inc); sub(/\/$/, "", inc); to = inc
    n++
    if (from == to) next
    if (!(from in lv) || !(to in lv)) { print "unknown folder in: " $0 " (add it to tests/check_layers.sh)"; bad++ }
    else if (lv[to] >= lv[from]) { print "upward include (" from " -> " to "): " $0; bad++ }
}
END { printf "%d includes checked, %d pointing up or sideways\n", n, bad; exit bad > 0 }'
