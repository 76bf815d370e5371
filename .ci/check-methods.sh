#!/usr/bin/env bash
# A method is one file in src/sparsity/ plus one line in its registry
# (method_registry.c). Nothing else may list method kinds:
#  - src/ outside src/sparsity/ names no method at all (it reads the ops
#    table's properties: SPTI_METHOD_NEEDS_DATA, ...);
#  - examples/, bench/ (not its recorded results) and python/sparsetrain/ may name one method (a
#    default), never two or more on one line (a list, a switch, a table):
#    they ask the library (spt_method_count, spt_method_name, ...).
# Exits 1 listing every offending line.
set -u
cd "$(dirname "$0")/.."
names=$(grep -ho '\.name = "[a-z0-9_]*"' src/sparsity/*.c | sed 's/.*"\(.*\)"/\1/' | sort -u | tr '\n' '|')
names=${names%|}
bad=0
if out=$(grep -rnE '\bSPT_METHOD_[A-Z]+' src --include='*.[ch]' | grep -v '^src/sparsity/'); then
    echo "method kinds named outside src/sparsity/:"; echo "$out"; bad=1
fi
# Two method identifiers, or two quoted method names, on one line.
ids='SPT_METHOD_[A-Z]+.*SPT_METHOD_[A-Z]+'
quoted="[\"'](${names})[\"'].*[\"'](${names})[\"']"
piped="[\"'](${names})\|(${names})"
if out=$(grep -rnE "$ids|$quoted|$piped" examples bench python/sparsetrain --exclude-dir=results \
        --include='*.c' --include='*.h' --include='*.py' --include='*.sh' 2>/dev/null); then
    echo "lists of methods outside src/sparsity/ (ask the library instead):"; echo "$out"; bad=1
fi
[ $bad = 0 ] && echo "check-methods: no list of method kinds outside src/sparsity/"
exit $bad
