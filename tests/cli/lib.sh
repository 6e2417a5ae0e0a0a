# lib.sh: what the CLI test scripts share. Source it after setting W (the work folder).
#   ok / bad MSG               count a passed / failed check
#   expect_ok NAME CMD...      the command succeeds
#   expect_fail NAME PAT CMD...  exit 1 or 2 (not a signal) and stderr matching PAT
export LETHE_NO_PROGRESS=1
export XDG_DATA_HOME="$W/xdg-data"   # datasets a user installed (scripts/get_mnist.sh) do not change what a test finds
n_ok=0 n_bad=0
ok()  { n_ok=$((n_ok + 1)); }
bad() { n_bad=$((n_bad + 1)); echo "FAILED: $*"; }
expect_fail() {
    local name=$1 pat=$2; shift 2
    "$@" >"$W/out" 2>"$W/err"; local rc=$?
    if [ $rc -eq 0 ]; then bad "$name: succeeded, expected an error"; return; fi
    if [ $rc -gt 2 ]; then bad "$name: exit code $rc (crash?)"; cat "$W/err"; return; fi
    if ! grep -qE -- "$pat" "$W/err"; then bad "$name: message does not match /$pat/:"; cat "$W/err"; return; fi
    ok
}
expect_ok() {
    local name=$1; shift
    if "$@" >"$W/out" 2>"$W/err"; then ok; else bad "$name: exit $?"; cat "$W/err"; fi
}
