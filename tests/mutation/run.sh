#!/usr/bin/env bash
# Mutation-test the runtime core (runtime/, steps/, the status table), the expression evaluator
# and the SQL query module against the fast tests (tests/unit), in a copy of the committed tree
# (see README.md). Usage:
#   bash tests/mutation/run.sh            # in $MUTATION_DIR (default /tmp/ruvon-mutation)
# Needs mutmut in the virtualenv (pip install -e '.[dev]').
set -euo pipefail
root=$(git -C "$(dirname "$0")" rev-parse --show-toplevel)
work=${MUTATION_DIR:-/tmp/ruvon-mutation}
if [ "$(realpath -m "$work")" = "$(realpath "$root")" ]; then
    echo "MUTATION_DIR must not be the checkout" >&2
    exit 2
fi
rm -rf "$work"
mkdir -p "$work"
git -C "$root" archive HEAD | tar -x -C "$work"
cp "$root/tests/mutation/setup.cfg" "$work/setup.cfg"
cd "$work"
start=$(date +%s)
"$root/.venv/bin/mutmut" run --max-children "${MUTATION_JOBS:-2}" || true
echo "mutmut run took $(($(date +%s) - start)) s in $work"
"$root/.venv/bin/mutmut" results --all true >results.txt
awk -F': ' 'NF == 2 { n[$2]++; total++ }
    END {
        if (!total) { print "no mutant was tested"; exit 1 }
        for (k in n) printf "%6d %s\n", n[k], k
        printf "score: %.1f %% of %d mutants killed\n", 100 * (n["killed"] + n["timeout"]) / total, total
    }' results.txt
