#!/usr/bin/env bash
# test_unlearn_options.sh: `lethe unlearn`'s options come from one declaration per option
# (src/unlearn/loop.c and each method's file):
# - docs/unlearning.md's option tables are the generated ones (`lethe unlearn --options-markdown`);
#   after changing an option, regenerate them with: bash tests/cli/test_unlearn_options.sh --write
# - the old spellings (--alpha, --gamma, --lambda) still work and give the same model and
#   the same lethe.json "arguments" as the new names (--retain-weight, --sid-alpha, ...);
# - an option of another method is a usage error naming the methods that use it;
# - --help lists every method's options, --method NAME --help only that method's.
set -u
LETHE=${LETHE:-build/lethe}
DOC=docs/unlearning.md
BEGIN='<!-- BEGIN options: generated'
END='<!-- END options -->'
generated() { awk -v b="$BEGIN" -v e="$END" 'index($0, e) == 1 {p = 0} p {print} index($0, b) == 1 {p = 1}' "$DOC"; }
if [ "${1:-}" = --write ]; then   # replace the generated part of the doc by the binary's
    md=$(mktemp)
    $LETHE unlearn --options-markdown >"$md" || exit 1
    awk -v b="$BEGIN" -v e="$END" -v md="$md" \
        'index($0, e) == 1 {p = 0} !p {print} index($0, b) == 1 {p = 1; while ((getline l < md) > 0) print l}' \
        "$DOC" >"$DOC.new" && mv "$DOC.new" "$DOC"
    rm -f "$md"
    exit 0
fi
W=$(mktemp -d /tmp/lethe_unlearn_options_XXXXXX)
trap 'rm -rf "$W"' EXIT
. "$(dirname "$0")/lib.sh"

# ---- the doc's generated tables ----------------------------------------------------------
$LETHE unlearn --options-markdown >"$W/md" 2>"$W/err" && [ -s "$W/md" ] && ok || bad "--options-markdown"
generated >"$W/doc"
[ -s "$W/doc" ] && ok || bad "$DOC has no generated options section ($BEGIN ... $END)"
if diff -u "$W/doc" "$W/md" >"$W/diff"; then ok; else
    bad "$DOC's option tables differ from lethe unlearn --options-markdown (regenerate: bash $0 --write)"
    head -n 40 "$W/diff"
fi

# ---- help ---------------------------------------------------------------------------------
$LETHE unlearn --help 2>"$W/help" >/dev/null && ok || bad "unlearn --help"
for flag in --retain-weight --negative-guidance --sid-alpha --replay-weight --ewc-weight --stability-weight \
    --mask-fraction --surrogate --t-init --checkpoints "also --alpha" "also --gamma" "also --lambda"; do
    grep -q -- "$flag" "$W/help" && ok || bad "--help does not list $flag"
done
$LETHE unlearn --method esd --help 2>"$W/help_esd" >/dev/null && ok || bad "unlearn --method esd --help"
grep -q -- "--negative-guidance X" "$W/help_esd" && ! grep -q -- "--retain-weight" "$W/help_esd" && grep -q -- "--steps N" "$W/help_esd" \
    && ok || bad "--method esd --help: the loop's options and esd's only"

# ---- old and new spellings: same model, same provenance -------------------------------------
$LETHE train --steps 2 --batch 4 --warmup 1 --out "$W/parent" >/dev/null 2>&1 || bad "train the parent"
UL="$LETHE unlearn --model $W/parent --forget trouser --steps 1 --batch 2"
same_run() {  # NAME METHOD "OLD FLAGS" "NEW FLAGS": both runs give one model and one "arguments"
    local name=$1 m=$2
    if $UL --method "$m" $3 --out "$W/${name}_old" >/dev/null 2>"$W/err" &&
        $UL --method "$m" $4 --out "$W/${name}_new" >/dev/null 2>"$W/err"; then ok; else bad "$name: exit $?"; cat "$W/err"; return; fi
    cmp -s "$W/${name}_old/unet/diffusion_pytorch_model.safetensors" "$W/${name}_new/unet/diffusion_pytorch_model.safetensors" \
        && ok || bad "$name: the old and the new spelling give different weights"
    python3 - "$W/${name}_old/lethe.json" "$W/${name}_new/lethe.json" "$5" "$6" <<'PY' && ok || bad "$name: lethe.json arguments differ"
import json, sys
a, b = (json.load(open(p))["arguments"] for p in sys.argv[1:3])
assert a == b, (a, b)
assert a[sys.argv[3]] == float(sys.argv[4]), a
assert "alpha" not in a and "gamma" not in a and "lambda" not in a, a
PY
}
same_run ga ga "--alpha 0.5" "--retain-weight 0.5" retain_weight 0.5
same_run sa sa "--gamma 0.5 --lambda 2 --fisher-samples 2 --replay-samples 4" \
    "--replay_weight 0.5 --ewc-weight=2 --fisher-samples 2 --replay-samples 4" ewc_weight 2
same_run sfd sfd "--alpha 1.5" "--sid-alpha 1.5" sid_alpha 1.5
# an old shared spelling given before --method takes that method's meaning
$UL --alpha 1.5 --method sfd --out "$W/sfd_before" >/dev/null 2>&1 && ok || bad "--alpha before --method"
cmp -s "$W/sfd_old/unet/diffusion_pytorch_model.safetensors" "$W/sfd_before/unet/diffusion_pytorch_model.safetensors" \
    && ok || bad "--alpha before --method sfd is not --sid-alpha"

# ---- an option of another method ------------------------------------------------------------
run_code() { "$@" >/dev/null 2>"$W/err"; echo $?; }
[ "$(run_code $UL --method esd --mask-fraction 0.3 --out "$W/x")" = 2 ] && grep -q "used by salun, spare" "$W/err" \
    && ok || { bad "esd --mask-fraction: a usage error naming salun, spare"; cat "$W/err"; }
expect_fail "--alpha with finetune" "--alpha is not an option of --method finetune; it is used by ga, esd, salun, spare, sfd" \
    $UL --method finetune --alpha 1 --out "$W/x"
expect_fail "--gamma before --method ga" "--gamma is not an option of --method ga; it is used by sa, vdu" \
    $UL --gamma 1 --method ga --out "$W/x"
# --precision: fp32|bf16 are the GEMMs' (every method); vdu's anchor values go to --anchor-precision
expect_fail "--precision fisher with ga" "--precision is not an option of --method ga; it is used by vdu" \
    $UL --method ga --precision fisher --out "$W/x"
expect_fail "--precision fp16" "--precision must be fp32 or bf16" $UL --method ga --precision fp16 --out "$W/x"
expect_fail "a bad value of an old spelling" "--alpha: 'much' is not a valid number" $UL --method ga --alpha much --out "$W/x"
expect_fail "an unknown option" "unknown option '--retain-wieght'" $UL --method ga --retain-wieght 1 --out "$W/x"
expect_fail "a switch with a value" "--resume takes no value" $UL --method ga --resume=1 --out "$W/x"
[ ! -e "$W/x" ] && ok || bad "a refused command wrote its output folder"

echo "test_unlearn_options.sh: $n_ok passed, $n_bad failed"
[ $n_bad -eq 0 ]
