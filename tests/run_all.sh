#!/usr/bin/env bash
# Runs every test: the cmocka binaries in $BUILD/tests and the CLI scripts in tests/cli.
# Prints one line per suite and ends with "N passed, N failed".
# LETHE_TEST_JOBS=N runs N suites at once (default 1): each in its own temporary folder and log,
# the longest first, OpenMP threads waiting passively so that the suites share the cores; a
# suite's line is printed when it ends.
set -u
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
JOBS=${LETHE_TEST_JOBS:-1}
export LETHE_NO_PROGRESS=1
[ "$JOBS" -gt 1 ] && export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}
names=() cmds=()
add() { names+=("$1"); cmds+=("$2"); }   # NAME, command line
# the long suites first, so that with several jobs the last to start are short
for s in test_sanity.sh test_eval.sh test_unlearn.sh test_models.sh test_resume.sh test_train_resume_options.sh \
         test_concept_unlearn.sh test_canvas_eval.sh; do
    [ "$JOBS" -gt 1 ] && [ -f "tests/cli/$s" ] && add "$s" "env LETHE=$BUILD/lethe bash tests/cli/$s"
done
add check_layers.sh "tests/check_layers.sh && tests/check_layers.sh --self-test"
for t in "$BUILD"/tests/test_*; do
    [ -x "$t" ] && add "$(basename "$t")" "$t"
done
for s in tests/cli/test_*.sh; do
    [ -f "$s" ] || continue
    case " ${names[*]} " in *" $(basename "$s") "*) continue ;; esac   # queued first above
    add "$(basename "$s")" "env LETHE=$BUILD/lethe bash $s"
done

D=$(mktemp -d /tmp/lethe_tests_XXXXXX)
trap 'rm -rf "$D"' EXIT
passed=0 failed=0 failed_names=()
start() {   # i: runs suite i in the background; its exit code and seconds go to $D/i.done
    local i=$1
    (
        t0=$SECONDS
        # make test-quick: everything but the statistical checks on real runs (minutes, not a quarter hour)
        if [ -n "${LETHE_QUICK:-}" ] && [ "${names[$i]}" = test_sanity.sh ]; then
            echo "skip" >"$D/$i.done"; exit 0
        fi
        bash -c "${cmds[$i]}" >"$D/$i.log" 2>&1
        echo "$? $((SECONDS - t0))" >"$D/$i.done"
    ) &
}
report() {   # i: the suite's line (and the tail of its log when it failed)
    local i=$1 rc secs
    read -r rc secs <"$D/$i.done"
    if [ "$rc" = skip ]; then
        echo "SKIP  ${names[$i]} (LETHE_QUICK: statistical checks skipped; make test runs them)"
    elif [ "$rc" = 0 ]; then
        passed=$((passed + 1)); echo "PASS  ${names[$i]} ($secs s)"
    else
        failed=$((failed + 1)); failed_names+=("${names[$i]}"); echo "FAIL  ${names[$i]} ($secs s)"
        tail -n 40 "$D/$i.log" | sed 's/^/    /'
    fi
}
next=0 running=()
while [ $next -lt ${#names[@]} ] || [ ${#running[@]} -gt 0 ]; do
    if [ $next -lt ${#names[@]} ] && [ ${#running[@]} -lt "$JOBS" ]; then
        start $next
        running+=($next)
        next=$((next + 1))
        continue
    fi
    wait -n 2>/dev/null || sleep 0.2
    still=()
    for i in "${running[@]}"; do
        if [ -f "$D/$i.done" ]; then report "$i"; else still+=("$i"); fi
    done
    running=("${still[@]+"${still[@]}"}")
done
wait
echo
[ $failed -eq 0 ] || echo "failed: ${failed_names[*]}"
echo "$passed passed, $failed failed"
[ $failed -eq 0 ]
