#!/usr/bin/env bash
# check_layers.sh: the folders of src/ only point down. An `#include "DIR/..."` in
# src/FOLDER/ is allowed when DIR is FOLDER or a lower layer:
#   core < ops, io < nn, optim, data < diffusion < eval, unlearn < api < cli
# (folders of one layer do not include each other). Prints every upward or sideways
# arrow and fails if there is one.
# check_layers.sh --self-test: shows that an upward include in a scratch tree is caught.
set -u
if [ "${1:-}" = --self-test ]; then
    t=$(mktemp -d); trap 'rm -rf "$t"' EXIT
    mkdir -p "$t/src/core" "$t/src/cli"
    echo '#include "core/x.h"' >"$t/src/cli/ok.c"
    (cd "$t" && bash "$OLDPWD/$0" --root . >/dev/null) || { echo "self-test: a clean tree failed"; exit 1; }
    echo '#include "cli/cli.h"' >"$t/src/core/up.c"
    (cd "$t" && bash "$OLDPWD/$0" --root . | grep -q "upward include (core -> cli)") && { echo "self-test: caught"; exit 0; }
    echo "self-test: an upward include was not caught"; exit 1
fi
[ "${1:-}" = --root ] || cd "$(dirname "$0")/.."
level() {
    case $1 in
        core) echo 0 ;; ops | io) echo 1 ;; nn | optim | data) echo 2 ;; diffusion) echo 3 ;;
        eval | unlearn) echo 4 ;; api) echo 5 ;; cli) echo 6 ;; *) echo -1 ;;
    esac
}
bad=0 n=0
while IFS= read -r line; do
    file=${line%%:*}
    from=$(echo "$file" | cut -d/ -f2)
    to=$(echo "$line" | sed -n 's/.*#include "\([a-z_]*\)\/.*/\1/p')
    [ -n "$to" ] || continue
    n=$((n + 1))
    [ "$from" = "$to" ] && continue
    lf=$(level "$from") lt=$(level "$to")
    if [ "$lf" -lt 0 ] || [ "$lt" -lt 0 ]; then
        echo "unknown folder in: $line (add it to tests/check_layers.sh's layers)"; bad=$((bad + 1))
    elif [ "$lt" -ge "$lf" ]; then
        echo "upward include ($from -> $to): $line"; bad=$((bad + 1))
    fi
done < <(grep -rn '^[[:space:]]*#[[:space:]]*include "' src --include='*.c' --include='*.h' --include='*.cu')
echo "$n includes checked, $bad pointing up or sideways"
[ $bad -eq 0 ]
