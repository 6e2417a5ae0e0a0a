#!/usr/bin/env bash
# Runs every test: the cmocka binaries in $BUILD/tests and the CLI scripts in tests/cli.
# Prints one line per suite and ends with "N passed, N failed".
set -u
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
export LETHE_NO_PROGRESS=1
passed=0 failed=0 failed_names=()
run() {  # name, command...
    local name=$1; shift
    local log; log=$(mktemp)
    local t0=$SECONDS
    if "$@" >"$log" 2>&1; then
        passed=$((passed + 1)); echo "PASS  $name ($((SECONDS - t0)) s)"
    else
        failed=$((failed + 1)); failed_names+=("$name"); echo "FAIL  $name ($((SECONDS - t0)) s)"; tail -n 40 "$log" | sed 's/^/    /'
    fi
    rm -f "$log"
}
run check_layers.sh bash -c 'tests/check_layers.sh && tests/check_layers.sh --self-test'
for t in "$BUILD"/tests/test_*; do
    [ -x "$t" ] || continue
    run "$(basename "$t")" "$t"
done
for s in tests/cli/test_*.sh; do
    [ -f "$s" ] || continue
    # make test-quick: everything but the statistical checks on real runs (minutes, not a quarter hour)
    if [ -n "${LETHE_QUICK:-}" ] && [ "$(basename "$s")" = test_sanity.sh ]; then
        echo "SKIP  test_sanity.sh (LETHE_QUICK: statistical checks skipped; make test runs them)"; continue
    fi
    run "$(basename "$s")" env LETHE="$BUILD/lethe" bash "$s"
done
echo
[ $failed -eq 0 ] || echo "failed: ${failed_names[*]}"
echo "$passed passed, $failed failed"
[ $failed -eq 0 ]
