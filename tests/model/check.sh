#!/bin/sh
# tests/model/check.sh [--deep] <model>: checks tests/model/<model>.pml with
# spin, once per configuration listed below: spin -a generates the verifier
# (pan.c) in a temporary folder, the C compiler builds it (-O1, since the
# compile takes longer than most searches; -DSAFETY: assertions and invalid
# end states; -DCOLLAPSE: state compression), and pan explores every state.
# A configuration passes when pan reports "errors: 0" after a complete
# search. An `xfail` configuration models a known bug and must keep failing
# (its trail shows the bug); when the runtime is fixed, the model follows
# and the line becomes `pass`.
#
# --deep (or FT_MODEL_DEEP=1) adds larger configurations (a minute or more).
# SPIN and CC name the programs (default: spin, cc). Exit status 0 when every
# configuration behaved as listed.
set -eu

deep=${FT_MODEL_DEEP:-0}
if [ "${1:-}" = "--deep" ]; then
    deep=1
    shift
fi
if [ $# -ne 1 ]; then
    echo "usage: $0 [--deep] mutex|brc|qsbr" >&2
    exit 2
fi
model=$1
here=$(cd "$(dirname "$0")" && pwd)
spin=${SPIN:-spin}
cc=${CC:-cc}
[ -f "$here/$model.pml" ] || { echo "check.sh: no model $here/$model.pml" >&2; exit 2; }

# <expectation> <spin -D flags>, one per line; `deep` lines only with --deep.
configs() {
    case $model in
    mutex)
        echo "pass -DNTHREADS=3 -DROUNDS=1"
        echo "pass -DNTHREADS=2 -DROUNDS=3"
        echo "pass -DNTHREADS=3 -DROUNDS=1 -DTIMEOUTS"
        echo "pass -DNTHREADS=2 -DROUNDS=3 -DTIMEOUTS"
        echo "deep -DNTHREADS=4 -DROUNDS=1"
        echo "deep -DNTHREADS=3 -DROUNDS=2"
        ;;
    brc)
        echo "pass -DNHANDED=2"
        echo "pass -DNHANDED=2 -DDETACHES=2"
        echo "pass -DNHANDED=1 -DNBORROW=1"
        echo "pass -DNHANDED=1 -DNGIVER=1 -DDETACHES=2"
        echo "pass -DNHANDED=0 -DNBORROW=1 -DREADER"
        echo "pass -DNHANDED=1 -DREADER"
        echo "deep -DNHANDED=2 -DNBORROW=1"
        echo "deep -DNHANDED=1 -DNGIVER=1 -DREADER"
        echo "deep -DNHANDED=2 -DNBORROW=1 -DDETACHES=2"
        ;;
    qsbr)
        echo "pass -DOPS=4"
        echo "pass -DOPS=4 -DEAGER"
        echo "pass -DOPS=3 -DADVANCER -DEAGER"
        # The rejected lazy goal, reached by another thread's advance (see
        # qsbr.pml): gc/qsbr.c no longer does this; the model must keep
        # finding the use-after-free it would cause.
        echo "xfail -DOPS=3 -DADVANCER"
        echo "deep -DOPS=6 -DADVANCER -DEAGER"
        ;;
    *)
        echo "check.sh: no configurations for $model" >&2
        exit 2
        ;;
    esac
}

work=$(mktemp -d "${TMPDIR:-/tmp}/ftrt-model-$model.XXXXXX")
trap 'rm -rf "$work"' EXIT INT TERM
cp "$here/$model.pml" "$work/"
cd "$work"

failed=0
configs > configs.txt
while read -r expect flags; do
    if [ "$expect" = deep ]; then
        [ "$deep" = 1 ] || continue
        expect=pass
    fi
    rm -f pan pan.* ./*.trail
    # Word splitting of $flags is intended: it holds several -D options.
    # shellcheck disable=SC2086
    if ! "$spin" $flags -a "$model.pml" > spin.log 2>&1 || [ ! -f pan.c ]; then
        echo "FAIL $model $flags: spin -a failed"
        cat spin.log
        failed=1
        continue
    fi
    if ! "$cc" -O1 -w -DSAFETY -DCOLLAPSE -o pan pan.c > cc.log 2>&1; then
        echo "FAIL $model $flags: compiling pan failed"
        cat cc.log
        failed=1
        continue
    fi
    start=$(date +%s)
    ./pan -m500000 > pan.log 2>&1 || true
    secs=$(( $(date +%s) - start ))
    states=$(sed -n 's/^ *\([0-9][0-9]*\) states, stored.*/\1/p' pan.log | head -n 1)
    if grep -q "max search depth too small" pan.log; then
        echo "FAIL $model $flags: search depth too small (incomplete search)"
        failed=1
    elif grep -q "errors: 0" pan.log; then
        if [ "$expect" = pass ]; then
            echo "ok   $model $flags: errors: 0, ${states:-?} states, ${secs}s"
        else
            echo "FAIL $model $flags: expected the known error, found none"
            echo "     (fixed? update the model and make this configuration pass)"
            failed=1
        fi
    elif grep -q "errors: [1-9]" pan.log; then
        if [ "$expect" = xfail ]; then
            echo "ok   $model $flags: known error reproduced, ${secs}s ($(grep -m1 '^pan:1:' pan.log || true))"
        else
            echo "FAIL $model $flags:"
            cat pan.log
            "$spin" $flags -t -p -g "$model.pml" 2>&1 | tail -n 60 || true
            failed=1
        fi
    else
        echo "FAIL $model $flags: no verdict from pan"
        cat pan.log
        failed=1
    fi
done < configs.txt
exit $failed
